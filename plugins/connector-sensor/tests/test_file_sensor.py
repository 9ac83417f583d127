"""file_sensor: local paths, globs, fsspec URLs, and its timeout on a fake clock."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest
from connector_sensor import FileSensor, FileSensorMeta, parse_timeout

import connector
from connector.testing import FakeClock, LifecycleDriver

Phase = connector.Phase


def raises_exactly(message: str) -> pytest.RaisesExc[ValueError]:
    """``pytest.raises(ValueError)`` whose message must be exactly ``message``."""
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


@pytest.fixture
def sensor(connector_clock: FakeClock) -> FileSensor:
    return FileSensor(clock=connector_clock)


@pytest.fixture
def driver(sensor: FileSensor, connector_lifecycle: Callable[..., LifecycleDriver]) -> LifecycleDriver:
    return connector_lifecycle(sensor, poll_interval=5)


@pytest.fixture
def memory_fs() -> Iterator[fsspec.AbstractFileSystem]:
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    yield fs
    fs.store.clear()


def test_an_existing_file_succeeds_at_the_first_poll(driver: LifecycleDriver, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x")
    lifecycle = driver.run(inputs={"path": str(tmp_path / "a.csv")})
    assert lifecycle.polls == 1
    assert lifecycle.final.phase is Phase.SUCCEEDED
    assert lifecycle.final.message == f"{str(tmp_path / 'a.csv')!r} exists"
    assert lifecycle.final.custom_info == {"matches": [str(tmp_path / "a.csv")]}


def test_a_glob_lists_its_matches(driver: LifecycleDriver, tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", "c.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.csv").write_text("")
    resource = driver.run(driver.template({"path": str(tmp_path / "**" / "*.csv")})).final
    assert resource.phase is Phase.SUCCEEDED
    assert resource.custom_info == {"matches": [str(tmp_path / n) for n in ("a.csv", "b.csv", "sub/d.csv")]}
    assert resource.message == f"3 path(s) match {str(tmp_path / '**' / '*.csv')!r}"


def test_the_input_wins_over_the_custom_field(driver: LifecycleDriver, tmp_path: Path) -> None:
    (tmp_path / "input").write_text("")
    meta = driver.create(driver.template({"path": "/nowhere"}), inputs={"path": str(tmp_path / "input")})
    assert isinstance(meta, FileSensorMeta)
    assert meta.path == str(tmp_path / "input")


def test_a_file_url_is_a_local_path(driver: LifecycleDriver, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    assert driver.run(inputs={"path": f"file://{tmp_path}/f"}).final.phase is Phase.SUCCEEDED


def test_a_file_url_is_percent_decoded_and_may_name_localhost(
    driver: LifecycleDriver, tmp_path: Path
) -> None:
    (tmp_path / "a b").write_text("")
    for url in (f"file://{tmp_path}/a%20b", f"file://localhost{tmp_path}/a%20b"):
        resource = driver.run(inputs={"path": url}).final
        assert resource.phase is Phase.SUCCEEDED
        assert resource.custom_info == {"matches": [str(tmp_path / "a b")]}


def test_a_file_url_of_another_host_is_refused(driver: LifecycleDriver) -> None:
    with raises_exactly(
        "file_sensor: 'file://fileserver/share/x' names the host 'fileserver'; a file:// URL must be "
        "local (file:///path)"
    ):
        driver.create(inputs={"path": "file://fileserver/share/x"})


def test_a_home_path_is_expanded(
    driver: LifecycleDriver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "marker").write_text("")
    assert driver.run(inputs={"path": "~/marker"}).final.phase is Phase.SUCCEEDED


def test_it_waits_until_the_file_appears(
    driver: LifecycleDriver, connector_clock: FakeClock, tmp_path: Path
) -> None:
    target = tmp_path / "later"
    meta = driver.create(driver.template({"timeout": 60}), inputs={"path": str(target)})
    connector_clock.advance(12)
    running = driver.get(meta)
    assert running.phase is Phase.RUNNING
    assert running.message == f"waiting for {str(target)!r} (12s of 60s)"
    target.write_text("")
    assert driver.get(meta).phase is Phase.SUCCEEDED


def test_it_fails_at_its_timeout_without_sleeping(
    driver: LifecycleDriver, connector_clock: FakeClock
) -> None:
    lifecycle = driver.run(driver.template({"path": "/no/such/file", "timeout": "1m"}))
    assert lifecycle.final.phase is Phase.FAILED
    assert lifecycle.final.message == "file_sensor timed out after 60s: nothing matches '/no/such/file'"
    # Polled every 5 s on the fake clock: at 0, 5, ..., 60 s.
    assert lifecycle.polls == 13
    assert connector_clock.elapsed == 60
    assert [r.phase for r in lifecycle.resources[:-1]] == [Phase.RUNNING] * 12


def test_without_a_timeout_it_keeps_waiting(driver: LifecycleDriver, connector_clock: FakeClock) -> None:
    meta = driver.create(inputs={"path": "/no/such/file"})
    connector_clock.advance(10 * 86400)
    resource = driver.get(meta)
    assert resource.phase is Phase.RUNNING
    assert resource.message == "waiting for '/no/such/file' (864000s)"


def test_the_timeout_counts_from_create_in_another_process(connector_clock: FakeClock) -> None:
    """A second connector instance (another replica) reads the creation time from the meta bytes."""
    first = LifecycleDriver(FileSensor(clock=connector_clock))
    encoded = first.create(first.template({"path": "/absent", "timeout": 30})).encode()
    connector_clock.advance(29)
    replica = LifecycleDriver(FileSensor(clock=connector_clock))
    assert replica.get(FileSensorMeta.decode(encoded)).phase is Phase.RUNNING
    connector_clock.advance(1)
    assert replica.get(FileSensorMeta.decode(encoded)).phase is Phase.FAILED


def test_an_fsspec_url_is_polled(driver: LifecycleDriver, memory_fs: fsspec.AbstractFileSystem) -> None:
    meta = driver.create(inputs={"path": "memory://bucket/data/part-0.parquet"})
    assert driver.get(meta).phase is Phase.RUNNING
    memory_fs.pipe("/bucket/data/part-0.parquet", b"x")
    resource = driver.get(meta)
    assert resource.phase is Phase.SUCCEEDED
    assert resource.custom_info == {"matches": ["memory://bucket/data/part-0.parquet"]}


def test_an_fsspec_glob_lists_matches(driver: LifecycleDriver, memory_fs: fsspec.AbstractFileSystem) -> None:
    memory_fs.pipe("/bucket/out/b.json", b"{}")
    memory_fs.pipe("/bucket/out/a.json", b"{}")
    memory_fs.pipe("/bucket/out/c.txt", b"")
    resource = driver.run(inputs={"path": "memory://bucket/out/*.json"}).final
    assert resource.phase is Phase.SUCCEEDED
    assert resource.custom_info == {"matches": ["memory:///bucket/out/a.json", "memory:///bucket/out/b.json"]}


def test_an_fsspec_url_without_fsspec_says_how_to_install_it(
    driver: LifecycleDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)  # makes `import fsspec` raise ImportError
    with raises_exactly(
        "file_sensor: 's3://bucket/key' is an fsspec URL and fsspec is not installed; install it with: "
        "pip install 'connector-sensor[fsspec]'"
    ):
        driver.create(inputs={"path": "s3://bucket/key"})


def test_an_unknown_protocol_is_refused_at_create(driver: LifecycleDriver) -> None:
    with pytest.raises(
        ValueError, match=r"^file_sensor: cannot open 'nosuchfs://x': Protocol not known: nosuchfs$"
    ):
        driver.create(inputs={"path": "nosuchfs://x"})


def test_a_missing_path_is_refused(driver: LifecycleDriver) -> None:
    with raises_exactly("file_sensor needs a path: pass the input 'path' or set the custom field 'path'"):
        driver.create()


@pytest.mark.parametrize("path", ["", "   ", 5, ["/a"]])
def test_a_path_that_is_not_a_string_is_refused(driver: LifecycleDriver, path: object) -> None:
    with raises_exactly(f"file_sensor: the path must be a non-empty string; got {path!r}"):
        driver.create(inputs={"path": path})


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        (5, 5.0),
        (2.5, 2.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
    ],
)
def test_timeouts_parse(value: object, seconds: float | None) -> None:
    assert parse_timeout(value) == seconds


@pytest.mark.parametrize("value", ["soon", "5 minutes", "-3s", True, [1], "1w", math.nan, math.inf])
def test_a_timeout_that_is_not_a_duration_is_refused(value: object) -> None:
    with raises_exactly(
        "file_sensor: custom field 'timeout' must be seconds (a number) or a duration like "
        f"'90s', '5m', '2h' or '1d'; got {value!r}"
    ):
        parse_timeout(value)


@pytest.mark.parametrize("value", [0, -1, "0s"])
def test_a_timeout_that_is_not_positive_is_refused(value: object) -> None:
    with raises_exactly(f"file_sensor: custom field 'timeout' must be positive; got {value!r}"):
        parse_timeout(value)


def test_delete_is_a_no_op(driver: LifecycleDriver) -> None:
    meta = driver.create(inputs={"path": "/absent"})
    driver.delete(meta)
    driver.delete(meta)


def test_importing_the_plugin_does_not_import_fsspec() -> None:
    import subprocess

    code = "import connector_sensor, sys; print('fsspec' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
