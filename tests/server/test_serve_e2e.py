"""``connector serve`` as a real process, with real plugin wheels installed into a throwaway virtualenv."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from flyteidl.admin import agent_pb2
from flyteidl.core import execution_pb2
from flyteidl2.connector import connector_pb2
from flyteidl2.core import security_pb2

from tests.server.conftest import (
    meta_json,
    v1_category,
    v1_inputs,
    v1_outputs,
    v1_template,
    v2_category,
    v2_inputs,
    v2_outputs,
    v2_template,
)
from tests.server.served import ADDRESS, Served, environ_for
from tests.support.venvs import Venv

pytestmark = pytest.mark.e2e


def test_every_rpc_of_both_protocols_against_installed_plugins(serve: Any, tmp_path: Path) -> None:
    served = serve()
    output = "\n".join(served.stdout)
    for category in ("filejob@0", "asleep@0", "syncecho@0", "asyncdo@2", "broken@0"):
        assert category in output
    assert "connector-svctest 1.0" in output

    # flyteidl v1
    created = served.v1.CreateTask(
        agent_pb2.CreateTaskRequest(
            template=v1_template("filejob", custom={"store": str(tmp_path)}), inputs=v1_inputs(x=3)
        )
    )
    category = v1_category("filejob")
    got = served.v1.GetTask(
        agent_pb2.GetTaskRequest(task_category=category, resource_meta=created.resource_meta)
    )
    assert got.resource.phase == execution_pb2.TaskExecution.SUCCEEDED
    assert v1_outputs(got.resource) == {"doubled": 6, "greeting": "hello world"}
    logs = list(
        served.v1.GetTaskLogs(
            agent_pb2.GetTaskLogsRequest(task_category=category, resource_meta=created.resource_meta)
        )
    )
    assert len([r for r in logs if r.HasField("body")]) == 3
    metrics = served.v1.GetTaskMetrics(
        agent_pb2.GetTaskMetricsRequest(
            task_category=category, resource_meta=created.resource_meta, queries=["cpu"]
        )
    )
    assert [r.metric for r in metrics.results] == ["cpu"]
    served.v1.DeleteTask(
        agent_pb2.DeleteTaskRequest(task_category=category, resource_meta=created.resource_meta)
    )
    header = agent_pb2.CreateRequestHeader(template=v1_template("syncecho"))
    requests = [
        agent_pb2.ExecuteTaskSyncRequest(header=header),
        agent_pb2.ExecuteTaskSyncRequest(inputs=v1_inputs(x=5)),
    ]
    (answer,) = served.v1_sync.ExecuteTaskSync(iter(requests))
    assert v1_outputs(answer.header.resource) == {"y": 10, "tag": ""}
    agents = {a.name: a for a in served.v1_meta.ListAgents(agent_pb2.ListAgentsRequest()).agents}
    assert set(agents) == {"File job connector", "Sleep connector", "Sync echo", "Async do"}
    assert agents["Sync echo"].is_sync
    assert (
        served.v1_meta.GetAgent(agent_pb2.GetAgentRequest(name="Async do"))
        .agent.supported_task_categories[0]
        .version
        == 2
    )

    # flyteidl2
    created = served.v2.CreateTask(
        connector_pb2.CreateTaskRequest(
            template=v2_template("filejob", custom={"store": str(tmp_path)}),
            inputs=v2_inputs(x=4),
            connection=security_pb2.Connection(secrets={"api_key": "k"}, configs={"endpoint": "e"}),
        )
    )
    category2 = v2_category("filejob")
    got = served.v2.GetTask(
        connector_pb2.GetTaskRequest(task_category=category2, resource_meta=created.resource_meta)
    )
    assert v2_outputs(got.resource)["doubled"] == 8
    assert list(got.resource.custom_info["secrets"]) == ["api_key"]
    logs = list(
        served.v2.GetTaskLogs(
            connector_pb2.GetTaskLogsRequest(task_category=category2, resource_meta=created.resource_meta)
        )
    )
    assert logs
    metrics = served.v2.GetTaskMetrics(
        connector_pb2.GetTaskMetricsRequest(
            task_category=category2, resource_meta=created.resource_meta, queries=["m"]
        )
    )
    assert [r.metric for r in metrics.results] == ["m"]
    served.v2.DeleteTask(
        connector_pb2.DeleteTaskRequest(task_category=category2, resource_meta=created.resource_meta)
    )
    listed = served.v2_meta.ListConnectors(connector_pb2.ListConnectorsRequest())
    assert {c.name for c in listed.connectors} == set(agents)
    assert served.v2_meta.GetConnector(
        connector_pb2.GetConnectorRequest(name="Sleep connector")
    ).connector.name

    # The broken plugin is isolated: FAILED_PRECONDITION with its reason, everything else served.
    with pytest.raises(grpc.RpcError) as info:
        served.v1.CreateTask(agent_pb2.CreateTaskRequest(template=v1_template("broken")))
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == (
        "connector-broken 0.3, entry point 'broken' (connector_broken:Connector): importing "
        "connector_broken:Connector raised ImportError: the warehouse SDK is missing"
    )

    assert served.stop() == 0
    log = "\n".join(served.stderr)
    assert "connector broken@0 is broken" in log
    assert "Traceback" in log  # the server log keeps the full detail the client does not get


# Runs its arguments with SIGINT at its default, as from a terminal (tests started in the
# background, as CI may start them, inherit SIGINT ignored). A launcher that execs, not preexec_fn:
# preexec_fn makes subprocess fork this process, in which gRPC's threads run, and gRPC's fork
# handlers can then crash the child before its exec ("epoll_wait error: Bad file descriptor",
# SIGABRT; grpc/grpc#43055).
_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_right_after_the_address_is_printed_exits_0(serve_venv: Venv, signum: int) -> None:
    # A supervisor may signal as soon as it reads the address; the handlers must already be there.
    connector = str(serve_venv.bin / "connector")
    process = subprocess.Popen(
        [sys.executable, "-c", _DEFAULT_SIGINT, connector, "serve", "--port", "0", "--prometheus-port", "0"],
        env=environ_for(serve_venv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if ADDRESS.match(line):
            break
    else:
        _, err = process.communicate(timeout=60)
        raise AssertionError(f"no address line (exit code {process.returncode}); stderr:\n{err}")
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert err.rstrip().endswith("INFO connector.server: stopped")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_the_call_in_flight_and_exits_0(serve: Any, tmp_path: Path, signum: int) -> None:
    served = serve()
    marker = tmp_path / "marker"
    future = served.v1.CreateTask.future(
        agent_pb2.CreateTaskRequest(
            template=v1_template("asleep", custom={"create_sleep": 1.5, "marker": str(marker)})
        )
    )
    _in_flight(served, "flyteidl.service.AsyncAgentService/CreateTask")
    served.process.send_signal(signum)
    response = future.result(timeout=30)
    assert meta_json(response.resource_meta)["until"] > 0
    assert marker.read_text() == "finished"
    assert served.close() == 0
    assert "draining" in "\n".join(served.stderr)


def _in_flight(served: Any, rpc: str) -> None:
    """Wait until the metrics show one call of ``rpc`` in flight."""
    for _ in range(500):
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{served.metrics_port}/metrics", timeout=5)
            .read()
            .decode()
        )
        if f'connector_rpc_in_flight{{rpc="{rpc}"}} 1.0' in text:
            return
        time.sleep(0.02)
    raise AssertionError(f"{rpc} never showed as in flight")


@pytest.mark.parametrize(
    ("signum", "code", "last_line"),
    [
        (signal.SIGINT, 1, "Aborted!"),
        (signal.SIGTERM, -signal.SIGTERM, "draining: waiting up to 25s for in-flight calls"),
    ],
)
def test_a_second_signal_during_the_drain_ends_the_process_at_once(
    serve: Any, tmp_path: Path, signum: int, code: int, last_line: str
) -> None:
    # The first signal drains; a second one is the signal's default: Python's KeyboardInterrupt for
    # SIGINT (click prints "Aborted!", exit 1), termination for SIGTERM (docs/operating.md, Shutdown).
    served = serve()
    future = served.v1.CreateTask.future(
        agent_pb2.CreateTaskRequest(
            template=v1_template("asleep", custom={"create_sleep": 120, "marker": str(tmp_path / "m")})
        )
    )
    _in_flight(served, "flyteidl.service.AsyncAgentService/CreateTask")
    served.process.send_signal(signum)
    deadline = time.monotonic() + 30
    while not any("draining" in line for line in served.stderr) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any("draining" in line for line in served.stderr), served.stderr
    served.process.send_signal(signum)
    # Long before the hook's 120 s or the 25 s drain; waited for before close(), which closes the
    # channel (the call in flight would then end CANCELLED, not by the server's end).
    assert served.process.wait(30) == code
    assert served.close() == code
    assert served.stderr[-1].endswith(last_line), served.stderr
    assert not any(line.endswith("INFO connector.server: stopped") for line in served.stderr)
    with pytest.raises(grpc.RpcError) as failed:
        future.result(timeout=30)
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value


def test_two_processes_sharing_no_state_serve_one_job(serve: Any, tmp_path: Path) -> None:
    first, second = serve(), serve()
    assert first.process.pid != second.process.pid
    created = first.v1.CreateTask(
        agent_pb2.CreateTaskRequest(
            template=v1_template("filejob", custom={"store": str(tmp_path), "steps": 2}),
            inputs=v1_inputs(x=7),
        )
    )
    category = v1_category("filejob")
    polled = second.v1.GetTask(
        agent_pb2.GetTaskRequest(task_category=category, resource_meta=created.resource_meta)
    )
    assert polled.resource.phase == execution_pb2.TaskExecution.RUNNING
    done = second.v2.GetTask(
        connector_pb2.GetTaskRequest(
            task_category=v2_category("filejob"), resource_meta=created.resource_meta
        )
    )
    assert v2_outputs(done.resource)["doubled"] == 14
    (job_file,) = tmp_path.glob("*.json")
    state = json.loads(job_file.read_text())
    assert state["pid"] == first.process.pid
    assert state["get_pids"] == [second.process.pid, second.process.pid]
    first.v1.DeleteTask(
        agent_pb2.DeleteTaskRequest(task_category=category, resource_meta=created.resource_meta)
    )
    assert not job_file.exists()
    assert first.stop() == 0
    assert second.stop() == 0


def test_modules_registers_the_connectors_a_module_defines(serve: Any) -> None:
    served = serve("--modules", "tests.server.sample_plugin", "--prometheus-port", "off", venv=None)
    assert served.metrics_port is None
    agents = {a.name for a in served.v1_meta.ListAgents(agent_pb2.ListAgentsRequest()).agents}
    # This process serves from the test interpreter, which may have other plugins installed too.
    assert agents >= {"File job connector", "Sleep connector", "Sync echo", "Async do", "Blocking", "Failing"}
    assert served.stop() == 0


def test_seed_api_connector_service_run(tmp_path: Path) -> None:
    code = (
        "from connector.server import ConnectorService\n"
        "ConnectorService.run(port=0, prometheus_port=0, worker=2, timeout=30,\n"
        "                     modules=['tests.server.sample_plugin'], host='localhost')\n"
    )
    served = Served([sys.executable, "-c", code], environ_for(None))
    try:
        assert served.stdout[0] == f"Serving gRPC on localhost:{served.port} (plaintext)"
        assert served.stdout[1] == f"Serving metrics on http://localhost:{served.metrics_port}/metrics"
        assert {a.name for a in served.v1_meta.ListAgents(agent_pb2.ListAgentsRequest()).agents} >= {
            "Sync echo"
        }
    finally:
        assert served.stop() == 0


def _serve_fails(*args: str, venv: Venv | None = None) -> subprocess.CompletedProcess[str]:
    executable = [sys.executable, "-m", "connector"] if venv is None else [str(venv.bin / "connector")]
    return subprocess.run(
        [*executable, "serve", *args],
        env=environ_for(venv),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "Invalid value for '--port': 70000 is not in the range 0<=x<=65535."),
        (
            ["--prometheus-port", "abc"],
            "Invalid value for '--prometheus-port': 'abc' is not a port number or 'off'",
        ),
        (["--prometheus-port", "-1"], "Invalid value for '--prometheus-port': -1 is not between 0 and 65535"),
        (["--workers", "0"], "Invalid value for '--workers': 0 is not in the range x>=1."),
        (["--timeout", "0"], "Invalid value for '--timeout': 0.0 is not in the range x>0."),
        (
            ["--tls-cert", "/nonexistent/cert.pem"],
            "Invalid value for '--tls-cert': File '/nonexistent/cert.pem' does not exist.",
        ),
        (["--tls-cert", __file__], "Error: --tls-cert and --tls-key go together: give both, or neither"),
        (["--tls-client-ca", __file__], "Error: --tls-client-ca needs --tls-cert and --tls-key"),
        (
            ["--tls-cert", __file__, "--tls-key", __file__, "--port", "0"],
            f"Error: --tls-cert {__file__} is not a PEM file (no '-----BEGIN' line)",
        ),
        (
            ["--modules", "no_such_module_xyz"],
            "Error: --modules no_such_module_xyz: importing it raised ModuleNotFoundError: "
            "No module named 'no_such_module_xyz'",
        ),
        (["--modules", "json"], "Error: --modules json: the module defines no connector"),
        (
            ["--log-level", "loud"],
            "Invalid value for '--log-level': 'loud' is not one of 'debug', 'info', 'warning', 'error'.",
        ),
        (["--bogus"], "Error: No such option '--bogus'"),
    ],
)
def test_bad_options_are_clear_errors_with_exit_2(args: list[str], message: str) -> None:
    result = (
        _serve_fails(*args, "--prometheus-port", "off")
        if "--prometheus-port" not in args
        else _serve_fails(*args)
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve_fails("--port", str(port), "--prometheus-port", "off")
    assert (result.returncode, result.stdout) == (2, "")  # nothing printed before the error
    assert result.stderr == (
        f"Error: cannot listen on 127.0.0.1:{port}: the port is in use by another process "
        "(stop it, or choose another --port: 0 picks a free one)\n"
    )


def test_a_module_claiming_an_installed_category_is_refused(serve_venv: Venv, tmp_path: Path) -> None:
    # Classes imported from elsewhere are not registered; one defined here is.
    (tmp_path / "again.py").write_text(
        "from connector_svctest import SyncEcho\n\nclass Again(SyncEcho):\n    pass\n"
    )
    environ = environ_for(serve_venv)
    environ["PYTHONPATH"] = str(tmp_path)
    result = subprocess.run(
        [str(serve_venv.bin / "connector"), "serve", "--modules", "again", "--prometheus-port", "off"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert (
        "Error: --modules again: a connector for task type syncecho@0 is already registered "
        "(connector-svctest 1.0)" in result.stderr
    )


def test_without_the_server_extra_serve_says_how_to_install_it(
    tmp_path_factory: pytest.TempPathFactory, core_wheel: Path
) -> None:
    venv = Venv(tmp_path_factory.mktemp("bare-venv") / "venv")
    venv.install(core_wheel)
    result = venv.run(["connector", "serve"])
    assert result.returncode == 2
    assert 'Install it with: pip install "connector-core[server]"' in result.stderr
    assert venv.run(["connector", "list"]).returncode == 0
