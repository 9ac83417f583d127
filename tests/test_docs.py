"""docs/authoring.md keeps up with the code: its hook reference matches hookspecs.py exactly."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from connector import hookspecs

ROOT = Path(__file__).resolve().parents[1]
AUTHORING = ROOT / "docs" / "authoring.md"
GENERATOR = ROOT / "docs" / "gen_hook_reference.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_hook_reference", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def declared_hookspecs() -> dict[str, inspect.Signature]:
    """Every function in hookspecs.py marked as a hookspec, found by its marker, not by ALL_HOOKS."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return {
        name: inspect.signature(value)
        for name, value in vars(hookspecs).items()
        if inspect.isfunction(value) and hasattr(value, marker)
    }


def documented_signatures(text: str) -> dict[str, str]:
    """Hook name -> the signature in its ```python block, for each `### \\`name\\`` of the reference."""
    start, end = text.index("<!-- hook-reference:start"), text.index("<!-- hook-reference:end -->")
    reference = text[start:end]
    found = {}
    for match in re.finditer(r"^### `(\w+)`\n.*?```python\n(.*?)```", reference, flags=re.S | re.M):
        found[match[1]] = match[2].strip()
    return found


def reference_problems(text: str) -> list[str]:
    """What is wrong with the reference in ``text``: missing hooks, extra hooks, differing signatures."""
    specs = declared_hookspecs()
    documented = documented_signatures(text)
    problems = [
        f"hookspec {name!r} is missing from the reference" for name in sorted(set(specs) - set(documented))
    ]
    problems += [
        f"the reference documents {name!r}, which is not a hookspec"
        for name in sorted(set(documented) - set(specs))
    ]
    for name in sorted(set(specs) & set(documented)):
        function = ast.parse(documented[name] + ": ...").body[0]
        assert isinstance(function, ast.FunctionDef)
        shown = [(a.arg, ast.unparse(a.annotation) if a.annotation else None) for a in function.args.args]
        actual = [(p.name, str(p.annotation)) for p in specs[name].parameters.values()]
        returns = ast.unparse(function.returns) if function.returns else None
        if shown != actual or returns != str(specs[name].return_annotation):
            problems.append(f"the signature of {name!r} in the reference differs from hookspecs.py")
    return problems


def test_every_hookspec_is_in_the_reference_with_its_exact_signature() -> None:
    assert set(declared_hookspecs()) == set(hookspecs.ALL_HOOKS)
    assert reference_problems(AUTHORING.read_text()) == []


def test_the_reference_is_what_the_generator_writes() -> None:
    generator = load_generator()
    assert generator.current(AUTHORING.read_text()) == generator.render()


def test_the_generator_check_passes_on_the_committed_doc() -> None:
    result = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_missing_hook_is_caught() -> None:
    text = AUTHORING.read_text()
    without_get_logs = re.sub(r"### `get_logs`.*?(?=### `get_metrics`)", "", text, flags=re.S)
    assert reference_problems(without_get_logs) == ["hookspec 'get_logs' is missing from the reference"]


def test_a_changed_signature_is_caught() -> None:
    text = AUTHORING.read_text().replace(
        "def delete(resource_meta: ResourceMeta, connection: Connection)",
        "def delete(resource_meta: ResourceMeta)",
    )
    assert reference_problems(text) == [
        "the signature of 'delete' in the reference differs from hookspecs.py"
    ]


def test_a_changed_annotation_is_caught() -> None:
    text = AUTHORING.read_text().replace("    token: str,\n", "    token: bytes,\n", 1)
    text = text.replace("token: str, connection", "token: bytes, connection", 1)
    assert reference_problems(text) == [
        "the signature of 'get_logs' in the reference differs from hookspecs.py"
    ]


def test_an_extra_hook_is_caught() -> None:
    text = AUTHORING.read_text().replace(
        "<!-- hook-reference:end -->",
        "### `get_secrets`\n\n```python\ndef get_secrets() -> None\n```\n\n<!-- hook-reference:end -->",
    )
    assert reference_problems(text) == ["the reference documents 'get_secrets', which is not a hookspec"]


def test_the_generator_check_fails_on_a_stale_doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = load_generator()
    stale = tmp_path / "authoring.md"
    stale.write_text(AUTHORING.read_text().replace("Report the state of a job", "Report the job"))
    monkeypatch.setattr(generator, "DOC", stale)
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0  # regenerates
    assert stale.read_text() == AUTHORING.read_text()


def test_python_examples_in_the_guide_are_valid_python() -> None:
    text = AUTHORING.read_text()
    guide = text[: text.index("<!-- hook-reference:start")]
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    assert len(blocks) >= 5
    for block in blocks:
        ast.parse(block)
