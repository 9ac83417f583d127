"""docs/architecture.md's module map names every module of core/src/connector, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "core" / "src" / "connector"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def modules() -> set[str]:
    """Every module as the map spells it: ``_model.py``, ``registry/_calls.py`` (templates are no modules)."""
    return {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")}


def mapped(text: str) -> set[str]:
    """The modules in the map's tables: the first cell of each row under a ``###`` heading of the map.

    The heading names the package (``### `registry/`: ...``; the contract's is ``connector/``, the root).
    """
    start = text.index("## Module map")
    end = text.index("\n## ", start + 1)
    found: set[str] = set()
    package = ""
    for line in text[start:end].splitlines():
        heading = re.match(r"### (?:The contract \()?`([a-z_]+)/`", line)
        if heading:
            package = "" if heading[1] == "connector" else f"{heading[1]}/"
            continue
        cell = re.match(r"\| `([\w.]+\.py)` \|", line)
        if cell:
            found.add(package + cell[1])
    return found


def problems(text: str) -> list[str]:
    documented = mapped(text)
    return [
        *(
            f"{name} is missing from the module map of docs/architecture.md"
            for name in sorted(modules() - documented)
        ),
        *(
            f"docs/architecture.md maps {name}, which does not exist"
            for name in sorted(documented - modules())
        ),
    ]


def test_every_module_is_in_the_map() -> None:
    assert problems(ARCHITECTURE.read_text()) == []


def test_the_map_is_read() -> None:
    """The parser finds rows of every package, so an empty reading cannot pass."""
    documented = mapped(ARCHITECTURE.read_text())
    assert {
        "_model.py",
        "registry/_calls.py",
        "runner/_journal.py",
        "server/_status.py",
        "cli/_new.py",
    } <= documented
    assert {"testing/_contract.py", "__init__.py", "server/__init__.py"} <= documented


def test_a_missing_module_is_caught() -> None:
    text = ARCHITECTURE.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `_journal.py` |"))
    assert problems(text.replace(row + "\n", "")) == [
        "runner/_journal.py is missing from the module map of docs/architecture.md"
    ]


def test_a_module_that_is_gone_is_caught() -> None:
    text = ARCHITECTURE.read_text().replace(
        "| `_serve.py` |", "| `_gone.py` | a module that was removed |\n| `_serve.py` |"
    )
    assert problems(text) == ["docs/architecture.md maps cli/_gone.py, which does not exist"]
