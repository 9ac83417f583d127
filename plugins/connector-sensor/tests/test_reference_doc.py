"""docs/connectors/ matches connector-sensor: its pages are what its declared fields generate (issue 12)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
GENERATOR = ROOT / "docs" / "gen_connector_reference.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_connector_reference", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_checked_in_pages_are_what_the_declarations_generate() -> None:
    generator = load_generator()
    assert generator.stale(generator.PAGES, "connector-sensor") == [], (
        "run python docs/gen_connector_reference.py"
    )


def test_a_stale_page_is_caught(tmp_path: Path) -> None:
    generator = load_generator()
    for name, text in generator.pages("connector-sensor").items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert generator.stale(tmp_path, "connector-sensor") == []
    page = tmp_path / "sensor.md"
    page.write_text(page.read_text().replace("| string |", "| text |", 1), encoding="utf-8")
    assert generator.stale(tmp_path, "connector-sensor") == [f"{page.name} is out of date"]
    page.unlink()
    assert generator.stale(tmp_path, "connector-sensor") == [f"{page.name} is missing"]
