"""A property: no forged sensor meta imports a module, fails internally, or looks outside the roots.

The metas are JSON documents, plain as flytekit's service writes them or in our envelope, whose
four fields hold hostile values: module names of the standard
library, of a sentinel module that records its import, of the sample sensors (none allowed here),
and flytekit's FileSensor with paths of every kind. They go through the core's call layer, as the
service calls a connector; an exception is mapped with the core's own ``status_for``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from connector_sensor import FILE_SENSOR_MODULE, FILE_SENSOR_NAME, Sensor
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from touched import Touched

import connector
from connector.registry._calls import run_blocking
from connector.server._status import status_for
from connector.testing import registry_of

SENTINEL = "connector_sensor_forged_meta_sentinel"
ROOT, OUTSIDE = "<root>", "<outside>"
MODULES = [
    SENTINEL, f"{SENTINEL}.sub", "os", "subprocess", "builtins", "importlib", "sensor_samples",
    FILE_SENSOR_MODULE, "flytekit.sensor", "flytekit", "", ".", "..os", "os:system",
]  # fmt: skip
NAMES = ["Sentinel", "system", "Popen", "MarkerSensor", "FileSensor", "", "__import__", "SENSOR"]
PATHS = st.one_of(
    st.sampled_from(
        [
            f"{ROOT}/ready", f"{ROOT}/link/secret", f"{ROOT}/../outside/secret", f"{OUTSIDE}/secret",
            "/etc/shadow", "~/secret", "relative", f"{ROOT}/*", f"file://{ROOT}/%2e%2e/outside/secret",
            "memory://bucket/ok", "memory://other/x", "ftp://127.0.0.1:21/x", "memory://bucket/x::ftp://h/",
        ]
    ),
    st.text(max_size=12),
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
INPUTS = st.one_of(
    st.none(),
    st.fixed_dictionaries({"path": PATHS}),
    st.fixed_dictionaries({"path": PATHS}, optional={"extra": JSON}),
    st.dictionaries(st.text(max_size=5), JSON, max_size=3),
    JSON,
)


@st.composite
def forged_data(draw: st.DrawFn) -> dict[str, Any]:
    data = {
        "sensor_module": draw(st.sampled_from(MODULES) | st.text(max_size=10) | JSON),
        "sensor_name": draw(st.sampled_from(NAMES) | st.text(max_size=10) | JSON),
        "sensor_config": draw(JSON),
        "inputs": draw(INPUTS),
    }
    for key in draw(st.sets(st.sampled_from(sorted(data)), max_size=1)):
        del data[key]
    return data


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path, Path]]:
    """The root, a directory outside it, and a sentinel module (outside too) that records an import."""
    root, outside, modules = tmp_path / "root", tmp_path / "outside", tmp_path / "modules"
    for folder in (root, outside, modules):
        folder.mkdir()
    (root / "ready").write_text("")
    (outside / "secret").write_text("")
    (root / "link").symlink_to(outside)
    marker = tmp_path / "imported"
    source = f"open({str(marker)!r}, 'w').close()\n\nclass Sentinel:\n    def poke(self): return True\n"
    (modules / f"{SENTINEL}.py").write_text(source)
    monkeypatch.syspath_prepend(str(modules))
    monkeypatch.setenv("CONNECTOR_SENSOR_ROOTS", f"{root}{os.pathsep}memory://bucket/")
    monkeypatch.setenv("HOME", str(outside))
    yield root, outside, marker
    sys.modules.pop(SENTINEL, None)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=forged_data(), plain=st.booleans())
@example(
    data={"sensor_module": SENTINEL, "sensor_name": "Sentinel", "sensor_config": None, "inputs": {}},
    plain=True,
)
@example(data={"sensor_module": "os", "sensor_name": "system", "inputs": {"command": "id"}}, plain=True)
@example(
    data={
        "sensor_module": FILE_SENSOR_MODULE,
        "sensor_name": FILE_SENSOR_NAME,
        "inputs": {"path": "/etc/shadow"},
    },
    plain=True,
)
@example(
    data={
        "sensor_module": FILE_SENSOR_MODULE,
        "sensor_name": FILE_SENSOR_NAME,
        "inputs": {"path": f"{ROOT}/link/secret"},
    },
    plain=False,
)
@example(
    data={
        "sensor_module": FILE_SENSOR_MODULE,
        "sensor_name": FILE_SENSOR_NAME,
        "inputs": {"path": "ftp://127.0.0.1:21/x"},
    },
    plain=False,
)
def test_a_forged_sensor_meta_imports_nothing_and_never_looks_outside(
    data: dict[str, Any], plain: bool, world: tuple[Path, Path, Path], touched: Touched
) -> None:
    root, outside, marker = world
    # As flytekit's service writes a meta (plain JSON, read at a switch-over), or as ours does.
    document = data if plain else {"v": 1, "data": data}
    text = json.dumps(document).replace(ROOT, str(root)).replace(OUTSIDE, str(outside))
    calls = connector.ConnectorCalls(registry_of(Sensor()).get("sensor"))
    touched.clear()
    with touched.recording():
        try:
            meta = calls.decode_meta(text.encode())
        except connector.ResourceMetaError:
            meta = None  # the service answers it INVALID_ARGUMENT
        for operation, call in (("get", calls.get), ("delete", calls.delete)):
            if meta is None:
                break
            try:
                run_blocking(call(meta))
            except Exception as exc:
                status = status_for(exc, operation=operation, target="task type sensor@0")
                assert status.code is grpc.StatusCode.INVALID_ARGUMENT, f"{operation}: {status.message}"
    assert SENTINEL not in sys.modules
    assert not marker.exists()
    assert touched.outside(root) == [], data
    assert all(url.startswith("memory://bucket/") for url in touched.urls), (touched.urls, data)
    assert touched.connections == [], data
