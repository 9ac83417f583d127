"""Real wheels of small flytekit plugins, installed with pip ``--target`` into a directory on ``PYTHONPATH``.

A wheel is built by hand (a zip with a ``.dist-info``), installed by pip (no index, no dependencies)
into a directory; a subprocess with that directory on ``PYTHONPATH`` finds it through
``importlib.metadata`` like any installed distribution, beside the real flytekit of this
environment. The plugins live under flytekit's namespace package ``flytekitplugins``, as real ones do.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: A plugin with one async and one sync connector, as a flytekit plugin author writes them.
SAMPLE = """
from dataclasses import dataclass

from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.extend.backend.base_connector import (
    AsyncConnectorBase, ConnectorRegistry, Resource, ResourceMeta, SyncConnectorBase,
)


@dataclass
class SampleMeta(ResourceMeta):
    job_id: str


class SampleJobConnector(AsyncConnectorBase):
    name = "Sample Job Connector"

    def __init__(self):
        super().__init__(task_type_name="sample_job", task_type_version=2, metadata_type=SampleMeta)

    async def create(self, task_template, output_prefix, inputs=None, **kwargs):
        return SampleMeta(job_id="job-" + str(len(inputs.literals)))

    async def get(self, resource_meta, **kwargs):
        return Resource(phase=TaskExecution.SUCCEEDED, message="done " + resource_meta.job_id)

    async def delete(self, resource_meta, **kwargs):
        return None


class SampleEchoConnector(SyncConnectorBase):
    name = "Sample Echo Connector"

    def __init__(self):
        super().__init__(task_type_name="sample_echo")

    def do(self, task_template, output_prefix, inputs=None, **kwargs):
        return Resource(phase=TaskExecution.SUCCEEDED, outputs={"o": "echo"})


ConnectorRegistry.register(SampleJobConnector())
ConnectorRegistry.register(SampleEchoConnector())
"""

#: A second plugin claiming ``sample_echo`` too (flytekit's own service refuses to start with both).
RIVAL = """
from flyteidl.core.execution_pb2 import TaskExecution
from flytekit.extend.backend.base_connector import ConnectorRegistry, Resource, SyncConnectorBase


class RivalEchoConnector(SyncConnectorBase):
    name = "Rival Echo Connector"

    def __init__(self):
        super().__init__(task_type_name="sample_echo")

    def do(self, task_template, output_prefix, inputs=None, **kwargs):
        return Resource(phase=TaskExecution.SUCCEEDED, outputs={"o": "rival"})


ConnectorRegistry.register(RivalEchoConnector())
"""

#: A plugin whose import raises, as one with a missing dependency does.
BROKEN = "raise ImportError('No module named warehouse_sdk: install warehouse-sdk>=2')\n"


def build_wheel(
    directory: Path,
    name: str,
    version: str,
    files: Mapping[str, str],
    entry_points: Mapping[str, Mapping[str, str]],
) -> Path:
    """A wheel ``name-version-py3-none-any.whl`` in ``directory``: ``files`` and the entry points by group."""
    dist = re.sub(r"[-_.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    contents = {path: text.encode() for path, text in files.items()}
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: flytekit-bridge-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    lines = []
    for group, items in entry_points.items():
        lines += [f"[{group}]", *(f"{key} = {value}" for key, value in items.items()), ""]
    contents[f"{info}/entry_points.txt"] = "\n".join(lines).encode()
    record = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    contents[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, data in contents.items():
            archive.writestr(member, data)
    return wheel


def flytekit_plugin(directory: Path, short: str, version: str, source: str) -> Path:
    """The wheel of ``flytekitplugins-SHORT``: ``flytekitplugins/SHORT/__init__.py`` with ``source``."""
    return build_wheel(
        directory,
        f"flytekitplugins-{short}",
        version,
        {f"flytekitplugins/{short}/__init__.py": source},
        {"flytekit.plugins": {short: f"flytekitplugins.{short}"}},
    )


def pip_install_into(target: Path, *wheels: Path) -> None:
    """Install ``wheels`` with pip into ``target`` (no index, no dependencies)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
         "--no-deps", "--target", str(target), *map(str, wheels)],
        check=True,
    )  # fmt: skip


def environ(target: Path | None, home: Path, **extra: str) -> dict[str, str]:
    """This environment without CONNECTOR_ settings; ``target`` on PYTHONPATH, ``home`` as CONNECTOR_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
    env.pop("PYTHONPATH", None)
    if target is not None:
        env["PYTHONPATH"] = str(target)
    env["CONNECTOR_HOME"] = str(home)
    env.update(extra)
    return env


#: Run in a fresh interpreter (the core calls ``provided`` in one): what the provider provides, as JSON.
PROVIDED = """
import dataclasses, json
from connector_flytekit import FlytekitProvider
items = list(FlytekitProvider().provided())
print(json.dumps([{"kind": type(item).__name__, **dataclasses.asdict(item)} for item in items]))
"""


def provided_in_subprocess(target: Path | None, home: Path, **extra: str) -> list[dict[str, Any]]:
    """``FlytekitProvider().provided()`` in a fresh interpreter with ``target`` on its path."""
    done = run_python(PROVIDED, target, home, **extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_python(code: str, target: Path | None, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environ(target, home, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_connector(
    args: Sequence[str], target: Path | None, home: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``python -m connector ARGS`` in a fresh interpreter with ``target`` on its path."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        env=environ(target, home, COLUMNS="200", **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
