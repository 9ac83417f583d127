"""The user-facing pages: every relative link resolves, and nothing installs an unpublished package by name.

connector-core and the first-party plugins are not on PyPI (issue 12): a page that says
``pip install connector-http`` sends a newcomer to an error, or to someone else's package. Commands in
the pages install them from a checkout (``./core``, ``./plugins/connector-http``) or built wheels.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        ROOT / "core" / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "plugins").glob("*/README.md"),
    ]
)
FIRST_PARTY = (
    "connector-core",
    "connector-http",
    "connector-sensor",
    "connector-flytekit",
    "connector-flyte",
)

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
_PIP = re.compile(r"^(?:\$ )?(?:python -m )?pip install (.*)$")
# A name not preceded by a path (./plugins/connector-http, dist/...): as pip would look it up on an index.
_BARE = re.compile(r"(?<![\w./-])[\"']?(" + "|".join(FIRST_PARTY) + r")(?![\w-])")


def relative(path: Path) -> str:
    """The page's path in the checkout (its name alone for a page elsewhere, as in the tests below)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation dropped, spaces as '-'."""
    prose = _FENCE.sub("", text)
    headings = re.findall(r"^#{1,6} (.+)$", prose, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def broken_links(page: Path) -> list[str]:
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            found.append(f"{relative(page)}: {target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination.read_text()):
            found.append(f"{relative(page)}: {target}: no such heading")
    return found


def bare_installs(text: str) -> list[str]:
    """The pip commands in fenced blocks that name a first-party distribution as if it were on PyPI."""
    found = []
    for _, body in _FENCE.findall(text):
        for line in body.splitlines():
            command = _PIP.match(line.strip())
            if command and _BARE.search(command[1]):
                found.append(line.strip())
    return found


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_no_page_installs_a_first_party_distribution_by_name(page: Path) -> None:
    assert bare_installs(page.read_text()) == []


def test_a_bare_install_is_caught_and_a_checkout_install_is_not() -> None:
    text = (
        "```sh\npip install connector-http\npython -m pip install './core[server]' ./plugins/connector-http\n"
        "python -m pip install dist/connector_core-0.1.0-py3-none-any.whl connector-my-service\n```\n"
        '```console\n$ pip install "connector-core[server]" connector-foo\nError: ... pip install x\n```\n'
    )
    assert bare_installs(text) == [
        "pip install connector-http",
        '$ pip install "connector-core[server]" connector-foo',
    ]


def test_a_broken_link_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, here\n")
    page.write_text(
        "[ok](other.md#a-code-heading-here) [gone](missing.md) [bad](other.md#nowhere) [web](https://x.org/y)\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md: no such file",
        "page.md: other.md#nowhere: no such heading",
    ]
