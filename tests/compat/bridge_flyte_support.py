"""The Flyte 2 bridge end to end: a cached virtualenv with real flyte and connector-flyte, and Flyte 2's
own connector service run from it.

``bridge_venv`` holds flyte from PyPI (``flyte[connector]``, the release connector-flyte supports),
connector-core[server] and connector-flyte built from this checkout, and two Flyte 2 connector
packages built as real wheels from ``plugins/connector-flyte/tests/samples``: ``acme-flyte`` (a
``flyte.connectors.AsyncConnector`` written as a third party would, advertised in the
``flyte.connectors`` entry-point group) and ``acme-flyte-broken`` (whose module raises on import).
It is cached like the peers' virtualenvs (``venvs.py``): the wheels are copied to a folder named by
the digest of their contents, so an unchanged checkout reuses the virtualenv and a changed one
builds another.

``FlyteService`` is ``flyte.connectors.ConnectorService.run`` in that virtualenv, which loads the
same entry points. ``acme_request`` makes a task template and inputs with Flyte 2 itself, as
``flyte deploy`` and a run would send them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from flyteidl2.connector import connector_pb2, service_pb2_grpc
from flyteidl2.core import security_pb2, tasks_pb2
from flyteidl2.task import common_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.compat.peers import META_KEYS, free_port
from tests.compat.venvs import CachedVenv, cache_root, cached_venv
from tests.server.served import Served
from tests.support.venvs import ROOT, build_local_wheel
from tests.support.wheels import build_wheel

PLUGIN = ROOT / "plugins" / "connector-flyte"
SAMPLES = PLUGIN / "tests" / "samples"
#: What connector-flyte supports, so the virtualenv gets the flyte it would get from pip.
FLYTE_REQUIREMENT = "flyte[connector]>=2.4,<3"
BROKEN_MESSAGE = "the acme-warehouse SDK is missing: pip install acme-warehouse"
ACME_ENTRY_POINT = {"acme": "acme_flyte.connector:AcmeConnector"}
OUTPUT_PREFIX = "s3://acme-bucket/metadata/acme-development/r1/a0"
SECRET = "s3cr3t-token"


def acme_wheels(directory: Path) -> list[Path]:
    """Real wheels of acme-flyte 1.0 and acme-flyte-broken 0.3."""
    files = {
        f"acme_flyte/{path.name}": path.read_text() for path in sorted((SAMPLES / "acme_flyte").glob("*.py"))
    }
    good = build_wheel(directory, "acme-flyte", "1.0", files, {"flyte.connectors": ACME_ENTRY_POINT})
    broken = build_wheel(
        directory,
        "acme-flyte-broken",
        "0.3",
        {"acme_broken.py": f"raise ImportError({BROKEN_MESSAGE!r})\n"},
        {"flyte.connectors": {"broken": "acme_broken:BrokenConnector"}},
    )
    return [good, broken]


def wheel_digest(wheel: Path) -> str:
    """A digest of a wheel's members and their contents (zip timestamps left out)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + b"\0" + archive.read(name) + b"\0")
    return digest.hexdigest()


def bridge_venv(core_wheel: Path, work: Path) -> CachedVenv:
    """The cached virtualenv of the bridge (built first when this checkout's wheels are new to it)."""
    plugin_wheel = build_local_wheel(PLUGIN, work)
    wheels = [core_wheel, plugin_wheel, *acme_wheels(work)]
    combined = hashlib.sha256("".join(wheel_digest(wheel) for wheel in wheels).encode()).hexdigest()[:16]
    folder = cache_root() / "bridge-flyte-wheels" / combined
    if not folder.exists():
        partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
        partial.mkdir(parents=True, exist_ok=True)
        for wheel in wheels:
            shutil.copy2(wheel, partial / wheel.name)
        try:
            partial.rename(folder)
        except OSError:  # another process put the same wheels there first
            shutil.rmtree(partial, ignore_errors=True)
    core, plugin, acme, broken = (folder / wheel.name for wheel in wheels)
    return cached_venv(
        "flyte-bridge", (FLYTE_REQUIREMENT, f"{core}[server]", str(plugin), str(acme), str(broken))
    )


def venv_environ(venv: CachedVenv | None, **overrides: str) -> dict[str, str]:
    """The environment of a process of the bridge venv: no CONNECTOR_ settings but the session's
    CONNECTOR_HOME (tests/conftest.py) and the compat meta keys, no proxy, the venv first on PATH."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CONNECTOR_") and key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    environ.pop("PYTHONPATH", None)
    environ["CONNECTOR_HOME"] = os.environ["CONNECTOR_HOME"]
    environ["CONNECTOR_META_KEYS"] = META_KEYS
    if venv is not None:
        environ["PATH"] = f"{venv.bin}{os.pathsep}{environ.get('PATH', '')}"
    environ.update(overrides)
    return environ


def run_in(venv: CachedVenv, args: Sequence[str], **environ: str) -> subprocess.CompletedProcess[str]:
    """``args`` (``connector ...``, ``python ...``) run in the venv."""
    env = venv_environ(venv, **environ)
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=300, check=False)


def connector_serve_in(venv: CachedVenv, **environ: str) -> Served:
    """``connector serve`` of the venv, on free ports."""
    command = [str(venv.bin / "connector"), "serve", "--port", "0", "--prometheus-port", "0"]
    return Served(command, venv_environ(venv, **environ))


_FLYTE_SERVICE = """
import sys

from flyte.connectors import ConnectorService

port, prometheus_port = int(sys.argv[1]), int(sys.argv[2])
ConnectorService.run(port=port, prometheus_port=prometheus_port, worker=4, timeout=None, modules=None)
"""


class FlyteService:
    """Flyte 2's own ``ConnectorService.run`` in the bridge venv, on free ports, once health says SERVING."""

    def __init__(self, venv: CachedVenv, work: Path) -> None:
        self.log = work / "flyte-connector-service.log"
        for _ in range(3):  # a free port may be taken between the probe and the bind
            self.port = free_port()
            if self._start(venv, work):
                break
        else:
            raise AssertionError("Flyte 2's ConnectorService never served:\n" + self.log.read_text())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.v2 = service_pb2_grpc.AsyncConnectorServiceStub(self.channel)
        self.v2_meta = service_pb2_grpc.ConnectorMetadataServiceStub(self.channel)

    def _start(self, venv: CachedVenv, work: Path) -> bool:
        command = [str(venv.python), "-c", _FLYTE_SERVICE, str(self.port), str(free_port())]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=venv_environ(None), cwd=str(work)
            )
        with grpc.insecure_channel(f"127.0.0.1:{self.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(), timeout=2).status
                except grpc.RpcError:
                    time.sleep(0.2)
                    continue
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return True
        self.stop()
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)

    def close(self) -> None:
        self.channel.close()
        self.stop()


_ACME_TASK = """
import asyncio, base64, json, sys

from acme_flyte.task import AcmeTask
from flyte._internal.runtime.convert import convert_from_native_to_inputs
from flyte._internal.runtime.task_serde import get_proto_task
from flyte.models import SerializationContext

values = json.loads(sys.argv[1])
task = AcmeTask(name="acme.query", warehouse="wh-1", parent_env_name="acme")
context = SerializationContext(version="v1", project="acme", domain="development", org="acme")
template = get_proto_task(task, context)
inputs = asyncio.run(convert_from_native_to_inputs(task.interface, **values)).proto_inputs
b64 = lambda message: base64.b64encode(message.SerializeToString()).decode()
print(json.dumps({"template": b64(template), "inputs": b64(inputs)}))
"""


def acme_request(venv: CachedVenv, **values: Any) -> tuple[Any, Any]:
    """An ``acme_job`` template serialized by Flyte 2 (``get_proto_task``, what ``flyte deploy`` sends)
    and ``values`` converted by Flyte 2 (``convert_from_native_to_inputs``), as flyteidl2 messages."""
    made = run_in(venv, [str(venv.python), "-c", _ACME_TASK, json.dumps(values)])
    assert made.returncode == 0, made.stderr
    answer = json.loads(made.stdout.splitlines()[-1])
    template = tasks_pb2.TaskTemplate.FromString(base64.b64decode(answer["template"]))
    return template, common_pb2.Inputs.FromString(base64.b64decode(answer["inputs"]))


def connection(state_dir: Path) -> Any:
    """A Connection as Flyte 2 sends one: a secret and two configs."""
    return security_pb2.Connection(
        secrets={"acme_token": SECRET}, configs={"state_dir": str(state_dir), "region": "eu-west"}
    )


def create_request(template: Any, inputs: Any, state_dir: Path) -> Any:
    metadata = connector_pb2.TaskExecutionMetadata(
        namespace="acme-development", labels={"run": "r1"}, k8s_service_account="default", max_attempts=2
    )
    return connector_pb2.CreateTaskRequest(
        template=template,
        inputs=inputs,
        output_prefix=OUTPUT_PREFIX,
        task_execution_metadata=metadata,
        connection=connection(state_dir),
    )


def category(name: str = "acme_job", version: int = 0) -> Any:
    return connector_pb2.TaskCategory(name=name, version=version)


def with_task_log_fields(resource: Any) -> Any:
    """A flyteidl2 Resource with only the log-link fields connector.TaskLog carries."""
    copy = type(resource)()
    copy.CopyFrom(resource)
    del copy.log_links[:]
    for link in resource.log_links:
        copy.log_links.add(
            uri=link.uri,
            name=link.name,
            ShowWhilePending=link.ShowWhilePending,
            HideOnceFinished=link.HideOnceFinished,
        )
    return copy


def job_id(meta: bytes) -> str:
    """The acme job id in a Flyte 2 meta (plain JSON)."""
    return str(json.loads(meta)["job_id"])


def local_job_id(warehouse: str, inputs: Mapping[str, Any], output_prefix: str) -> str:
    """The id the acme connector gives a job (a digest of what it was asked), known before the run."""
    text = json.dumps([warehouse, dict(inputs), output_prefix], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
