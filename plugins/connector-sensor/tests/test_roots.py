"""The path policy (issue 9): CONNECTOR_SENSOR_ROOTS, refusals without an existence oracle, escapes, URLs."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from connector_sensor import (
    FileSensor,
    FileSensorMeta,
    PathNotAllowedError,
    SensorRequestError,
    SensorRoots,
    SensorRootsError,
)
from touched import Touched

import connector
from connector.server._status import status_for
from connector.testing import LifecycleDriver, registry_of

Phase = connector.Phase
TARGET = "task type file_sensor@0"


def outside_message(path: str) -> str:
    return (
        f"file_sensor: the path {path!r} is outside the roots it may watch; to allow it, add a directory "
        "or URL prefix that contains it to CONNECTOR_SENSOR_ROOTS"
    )


def grpc_code(exc: BaseException, operation: str = "create") -> str:
    return str(status_for(exc, operation=operation, target=TARGET).code.name)


@dataclasses.dataclass
class World:
    """A root the sensor may watch, a sibling directory it may not, and symlinks between them."""

    root: Path
    outside: Path


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "a.csv").write_text("")
    (root / "sub" / "b.csv").write_text("")
    (outside / "secret").write_text("x")
    (root / "link").symlink_to(outside)  # absolute target, out of the root
    (root / "rel").symlink_to(Path("..") / "outside" / "secret")  # relative target, out of the root
    (root / "inner").symlink_to(root / "sub")  # stays inside: allowed
    (root / "updown").symlink_to(Path("..") / "root" / "sub")  # leaves and comes back: allowed
    monkeypatch.setenv("CONNECTOR_SENSOR_ROOTS", str(root))
    return World(root, outside)


@pytest.fixture
def driver(world: World) -> LifecycleDriver:
    return LifecycleDriver(FileSensor())


def forged(path: str, timeout: float | None = None) -> FileSensorMeta:
    """A meta as a caller could send it back: never made by create."""
    return FileSensorMeta.decode(FileSensorMeta(path, 0.0, timeout).encode())


# The setting.


def test_the_roots_are_read_from_the_environment(tmp_path: Path) -> None:
    urls = ["s3://bucket/incoming/", "memory://m", "ftp://127.0.0.1:2121", "ftp://h:21/in/"]
    value = os.pathsep.join([str(tmp_path / "a"), urls[0], f"{tmp_path}/b/../c/", *urls[1:]])
    roots = SensorRoots.from_environment({"CONNECTOR_SENSOR_ROOTS": value})
    assert [root.path for root in roots.local] == [str(tmp_path / "a"), str(tmp_path / "c")]
    assert [str(prefix) for prefix in roots.urls] == [
        "s3://bucket/incoming/",
        "memory://m/",
        "ftp://127.0.0.1:2121/",
        "ftp://h:21/in/",
    ]


def test_a_file_url_and_a_home_root_are_local_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    roots = SensorRoots.parse(os.pathsep.join([f"file://{tmp_path}/x", "~/y"]))
    assert [root.path for root in roots.local] == [str(tmp_path / "x"), str(tmp_path / "y")]


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unset_or_blank_allows_nothing(value: str | None, tmp_path: Path) -> None:
    roots = SensorRoots.parse(value)
    with pytest.raises(PathNotAllowedError) as caught:
        roots.target(str(tmp_path), task="file_sensor", field="path")
    assert str(caught.value) == (
        f"file_sensor: the path {str(tmp_path)!r} is outside the roots it may watch "
        "(CONNECTOR_SENSOR_ROOTS is not set, so there are none); to allow it, set CONNECTOR_SENSOR_ROOTS "
        "to a directory or URL prefix that contains it"
    )


SEP = os.pathsep


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "data",
            "CONNECTOR_SENSOR_ROOTS: 'data' is neither an absolute directory nor a URL prefix; give absolute "
            f"directories (/data/incoming) and URL prefixes (s3://bucket/incoming/) separated by {SEP!r}",
        ),
        (
            f"/a{SEP}{SEP}/b",
            f"CONNECTOR_SENSOR_ROOTS has an empty entry (two {SEP!r} in a row, or one at an end) in "
            f"'/a{SEP}{SEP}/b'; list absolute directories and URL prefixes separated by {SEP!r}",
        ),
        (
            f"/a{SEP}",
            f"CONNECTOR_SENSOR_ROOTS has an empty entry (two {SEP!r} in a row, or one at an end) in "
            f"'/a{SEP}'; list absolute directories and URL prefixes separated by {SEP!r}",
        ),
        ("/data/*", "CONNECTOR_SENSOR_ROOTS: '/data/*' is a glob; a root is a directory"),
        (
            "ftp://user@host/",
            "CONNECTOR_SENSOR_ROOTS: 'ftp://user@host/' names a user; give credentials in fsspec's "
            "configuration, not in the root",
        ),
        (
            "s3://bucket/in?x",
            "CONNECTOR_SENSOR_ROOTS: 's3://bucket/in?x' has a query, a fragment or a glob character; a root "
            "is a plain prefix",
        ),
        ("s3://bucket/in/../x", "CONNECTOR_SENSOR_ROOTS: 's3://bucket/in/../x' has a '.' or '..' segment"),
        (
            "s3://",
            "CONNECTOR_SENSOR_ROOTS: 's3://' names no location, so it would allow nothing; list each bucket "
            "or host (s3://bucket/)",
        ),
        (
            "file://server/share",
            "CONNECTOR_SENSOR_ROOTS: 'file://server/share' names the host 'server'; a file:// root must be "
            "local",
        ),
    ],
)
def test_a_bad_setting_is_a_clear_error_naming_the_variable(value: str, message: str) -> None:
    with pytest.raises(SensorRootsError, match=f"^{re.escape(message)}$") as caught:
        SensorRoots.parse(value)
    assert caught.value.variable == "CONNECTOR_SENSOR_ROOTS"
    assert isinstance(caught.value, connector.ConfigurationError)


def test_a_bad_setting_makes_the_connector_broken_not_permissive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SENSOR_ROOTS", "relative/dir")
    registry = registry_of(entry_points={"file_sensor": FileSensor})
    with pytest.raises(
        connector.ConnectorLoadError, match="CONNECTOR_SENSOR_ROOTS: 'relative/dir'"
    ) as caught:
        registry.get("file_sensor")
    assert grpc_code(caught.value) == "FAILED_PRECONDITION"


# Outside the roots: refused at create and at get, the same whether or not the path exists.


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/no-such-file-for-the-sensor"])
def test_a_path_outside_the_roots_is_refused_whether_or_not_it_exists(
    driver: LifecycleDriver, path: str, touched: Touched
) -> None:
    with touched.recording(), pytest.raises(PathNotAllowedError) as at_create:
        driver.create(inputs={"path": path})
    with touched.recording(), pytest.raises(PathNotAllowedError) as at_get:
        driver.get(forged(path))
    for caught, operation in ((at_create, "create"), (at_get, "get")):
        assert str(caught.value) == outside_message(path)
        assert caught.value.path == path
        assert grpc_code(caught.value, operation) == "INVALID_ARGUMENT"
    assert at_create.value.field == "path"
    assert at_get.value.field == "resource_meta.path"
    assert touched.paths == []  # decided on the text: nothing outside was even looked at


def test_an_existing_and_a_missing_path_outside_get_the_same_answer(
    world: World, driver: LifecycleDriver
) -> None:
    answers = []
    for name in ("secret", "missing"):
        path = str(world.outside / name)
        with pytest.raises(PathNotAllowedError) as caught:
            driver.create(inputs={"path": path})
        answers.append(str(caught.value).replace(path, "<path>"))
    assert answers[0] == answers[1]


@pytest.mark.parametrize(
    "relative",
    [
        "../outside/secret",
        "sub/../../outside/secret",
        "sub/../../outside/*",
        "*/../../outside/secret",
        "./../outside/secret",
        "../root2/x",  # a sibling whose name starts like the root's
    ],
)
def test_dot_dot_cannot_escape(
    world: World, driver: LifecycleDriver, relative: str, touched: Touched
) -> None:
    path = f"{world.root}/{relative}"
    with (
        touched.recording(),
        pytest.raises(PathNotAllowedError, match=f"^{re.escape(outside_message(path))}$"),
    ):
        driver.create(inputs={"path": path})
    with (
        touched.recording(),
        pytest.raises(PathNotAllowedError, match=f"^{re.escape(outside_message(path))}$"),
    ):
        driver.get(forged(path))
    assert touched.paths == []


def test_dot_dot_that_stays_inside_is_allowed(world: World, driver: LifecycleDriver) -> None:
    assert driver.run(inputs={"path": f"{world.root}/sub/../a.csv"}).final.phase is Phase.SUCCEEDED


def test_a_percent_encoded_dot_dot_in_a_file_url_cannot_escape(world: World, driver: LifecycleDriver) -> None:
    url = f"file://{world.root}/%2e%2e/outside/secret"
    with pytest.raises(PathNotAllowedError, match=f"^{re.escape(outside_message(url))}$"):
        driver.create(inputs={"path": url})


@pytest.mark.parametrize("name", ["link/secret", "link/missing", "link", "rel", "link/*", "link/**/secret"])
def test_a_symlink_out_of_the_root_is_refused(
    world: World, driver: LifecycleDriver, name: str, touched: Touched
) -> None:
    path = f"{world.root}/{name}"
    with touched.recording(), pytest.raises(PathNotAllowedError) as at_create:
        driver.create(inputs={"path": path})
    with touched.recording(), pytest.raises(PathNotAllowedError) as at_get:
        driver.get(forged(path))
    for caught, operation in ((at_create, "create"), (at_get, "get")):
        assert str(caught.value) == outside_message(path)
        assert grpc_code(caught.value, operation) == "INVALID_ARGUMENT"
    # The link itself was read (it is in the root); where it leads was never looked at.
    assert touched.outside(world.root) == []


def test_a_glob_skips_symlinks_out_of_the_root(
    world: World, driver: LifecycleDriver, touched: Touched
) -> None:
    """``*/secret`` would match ``link/secret`` (in outside/): the link is skipped, the sensor waits."""
    meta = driver.create(inputs={"path": f"{world.root}/*/secret"})
    with touched.recording():
        assert driver.get(meta).phase is Phase.RUNNING
        assert driver.get(forged(f"{world.root}/**/secret")).phase is Phase.RUNNING
        assert driver.get(forged(f"{world.root}/?e?")).phase is Phase.RUNNING  # rel -> ../outside/secret
    assert touched.paths  # it did look, inside
    assert touched.outside(world.root) == []


@pytest.mark.parametrize("name", ["inner/b.csv", "updown/b.csv", "*/b.csv", "inner/*.csv"])
def test_a_symlink_that_stays_inside_is_followed(world: World, driver: LifecycleDriver, name: str) -> None:
    assert driver.run(inputs={"path": f"{world.root}/{name}"}).final.phase is Phase.SUCCEEDED


def test_a_root_given_through_a_symlink_allows_its_real_path_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x").write_text("")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    monkeypatch.setenv("CONNECTOR_SENSOR_ROOTS", str(tmp_path / "alias"))
    driver = LifecycleDriver(FileSensor())
    for path in (tmp_path / "alias" / "x", tmp_path / "real" / "x"):
        assert driver.run(inputs={"path": str(path)}).final.phase is Phase.SUCCEEDED


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "relative/x",
            "file_sensor: the path 'relative/x' is relative; give an absolute path, ~/..., a file:// URL or "
            "a URL of a filesystem fsspec knows",
        ),
        (
            "~root/.ssh",  # ~name is not expanded: looking the user up would tell whether they exist
            "file_sensor: the path '~root/.ssh' is relative; give an absolute path, ~/..., a file:// URL or "
            "a URL of a filesystem fsspec knows",
        ),
        ("/a\0b", "file_sensor: the path '/a\\x00b' contains a NUL character"),
        ("/a\ud800", "file_sensor: the path '/a\\ud800' has characters no file name can hold"),
    ],
)
def test_a_path_no_filesystem_call_can_take_is_refused(
    driver: LifecycleDriver, path: str, message: str
) -> None:
    with pytest.raises(SensorRequestError, match=f"^{re.escape(message)}$") as caught:
        driver.create(inputs={"path": path})
    assert grpc_code(caught.value) == "INVALID_ARGUMENT"


def test_home_is_expanded_and_then_checked(
    world: World, driver: LifecycleDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(world.outside))
    with pytest.raises(PathNotAllowedError, match=f"^{re.escape(outside_message('~/secret'))}$"):
        driver.create(inputs={"path": "~/secret"})


# URLs.


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/incoming/x",
        "s3://bucket/incoming",
        "S3://bucket/incoming/a/b*.csv",
        "s3://bucket/incoming//x",
    ],
)
def test_a_url_under_a_prefix_is_allowed(url: str) -> None:
    roots = SensorRoots.parse("s3://bucket/incoming/")
    assert roots.target(url, task="file_sensor").asked == url


@pytest.mark.parametrize(
    "url",
    [
        "s3://bucket/incomingx/y",  # whole segments only
        "s3://bucket/other/x",
        "s3://other/incoming/x",
        "s3a://bucket/incoming/x",  # another scheme, even if fsspec maps it to the same filesystem
        "gs://bucket/incoming/x",
        "s3://bucket@other/incoming/x",  # user info: the host is "other"
        "s3://other@bucket/incoming/x",
        "s3://bucket:443/incoming/x",  # a port is part of the location
        "s3://bucket\\@other/incoming/x",
        "s3://bucket?/incoming/x",
        "s3://bucket#/incoming/x",
        "s3:///bucket/incoming/x",
    ],
)
def test_a_url_outside_the_prefixes_is_refused(url: str) -> None:
    roots = SensorRoots.parse("s3://bucket/incoming/")
    with pytest.raises(PathNotAllowedError, match=f"^{re.escape(outside_message(url))}$"):
        roots.target(url, task="file_sensor", field="path")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "s3://bucket/incoming/../secret",
            "file_sensor: the URL 's3://bucket/incoming/../secret' has a '.' or '..' segment; name the "
            "object without them",
        ),
        (
            "s3://bucket/incoming/%2E%2E/secret",
            "file_sensor: the URL 's3://bucket/incoming/%2E%2E/secret' has a '.' or '..' segment; name the "
            "object without them",
        ),
        (
            "s3://bucket/incoming/%252e%252e/secret",
            "file_sensor: the URL 's3://bucket/incoming/%252e%252e/secret' has a '.' or '..' segment; name "
            "the object without them",
        ),
        (
            "s3://bucket/incoming/..%2Fsecret",
            "file_sensor: the URL 's3://bucket/incoming/..%2Fsecret' has a '.' or '..' segment; name the "
            "object without them",
        ),
        (
            "s3://bucket/incoming/x::ftp://127.0.0.1:21/y",
            "file_sensor: the URL 's3://bucket/incoming/x::ftp://127.0.0.1:21/y' chains filesystems with "
            "'::', which file_sensor does not allow",
        ),
    ],
)
def test_a_url_with_dot_segments_or_a_chain_is_refused(url: str, message: str) -> None:
    roots = SensorRoots.parse("s3://bucket/incoming/")
    with pytest.raises(SensorRequestError, match=f"^{re.escape(message)}$") as caught:
        roots.target(url, task="file_sensor", field="path")
    assert grpc_code(caught.value) == "INVALID_ARGUMENT"


@dataclasses.dataclass
class Listener:
    """A loopback TCP server that accepts and at once closes every connection, counting them."""

    port: int
    accepted: list[object]


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)  # so the thread sees `stop` (a blocked accept() ignores close())
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, address = server.accept()
            except TimeoutError:
                continue
            accepted.append(address)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield Listener(server.getsockname()[1], accepted)
    finally:
        stop.set()
        thread.join()
        server.close()


def test_an_ftp_url_to_any_host_and_port_is_refused_before_connecting(
    listener: Listener, monkeypatch: pytest.MonkeyPatch, touched: Touched
) -> None:
    port, other = listener.port, listener.port + 1
    monkeypatch.setenv("CONNECTOR_SENSOR_ROOTS", f"ftp://127.0.0.1:{other}/")
    driver = LifecycleDriver(FileSensor())
    urls = [
        f"ftp://127.0.0.1:{port}/x",
        f"ftp://127.0.0.1:{other}@127.0.0.1:{port}/x",  # the allowed location as a user name
        f"ftp://u:p@127.0.0.1:{port}/x",
        f"ftp://127.0.0.1:{other}/x::ftp://127.0.0.1:{port}/y",
        f"simplecache::ftp://127.0.0.1:{port}/x",
        f"ftp://127.0.0.1:{other}/../x",
    ]
    with touched.recording():
        for url in urls:
            with pytest.raises(SensorRequestError) as at_create:
                driver.create(inputs={"path": url})
            with pytest.raises(SensorRequestError) as at_get:
                driver.get(forged(url))
            assert grpc_code(at_create.value) == grpc_code(at_get.value, "get") == "INVALID_ARGUMENT"
    assert touched.connections == []
    assert touched.urls == []
    assert listener.accepted == []


def test_an_allowed_ftp_prefix_is_connected_to(listener: Listener, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the listener does see the connection when the prefix allows it."""
    monkeypatch.setenv("CONNECTOR_SENSOR_ROOTS", f"ftp://127.0.0.1:{listener.port}/")
    driver = LifecycleDriver(FileSensor())
    meta = driver.create(inputs={"path": f"ftp://127.0.0.1:{listener.port}/x"})
    with pytest.raises(Exception):  # noqa: B017, PT011 - the listener hangs up: any error will do
        driver.get(meta)
    assert len(listener.accepted) == 1
