"""Imports with a time limit, and containment of anything a plugin raises while it loads (issue 8).

Loading runs in a daemon thread: an import that hangs marks its connector broken after
``import_timeout`` seconds and is abandoned; any ``BaseException`` raised at import or by the
constructor marks it broken with the message; the other connectors load either way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from connector import (
    ConnectorLoadError,
    ConnectorRegistry,
    ConnectorState,
    Phase,
    RegistrySettings,
    Resource,
    SyncConnector,
)
from connector.registry._imports import DaemonCall, in_daemon_thread
from tests.support.records import CountingLoader, fake_record
from tests.support.venvs import ROOT


class Echo(SyncConnector):
    """Echoes its inputs."""

    name = "Echo"

    def do(self, inputs: dict[str, Any]) -> Resource:
        return Resource(Phase.SUCCEEDED, outputs=dict(inputs))


class CustomInterrupt(BaseException):
    """A BaseException of the plugin's own."""


KINDS = [
    (KeyboardInterrupt("pressed at import"), "KeyboardInterrupt: pressed at import"),
    (KeyboardInterrupt(), "KeyboardInterrupt"),
    (SystemExit(3), "SystemExit: 3"),
    (GeneratorExit("closed at import"), "GeneratorExit: closed at import"),
    (CustomInterrupt("a custom BaseException"), "CustomInterrupt: a custom BaseException"),
]
IDS = ["keyboard-interrupt", "bare-keyboard-interrupt", "system-exit", "generator-exit", "custom"]


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An event a hung import waits on; set at the end so no test leaves a thread behind."""
    event = threading.Event()
    yield event
    event.set()
    for thread in threading.enumerate():
        if thread.name.startswith("connector-import"):
            thread.join(10)


def _wait(event: threading.Event) -> None:
    event.wait()


def _import_thread(name: str) -> threading.Thread:
    (thread,) = [t for t in threading.enumerate() if t.name == f"connector-import {name}"]
    return thread


# The time limit.


def test_an_import_that_does_not_finish_in_time_is_broken_and_the_others_load(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    hung = CountingLoader(Echo, before=lambda: _wait(gate))
    registry = ConnectorRegistry(
        [fake_record("hang", hung, value="connector_hang:Hang"), fake_record("echo", Echo)],
        settings=RegistrySettings(import_timeout=0.3),
    )
    message = (
        "connector-x 1.0, entry point 'hang' (connector_hang:Hang): import did not finish in 0.3 s; "
        "fix the plugin's import, or raise the limit with CONNECTOR_IMPORT_TIMEOUT (seconds)"
    )
    with caplog.at_level(logging.WARNING, logger="connector"):
        entries = registry.load_all()
    assert [(e.entry_point, e.state, e.error) for e in entries] == [
        ("echo", ConnectorState.LOADED, None),
        ("hang", ConnectorState.BROKEN, message),
    ]
    with pytest.raises(ConnectorLoadError) as info:
        registry.get("hang")
    assert (str(info.value), info.value.entry_point, info.value.distribution) == (
        message,
        "hang",
        "connector-x",
    )
    # Abandoned, not stopped: a daemon thread, which cannot keep the process from exiting.
    thread = _import_thread("hang@0")
    assert thread.is_alive()
    assert thread.daemon
    (record,) = caplog.records
    assert record.getMessage().startswith(
        f"connector hang@0 is broken: {message}\nits import thread is at:\n"
    )
    assert "in __call__" in record.getMessage()  # the loader's frame, where it hangs

    # When it finishes after all, nothing changes: the connector stays broken, and is not imported again.
    gate.set()
    thread.join(10)
    with pytest.raises(ConnectorLoadError) as again:
        registry.get("hang")
    assert again.value is info.value
    assert hung.calls == 1


def test_the_time_limit_covers_the_constructor(gate: threading.Event) -> None:
    class Slow(Echo):
        def __init__(self) -> None:
            gate.wait()

    registry = ConnectorRegistry([fake_record("slow", Slow)], settings=RegistrySettings(import_timeout=0.2))
    with pytest.raises(ConnectorLoadError, match=r"\): import did not finish in 0.2 s; "):
        registry.get("slow")


def test_an_import_within_the_limit_loads() -> None:
    registry = ConnectorRegistry([fake_record("echo", Echo)], settings=RegistrySettings(import_timeout=30))
    assert registry.get("echo").name == "Echo"


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to its own process")
def test_ctrl_c_while_waiting_interrupts_the_wait_and_the_next_get_waits_for_the_same_import(
    gate: threading.Event,
) -> None:
    started = threading.Event()

    def import_until_the_gate_opens() -> None:
        started.set()
        gate.wait()

    loader = CountingLoader(Echo, before=import_until_the_gate_opens)
    registry = ConnectorRegistry([fake_record("echo", loader)], settings=RegistrySettings(import_timeout=60))
    main = threading.main_thread()
    assert threading.current_thread() is main

    def press_ctrl_c() -> None:
        started.wait(10)
        # Once the main thread waits for the import in DaemonCall.wait (not while it starts it).
        for _ in range(1000):
            if _waits_for_a_daemon_call(sys._current_frames().get(main.ident or -1)):
                break
            threading.Event().wait(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        presser = threading.Thread(target=press_ctrl_c)
        presser.start()
        with pytest.raises(KeyboardInterrupt):
            registry.get("echo")
        presser.join(10)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert registry.entry(registry.categories()[0]).state is ConnectorState.AVAILABLE
    gate.set()
    assert registry.get("echo").name == "Echo"
    assert loader.calls == 1  # the interrupted import was waited for, not started again


def _waits_for_a_daemon_call(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "wait" and frame.f_code.co_filename.endswith("_imports.py"):
            return True
        frame = frame.f_back
    return False


# Anything a plugin raises while it loads.


@pytest.mark.parametrize(("raised", "what"), KINDS, ids=IDS)
def test_any_base_exception_at_import_marks_only_that_connector_broken(
    raised: BaseException, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ConnectorRegistry([fake_record("quitter", raised), fake_record("echo", Echo)])
    with caplog.at_level(logging.WARNING, logger="connector"), pytest.raises(ConnectorLoadError) as info:
        registry.get("quitter")
    assert str(info.value) == (
        "connector-x 1.0, entry point 'quitter' (pkg.quitter:Target): "
        f"importing pkg.quitter:Target raised {what}"
    )
    assert info.value.__cause__ is raised
    assert registry.get("echo").name == "Echo"
    assert [(e.entry_point, e.state) for e in registry.load_all()] == [
        ("echo", ConnectorState.LOADED),
        ("quitter", ConnectorState.BROKEN),
    ]
    assert [r.getMessage() for r in caplog.records] == [f"connector quitter@0 is broken: {info.value}"]


@pytest.mark.parametrize(("raised", "what"), KINDS, ids=IDS)
def test_any_base_exception_from_the_constructor_marks_it_broken(raised: BaseException, what: str) -> None:
    class Refuse(Echo):
        def __init__(self) -> None:
            raise raised

    registry = ConnectorRegistry([fake_record("refuse", Refuse), fake_record("echo", Echo)])
    with pytest.raises(ConnectorLoadError) as info:
        registry.get("refuse")
    assert str(info.value) == (
        f"connector-x 1.0, entry point 'refuse' (pkg.refuse:Target): constructing "
        f"{Refuse.__qualname__} raised {what}"
    )
    assert info.value.__cause__ is raised
    assert registry.get("echo").name == "Echo"


# The helpers.


def test_a_daemon_call_returns_or_raises_what_its_function_did() -> None:
    call = DaemonCall(lambda: 42, name="connector-test answer")
    assert call.wait(30)
    assert call.result() == 42
    assert call.stack() == "" or not call.thread.is_alive()

    def fail() -> None:
        raise ValueError("bad value")

    failing = DaemonCall(fail, name="connector-test fail")
    assert failing.wait(30)
    with pytest.raises(ValueError, match=r"^bad value$"):
        failing.result()


@pytest.mark.parametrize(("raised", "what"), KINDS, ids=IDS)
def test_a_daemon_call_hands_other_base_exceptions_over_as_runtime_errors(
    raised: BaseException, what: str
) -> None:
    def fail() -> None:
        raise raised

    call = DaemonCall(fail, name="connector-test fail")
    assert call.wait(30)
    with pytest.raises(RuntimeError) as info:
        call.result()
    assert str(info.value) == f"a call in a daemon thread raised {what}"
    assert info.value.__cause__ is raised


def test_a_daemon_call_that_does_not_finish_is_abandoned(gate: threading.Event) -> None:
    call = DaemonCall(gate.wait, name="connector-import test")
    assert not call.wait(0.05)
    assert call.thread.daemon
    assert "in wait" in call.stack()
    with pytest.raises(RuntimeError, match=r"^connector-import test has not finished$"):
        call.result()


def test_in_daemon_thread_runs_the_call_off_the_loop_in_a_daemon_thread() -> None:
    def where() -> tuple[str, bool]:
        return threading.current_thread().name, threading.current_thread().daemon

    name, daemon = asyncio.run(in_daemon_thread(where))
    assert (name, daemon) == (f"connector-call {where.__qualname__}", True)

    def fail(text: str) -> None:
        raise ValueError(text)

    with pytest.raises(ValueError, match=r"^bad value$"):
        asyncio.run(in_daemon_thread(fail, "bad value"))


@pytest.mark.parametrize(
    ("raised", "what"),
    [*KINDS, (StopIteration("done"), "StopIteration: done")],
    ids=[*IDS, "stop-iteration"],
)
def test_in_daemon_thread_never_lets_a_base_exception_reach_the_loop(
    raised: BaseException, what: str
) -> None:
    def fail() -> None:
        raise raised

    async def main() -> BaseException | None:
        try:
            await in_daemon_thread(fail)
        except RuntimeError as exc:
            return exc
        return None

    contained = asyncio.run(main())
    assert str(contained) == f"a call in a daemon thread raised {what}"
    assert contained is not None
    assert contained.__cause__ is raised


def test_asyncio_run_does_not_wait_for_an_abandoned_daemon_thread(gate: threading.Event) -> None:
    # asyncio.to_thread here would keep asyncio.run from returning until the gate opens (issue 8).
    threads: list[threading.Thread] = []

    def hang() -> None:
        threads.append(threading.current_thread())
        gate.wait()

    async def main() -> None:
        task = asyncio.ensure_future(in_daemon_thread(hang))
        while not threads:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(main())
    assert threads[0].is_alive()  # asyncio.run returned while the call still runs
    gate.set()
    threads[0].join(10)


# What `connector serve` imports before it serves (issue 13): the cold start pays for nothing else.

SERVE_IMPORTS = """
import json, os, sys
from connector.cli import main
from connector.server._service import ConnectorService

bind = ConnectorService.start

async def start(self):
    await bind(self)
    # The port is bound and no connector has started loading: report what serve imported so far.
    print(json.dumps(sorted(sys.modules)), flush=True)
    os._exit(0)

ConnectorService.start = start
main(["serve", "--port", "0", "--prometheus-port", "off"])
"""


def test_serve_imports_neither_the_runner_nor_the_journal_before_it_serves() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SERVE_IMPORTS], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout.splitlines()[-1]))
    assert {"connector.server._service", "grpc"} <= modules  # it did get as far as the service
    unused = {
        "sqlite3",
        "connector.runner",
        "connector.cli._run",
        "connector.cli._jobs",
        # list/show/check's module (rich tables, docstrings): serve's table needs only cli._entries.
        "connector.cli._inspect",
        "connector.cli._docstrings",
        "connector._secrets",
        "connector._refs",
        "grpc_reflection.v1alpha.reflection",  # imported on the first reflection call
        "rich",
        "yaml",
        # Hook names come from connector._hooks; pluggy comes with the first connector built.
        "pluggy",
        "connector.hookspecs",
        "connector.registry._loaded",
    }
    assert sorted(modules & unused) == []


def test_the_registry_and_the_hook_names_import_without_pluggy() -> None:
    # pluggy, the hook specifications and LoadedConnector are needed once a connector loads, which
    # the service does after its port is bound.
    code = (
        "import json, sys\n"
        "import connector._hooks, connector.cli._inspect, connector.registry._registry\n"
        "import connector.registry._validation\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout))
    assert sorted(modules & {"pluggy", "connector.hookspecs", "connector.registry._loaded"}) == []


def test_reflection_registers_grpcio_reflections_own_service_name() -> None:
    # The name is spelled out so that grpcio-reflection is imported only on the first reflection call.
    from grpc_reflection.v1alpha import reflection

    from connector.server._reflection import V1ALPHA_SERVICE_NAME

    assert reflection.SERVICE_NAME == V1ALPHA_SERVICE_NAME
