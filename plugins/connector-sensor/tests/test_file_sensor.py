"""file_sensor: local paths, globs, fsspec URLs, and its timeout on a fake clock (roots: see conftest)."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import fsspec
import pytest
from connector_sensor import MAX_TIMEOUT, FileSensor, FileSensorMeta, SensorRoots, parse_timeout

import connector
from connector.server._status import status_for
from connector.testing import FakeClock, LifecycleDriver

Phase = connector.Phase


def raises_exactly(message: str) -> pytest.RaisesExc[connector.BadRequestError]:
    """``pytest.raises(BadRequestError)`` (INVALID_ARGUMENT) whose message must be exactly ``message``."""
    return pytest.raises(connector.BadRequestError, match=f"^{re.escape(message)}$")


def grpc_code(exc: BaseException, operation: str = "create") -> str:
    """The status code the service answers ``exc`` with, through the core's one mapping."""
    return str(status_for(exc, operation=operation, target="task type file_sensor@0").code.name)


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
    assert lifecycle.final.custom_info is None


@pytest.mark.parametrize("pattern", ["**/*.csv", "*.csv", "sub/*.csv", "s?b/d.csv", "[s]ub/d.csv"])
def test_a_glob_succeeds_without_listing_its_matches(
    driver: LifecycleDriver, tmp_path: Path, pattern: str
) -> None:
    for name in ("b.csv", "a.csv", "c.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.csv").write_text("")
    resource = driver.run(driver.template({"path": str(tmp_path / pattern)})).final
    assert resource.phase is Phase.SUCCEEDED
    assert resource.message == f"a path matches {str(tmp_path / pattern)!r}"
    assert resource.custom_info is None
    assert resource.outputs is None


def test_a_glob_with_no_match_keeps_waiting(driver: LifecycleDriver, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("")
    (tmp_path / ".hidden.csv").write_text("")  # as glob.glob: '*' does not match a leading dot
    meta = driver.create(inputs={"path": str(tmp_path / "*.csv")})
    assert driver.get(meta).phase is Phase.RUNNING


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
        assert resource.message == f"{url!r} exists"


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
    driver: LifecycleDriver, connector_clock: FakeClock, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no" / "such" / "file")
    lifecycle = driver.run(driver.template({"path": missing, "timeout": "1m"}))
    assert lifecycle.final.phase is Phase.FAILED
    assert lifecycle.final.message == f"file_sensor timed out after 60s: nothing matches {missing!r}"
    # Polled every 5 s on the fake clock: at 0, 5, ..., 60 s.
    assert lifecycle.polls == 13
    assert connector_clock.elapsed == 60
    assert [r.phase for r in lifecycle.resources[:-1]] == [Phase.RUNNING] * 12


def test_without_a_timeout_it_keeps_waiting(
    driver: LifecycleDriver, connector_clock: FakeClock, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no" / "such" / "file")
    meta = driver.create(inputs={"path": missing})
    connector_clock.advance(10 * 86400)
    resource = driver.get(meta)
    assert resource.phase is Phase.RUNNING
    assert resource.message == f"waiting for {missing!r} (864000s)"


def test_the_timeout_counts_from_create_in_another_process(
    connector_clock: FakeClock, tmp_path: Path
) -> None:
    """A second connector instance (another replica) reads the creation time from the meta bytes."""
    first = LifecycleDriver(FileSensor(clock=connector_clock))
    encoded = first.create(first.template({"path": str(tmp_path / "absent"), "timeout": 30})).encode()
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
    assert resource.message == "'memory://bucket/data/part-0.parquet' exists"
    assert resource.custom_info is None


@pytest.mark.parametrize("pattern", ["out/*.json", "**/a.json", "out/[ab].json", "*/a.json"])
def test_an_fsspec_glob_succeeds_without_listing_its_matches(
    driver: LifecycleDriver, memory_fs: fsspec.AbstractFileSystem, pattern: str
) -> None:
    memory_fs.pipe("/bucket/out/b.json", b"{}")
    memory_fs.pipe("/bucket/out/a.json", b"{}")
    memory_fs.pipe("/bucket/out/c.txt", b"")
    resource = driver.run(inputs={"path": f"memory://bucket/{pattern}"}).final
    assert resource.phase is Phase.SUCCEEDED
    assert resource.message == f"a path matches {'memory://bucket/' + pattern!r}"
    assert resource.custom_info is None


def test_an_fsspec_glob_with_no_match_keeps_waiting(
    driver: LifecycleDriver, memory_fs: fsspec.AbstractFileSystem
) -> None:
    memory_fs.pipe("/bucket/out/c.txt", b"")
    meta = driver.create(inputs={"path": "memory://bucket/out/*.json"})
    assert driver.get(meta).phase is Phase.RUNNING
    meta = driver.create(inputs={"path": "memory://bucket/nowhere/*.json"})
    assert driver.get(meta).phase is Phase.RUNNING


def test_an_fsspec_url_without_fsspec_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = LifecycleDriver(FileSensor(roots=SensorRoots.parse("s3://bucket/")))
    monkeypatch.setitem(sys.modules, "fsspec", None)  # makes `import fsspec` raise ImportError
    with raises_exactly(
        "file_sensor: 's3://bucket/key' is an fsspec URL and fsspec is not installed; install it with: "
        "pip install 'connector-sensor[fsspec]'"
    ):
        driver.create(inputs={"path": "s3://bucket/key"})


def test_an_unknown_protocol_is_refused_at_create() -> None:
    driver = LifecycleDriver(FileSensor(roots=SensorRoots.parse("nosuchfs://x/")))
    with pytest.raises(
        connector.BadRequestError,
        match=r"^file_sensor: cannot open 'nosuchfs://x': Protocol not known: nosuchfs$",
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


@pytest.mark.parametrize("value", ["365d", MAX_TIMEOUT, int(MAX_TIMEOUT)])
def test_the_longest_timeout_is_365_days(value: object) -> None:
    assert parse_timeout(value) == 365 * 86400


HUGE = pytest.param(10**5000, id="10**5000")  # too long for repr(): sys.get_int_max_str_digits()


@pytest.mark.parametrize("value", ["366d", "8761h", MAX_TIMEOUT + 1, 1e300, HUGE])
def test_a_timeout_over_365_days_is_refused(value: object) -> None:
    shown = "a number too long to print" if value == 10**5000 else repr(value)
    with raises_exactly(f"file_sensor: custom field 'timeout' must be at most 365d (31536000s); got {shown}"):
        parse_timeout(value)


@pytest.mark.parametrize(
    "value", ["soon", "5 minutes", "-3s", True, [1], "1w", math.nan, math.inf, -math.inf]
)
def test_a_timeout_that_is_not_a_duration_is_refused(value: object) -> None:
    with raises_exactly(
        "file_sensor: custom field 'timeout' must be seconds (a number) or a duration like "
        f"'90s', '5m', '2h' or '1d'; got {value!r}"
    ):
        parse_timeout(value)


@pytest.mark.parametrize("value", [0, -1, "0s", -0.5, pytest.param(-(10**5000), id="-10**5000")])
def test_a_timeout_that_is_not_positive_is_refused(value: object) -> None:
    shown = "a number too long to print" if value == -(10**5000) else repr(value)
    with raises_exactly(f"file_sensor: custom field 'timeout' must be positive; got {shown}"):
        parse_timeout(value)


@pytest.mark.parametrize(
    ("custom", "inputs"),
    [
        ({}, {}),
        ({"path": 5}, {}),
        ({}, {"path": ""}),
        ({"timeout": math.nan}, {"path": "/tmp"}),
        ({"timeout": -1}, {"path": "/tmp"}),
        ({"timeout": 10**30}, {"path": "/tmp"}),
        ({"timeout": "soon"}, {"path": "/tmp"}),
        ({}, {"path": "relative/path"}),
        ({}, {"path": "/etc/shadow"}),
        ({}, {"path": "file://host/x"}),
        ({}, {"path": "s3://bucket/../x"}),
    ],
)
def test_every_mistake_in_a_request_is_invalid_argument(
    driver: LifecycleDriver, tmp_path: Path, custom: dict[str, object], inputs: dict[str, object]
) -> None:
    inputs = {k: str(tmp_path) if v == "/tmp" else v for k, v in inputs.items()}
    with pytest.raises(connector.BadRequestError) as caught:
        driver.create(driver.template(custom), inputs=inputs)
    assert grpc_code(caught.value) == "INVALID_ARGUMENT"
    assert caught.value.field in ("path", "timeout")


def test_delete_is_a_no_op(driver: LifecycleDriver, tmp_path: Path) -> None:
    meta = driver.create(inputs={"path": str(tmp_path / "absent")})
    driver.delete(meta)
    driver.delete(meta)


def test_importing_the_plugin_does_not_import_fsspec() -> None:
    import subprocess

    code = "import connector_sensor, sys; print('fsspec' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


BAD_META_TIMEOUT = (
    "file_sensor: the resource meta's timeout must be a positive number of seconds, at most 31536000; got "
)


@pytest.mark.parametrize(
    ("created_at", "timeout", "message"),
    [
        (
            0.0,
            math.nan,
            BAD_META_TIMEOUT + "nan",
        ),
        (
            0.0,
            -5.0,
            BAD_META_TIMEOUT + "-5.0",
        ),
        (
            0.0,
            1e300,
            BAD_META_TIMEOUT + "1e+300",
        ),
        (
            math.inf,
            None,
            "file_sensor: the resource meta's created_at must be a finite number of seconds; got inf",
        ),
        (
            math.nan,
            5.0,
            "file_sensor: the resource meta's created_at must be a finite number of seconds; got nan",
        ),
    ],
)
def test_a_forged_meta_with_bad_numbers_is_invalid_argument(
    driver: LifecycleDriver, tmp_path: Path, created_at: float, timeout: float | None, message: str
) -> None:
    meta = FileSensorMeta(str(tmp_path), created_at, timeout)
    with raises_exactly(message) as caught:
        driver.get(meta)
    assert grpc_code(caught.value, "get") == "INVALID_ARGUMENT"
    assert caught.value.field in ("resource_meta.timeout", "resource_meta.created_at")
