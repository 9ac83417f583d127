"""The connector-flytekit end-to-end test's own helpers: its virtualenv, a driver, a fake remote API.

``bridge_venv``: a throwaway virtualenv holding connector-core[server], connector-flytekit and
connector-http built from this checkout (real wheels, installed by pip without dependencies), on top
of a cached layer (``venvs.cached_venv``) with real flytekit 1.16, flytekitplugins-openai and the
dependencies of those three from PyPI. The layer's site-packages joins the throwaway one through a
``.pth`` file that calls ``site.addsitedir`` (its own ``.pth`` files run too), so the local wheels are
fresh on every run while the slow PyPI part is built once; ``pyflyte`` runs from the layer itself.

``BRIDGE_DRIVER``: a driver (``drivers/_loop.py``'s protocol) run with the layer's python, which
serializes flytekit's ``WebhookTask`` and ``FileSensor`` (``drivers/flytekit_tasks.py``) and
flytekitplugins-openai's ``BatchEndpointTask``, and decodes outputs with flytekit's TypeEngine.

``FakeOpenAI``: a loopback stand-in for the OpenAI batch API (the real one cannot be reached from
here), recording every request; the OpenAI client reaches it through ``OPENAI_BASE_URL``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.compat.peers import META_KEYS, Driver
from tests.compat.venvs import FLYTEKIT, CachedVenv, Interpreter, cached_venv, peer_python
from tests.server.served import Served
from tests.support.venvs import ROOT, build_local_wheel

#: The flytekit plugin from PyPI whose connector talks to a remote service (pinned with flytekit).
OPENAI_PLUGIN = "flytekitplugins-openai>=1.16,<1.17"
#: The distributions built from this checkout, by folder.
LOCAL = ("core", "plugins/connector-flytekit", "plugins/connector-http")


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pip vendors the same parser
        from pip._vendor import tomli as tomllib
    with path.open("rb") as handle:
        return tomllib.load(handle)


def layer_requirements() -> tuple[str, ...]:
    """flytekit, the OpenAI plugin, and what the local distributions depend on (from their pyproject.toml)."""
    requirements = [*FLYTEKIT, OPENAI_PLUGIN]
    for folder in LOCAL:
        project = _load_toml(ROOT / folder / "pyproject.toml")["project"]
        depends = list(project.get("dependencies", []))
        if folder == "core":
            depends += project["optional-dependencies"]["server"]
        for requirement in depends:
            name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()
            if name in ("connector-core", "flytekit"):  # built here / pinned by FLYTEKIT
                continue
            requirements.append(requirement)
    return tuple(dict.fromkeys(requirements))


@dataclass(frozen=True)
class BridgeVenv:
    """The throwaway virtualenv (``path``) over the cached ``layer``."""

    path: Path
    layer: CachedVenv

    @property
    def bin(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin")

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def environ(self, **overrides: str) -> dict[str, str]:
        """This process's environment without CONNECTOR_ settings or proxies; the venv first on PATH."""
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CONNECTOR_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        }
        environ.pop("PYTHONPATH", None)
        environ["PATH"] = f"{self.bin}{os.pathsep}{environ.get('PATH', '')}"
        environ["CONNECTOR_HOME"] = os.environ["CONNECTOR_HOME"]
        environ.update(overrides)
        return environ

    def connector(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``connector ARGS`` in this venv, its output captured."""
        return subprocess.run(
            [str(self.bin / "connector"), *args],
            env=self.environ(COLUMNS="200", **env),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def serve(self, **env: str) -> Served:
        """``connector serve`` from this venv on free ports, signing with the compat tests' key."""
        command = [str(self.bin / "connector"), "serve", "--port", "0", "--prometheus-port", "0"]
        return Served(command, self.environ(CONNECTOR_META_KEYS=META_KEYS, **env))


def bridge_venv(directory: Path, core_wheel: Path) -> BridgeVenv:
    """Make the throwaway virtualenv in ``directory``: the layer joined, the local wheels installed."""
    layer = cached_venv("bridge-flytekit", layer_requirements())
    wheels = [core_wheel] + [build_local_wheel(ROOT / folder, directory) for folder in LOCAL[1:]]
    venv = BridgeVenv(directory / "venv", layer)
    interpreter = Interpreter.inspect(peer_python())
    subprocess.run([interpreter.executable, "-m", "venv", "--without-pip", str(venv.path)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    own = subprocess.run([str(venv.python), "-c", purelib], capture_output=True, text=True, check=True)
    theirs = subprocess.run([str(layer.python), "-c", purelib], capture_output=True, text=True, check=True)
    line = f"import site; site.addsitedir({theirs.stdout.strip()!r})\n"
    (Path(own.stdout.strip()) / "_bridge_layer.pth").write_text(line)
    pip = [sys.executable, "-m", "pip", "--python", str(venv.python), "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", "--no-deps", *map(str, wheels)], check=True)
    return venv


#: The driver run with the layer's python (drivers/_loop.py's protocol; drivers/ is its working directory).
BRIDGE_DRIVER = '''
"""Serialize flytekit tasks (webhook, file sensor, OpenAI batch) and decode outputs, with real flytekit."""

import os
import sys
from collections import OrderedDict

sys.path.insert(0, os.getcwd())  # drivers/: _loop and flytekit_tasks

from _loop import b64, serve, type_tree, unb64
from flyteidl.core import literals_pb2
from flytekit import FlyteContextManager
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap
from flytekit.tools.translator import get_serializable
from flytekit_tasks import build as build_compat
from flytekit_tasks import native_inputs
from flytekitplugins.openai import BatchEndpointTask

SETTINGS = SerializationSettings(
    image_config=ImageConfig.auto_default_image(), project="compat", domain="development", version="v1"
)


def build(spec):
    if spec["kind"] == "openai_batch":
        return BatchEndpointTask(
            name=spec["name"], config=spec["config"], openai_organization=spec.get("openai_organization")
        )
    return build_compat(spec)


def serialize(request):
    task = build(request["task"])
    template = get_serializable(OrderedDict(), SETTINGS, task).template
    ctx = FlyteContextManager.current_context()
    native = native_inputs(request["task"], request.get("inputs") or {})
    inputs = TypeEngine.dict_to_literal_map(ctx, native, task.python_interface.inputs)
    return {
        "template": b64(template.to_flyte_idl().SerializeToString()),
        "inputs": b64(inputs.to_flyte_idl().SerializeToString()),
    }


def decode(request):
    task = build(request["task"])
    literal_map = LiteralMap.from_flyte_idl(literals_pb2.LiteralMap.FromString(unb64(request["outputs"])))
    ctx = FlyteContextManager.current_context()
    values = TypeEngine.literal_map_to_kwargs(ctx, literal_map, task.python_interface.outputs)
    return {"values": values, "types": type_tree(values)}


if __name__ == "__main__":
    serve({"serialize": serialize, "decode": decode})
'''


def bridge_driver(layer: CachedVenv, directory: Path) -> Driver:
    """``BRIDGE_DRIVER`` written into ``directory`` and started with the layer's python."""
    script = directory / "bridge_driver.py"
    script.write_text(BRIDGE_DRIVER)
    return Driver(layer, str(script))  # an absolute path: Driver joins it to drivers/ unchanged


@dataclass(frozen=True)
class ApiCall:
    """One request the fake OpenAI API got."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any


#: When every fake batch was made (the answers must not depend on the clock: both services compare).
CREATED_AT = 1_700_000_000
#: The states a batch goes through, one per retrieve (flytekitplugins-openai: Running, then Success).
STEPS = ("validating", "in_progress", "completed")


@dataclass
class FakeOpenAI:
    """The OpenAI batch API on a loopback port: create, retrieve and cancel, recorded in ``calls``.

    A batch's id is ``batch_<input_file_id>``, so the same request gives the same answers on both
    services; creating it again starts it over. Each retrieve moves it one step (validating,
    in_progress, completed); an input file id ``file-bad`` fails with an error message; cancel
    makes it ``cancelling``, then ``cancelled``. A batch named in ``hold`` stays ``in_progress`` until
    ``release`` names it (a long batch, for tests that interrupt or resume a run).
    """

    calls: list[ApiCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self
        self.batches: dict[str, dict[str, Any]] = {}
        self._held: set[str] = set()
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        headers = {key.lower(): value for key, value in handler.headers.items()}
        with self._lock:
            self.calls.append(ApiCall(handler.command, handler.path, headers, body))
            status, answer = self._answer(handler.command, handler.path, body)
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        parts = path.split("?")[0].strip("/").split("/")
        if method == "POST" and parts == ["v1", "batches"]:
            batch_id = f"batch_{body['input_file_id']}"
            self.batches[batch_id] = {"step": 0, "request": body, "cancelled": False}
            return 200, self._batch(batch_id)
        if len(parts) >= 3 and parts[:2] == ["v1", "batches"] and parts[2] in self.batches:
            batch = self.batches[parts[2]]
            if method == "POST" and parts[3:] == ["cancel"]:
                batch["cancelled"] = True
                return 200, self._batch(parts[2], "cancelling")
            if method == "GET" and len(parts) == 3:
                batch["step"] += 1
                if parts[2] in self._held:
                    batch["step"] = min(batch["step"], STEPS.index("in_progress"))
                return 200, self._batch(parts[2])
        return 404, {"error": {"message": f"no such route: {method} {path}", "type": "invalid_request_error"}}

    def _batch(self, batch_id: str, status: str | None = None) -> dict[str, Any]:
        batch = self.batches[batch_id]
        request = batch["request"]
        step = STEPS[min(batch["step"], len(STEPS) - 1)]
        if status is None:
            status = "cancelled" if batch["cancelled"] else step
        answer: dict[str, Any] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": request["endpoint"],
            "input_file_id": request["input_file_id"],
            "completion_window": request["completion_window"],
            "status": status,
            "created_at": CREATED_AT,
            "metadata": request.get("metadata"),
        }
        if request["input_file_id"] == "file-bad" and batch["step"] >= 1 and status != "cancelling":
            answer["status"] = "failed"
            answer["errors"] = {
                "object": "list",
                "data": [{"code": "invalid_json_line", "message": "line 1 of the input file is not JSON"}],
            }
        elif status == "completed":
            answer["output_file_id"] = f"file-out-{batch_id}"
            answer["completed_at"] = CREATED_AT + 60
            answer["request_counts"] = {"total": 2, "completed": 2, "failed": 0}
        return answer

    def hold(self, batch_id: str) -> None:
        """Keep ``batch_id`` (``batch_<input_file_id>``, made or not yet) ``in_progress`` until released."""
        with self._lock:
            self._held.add(batch_id)

    def release(self, batch_id: str) -> None:
        """Let ``batch_id`` go on: its next retrieve completes it (unless it was cancelled or failed)."""
        with self._lock:
            self._held.discard(batch_id)

    def take(self) -> list[ApiCall]:
        with self._lock:
            taken, self.calls = self.calls, []
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(30)


def broken_plugin_wheel(directory: Path) -> Path:
    """flytekitplugins-warehouse 0.3: a flytekit plugin whose import raises, as one missing its SDK does."""
    from tests.support.wheels import build_wheel

    return build_wheel(
        directory,
        "flytekitplugins-warehouse",
        "0.3",
        {"flytekitplugins/warehouse/__init__.py": "import warehouse_sdk  # not installed\n"},
        {"flytekit.plugins": {"warehouse": "flytekitplugins.warehouse"}},
    )


def pip_install_target(target: Path, wheels: Sequence[Path]) -> None:
    """Install ``wheels`` into the directory ``target`` (no index, no dependencies)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
         "--no-deps", "--target", str(target), *map(str, wheels)],
        check=True,
    )  # fmt: skip
