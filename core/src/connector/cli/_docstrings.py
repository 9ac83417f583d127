"""Docstrings (reST or Google style) as plain text reflowed to a width, for ``connector show``."""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

_ROLE = re.compile(r"(?::[\w.+-]+)+:`([^`]*)`")
# Inline markup after roles, replaced in order: literals, links, emphasis, escapes.
_INLINE = [
    (re.compile(r"``(.+?)``"), r"\1"),
    (re.compile(r"`([^`<]+?)\s*<([^`>]+)>`__?"), r"\1 (\2)"),
    (re.compile(r"`([^`]+)`(?:__?)?"), r"\1"),
    (re.compile(r"(?<![\w*\\])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w*\\])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"), r"\1"),
    (re.compile(r"\\(.)"), r"\1"),
]
_BULLET = re.compile(r"([-*+•]|\d+[.)]|#\.|\(?[a-zA-Z0-9]\)|[a-zA-Z][.)])\s+\S")
_FIELD = re.compile(r":[^:`\s][^:`]*:(\s|$)")
_GOOGLE_ITEM = re.compile(r"\*{0,2}[\w.]+\*{0,2}(\s*\([^)]*\))?:(\s|$)")
_UNDERLINE = re.compile(r"([=\-~^\"'`#*+:._])\1{2,}\s*")
_DIRECTIVE = re.compile(r"\.\.\s+([\w:-]+)::\s*(.*)")
_COMMENT = re.compile(r"\.\.(\s|$)")
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode", "literalinclude", "highlight"}


def _role(match: re.Match[str]) -> str:
    """:role:`x` as x; `title <target>` as title; ``~pkg.mod.Name`` as Name (Sphinx's short form)."""
    content = match.group(1).lstrip("!")
    if content.endswith(">") and "<" in content:
        content = content[: content.rindex("<")].strip()
    if content.startswith("~"):
        content = content[1:].rsplit(".", 1)[-1]
    return content


def plain_inline(text: str) -> str:
    """``text`` with reST inline markup (``code``, :role:`x`, *emphasis*, links) shown as plain text."""
    text = _ROLE.sub(_role, text)
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text


@dataclass
class _Line:
    indent: int
    text: str


@dataclass
class _Block:
    """Lines to reflow together (``literal``: to keep as written)."""

    indent: int
    hanging: int = 0
    words: list[str] = field(default_factory=list)
    literal: list[str] | None = None


def render_docstring(doc: str, width: int | None) -> str:
    """``doc`` dedented, each paragraph and list item reflowed to ``width`` (``None``: one line each).

    Literal blocks (after ``::``, ``.. code-block::``, doctest ``>>>`` lines) and section titles are
    kept as written; bullet, enumerated, field and Google-style argument lists keep one item per
    line with a hanging indent; inline markup is shown as plain text. Words are never broken.
    """
    out: list[str] = []
    for block in _blocks(inspect.cleandoc(doc).expandtabs()):
        if block.literal is not None:
            out.extend(block.literal)
            continue
        # Markup is replaced once the lines are joined: a link or a literal may span two of them.
        text = plain_inline(" ".join(block.words))
        lead = " " * block.indent
        if width is None:
            out.append(lead + text)
            continue
        out.append(
            textwrap.fill(
                text,
                width=max(width, block.indent + block.hanging + 20),
                initial_indent=lead,
                subsequent_indent=lead + " " * block.hanging,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    # A comment or link target dropped between two paragraphs leaves two blank lines: keep one.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def _blocks(doc: str) -> Iterator[_Block]:
    lines = [_Line(len(raw) - len(raw.lstrip()), raw.strip()) for raw in doc.splitlines()]
    current: _Block | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else None
        title = (
            following is not None and following.indent == line.indent and _UNDERLINE.fullmatch(following.text)
        )
        directive = _DIRECTIVE.fullmatch(line.text)
        special = (
            not line.text or title or line.text.startswith(">>>") or directive or _COMMENT.match(line.text)
        )
        if special and current is not None:
            yield current
            current = None
        if not line.text:
            if index and lines[index - 1].text:
                yield _Block(0, literal=[""])
            index += 1
        elif title:
            yield _Block(0, literal=[" " * x.indent + x.text for x in lines[index : index + 2]])
            index += 2
        elif line.text.startswith(">>>"):  # a doctest runs to the next blank line
            end = index
            while end < len(lines) and lines[end].text:
                end += 1
            yield _Block(0, literal=[" " * x.indent + x.text for x in lines[index:end]])
            index = end
        elif directive is not None:
            name, argument = directive.group(1).split(":")[-1], directive.group(2)
            if name in _CODE_DIRECTIVES:
                end = _indented_end(lines, index + 1, line.indent)
                yield _Block(0, literal=_literal(lines[index + 1 : end]))
                index = end
            else:  # .. note:: text -> "Note: text", its body below it
                current = _Block(line.indent, hanging=4, words=[name.replace("-", " ").capitalize() + ":"])
                current.words.extend(argument.split())
                index += 1
        elif _COMMENT.match(line.text):  # a comment or a link target: not shown
            index = _indented_end(lines, index + 1, line.indent)
        else:
            current = yield from _add_line(current, line)
            index += 1
            if current.words and current.words[-1].endswith("::"):  # "Example::" then a literal block
                word = current.words.pop()[:-2]
                if word:
                    current.words.append(word + ":")
                yield current
                end = _indented_end(lines, index, current.indent)
                kept = _literal(lines[index:end])
                if kept:
                    yield _Block(0, literal=["", *kept])
                index = end
                current = None
    if current is not None:
        yield current


def _add_line(current: _Block | None, line: _Line) -> Generator[_Block, None, _Block]:
    """Yield ``current`` if ``line`` starts a new paragraph or item; return the block it belongs to."""
    marker = _marker(line, current)
    if current is not None and not marker:
        same_paragraph = not current.hanging and line.indent == current.indent
        same_item = current.hanging and line.indent > current.indent
        if same_paragraph or same_item:
            current.words.extend(line.text.split())
            return current
    if current is not None:
        yield current
    return _Block(line.indent, hanging=marker, words=line.text.split())


def _marker(line: _Line, current: _Block | None) -> int:
    """The hanging indent of a list item that ``line`` starts (0 when it starts none)."""
    bullet = _BULLET.match(line.text)
    if bullet is not None:
        return bullet.end() - 1
    if _FIELD.match(line.text):
        return 4
    # name (type): text -- an argument in a Google-style section, indented under its heading: the
    # first one deeper than the heading, the next ones level with the item before.
    if line.indent > 0 and _GOOGLE_ITEM.match(line.text):
        if current is None or line.indent == (current.indent if current.hanging else -1):
            return 4
        if not current.hanging and line.indent > current.indent:
            return 4
    return 0


def _indented_end(lines: list[_Line], start: int, indent: int) -> int:
    """The index after the lines from ``start`` that are blank or indented deeper than ``indent``."""
    end = start
    while end < len(lines) and (not lines[end].text or lines[end].indent > indent):
        end += 1
    while end > start and not lines[end - 1].text:
        end -= 1
    return end


def _literal(lines: list[_Line]) -> list[str]:
    content = [line for line in lines if line.text]
    if not content:
        return []
    base = min(line.indent for line in content)
    # Shown four spaces in, whatever the source's indent, with the relative indents kept.
    kept = ["    " + " " * (line.indent - base) + line.text if line.text else "" for line in lines]
    while kept and not kept[0]:
        kept.pop(0)
    return kept
