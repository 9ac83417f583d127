"""Real wheels of small Flyte 2 connector distributions, built from ``samples/`` and installed by pip.

A wheel is a zip with a ``.dist-info``; pip installs it with ``--target`` into a directory a test
puts on ``sys.path``, where ``importlib.metadata`` finds it as any installed distribution.

- ``acme-flyte`` 1.0 (``samples/acme_flyte``): the ``acme_job`` and ``acme_report@1`` connectors,
  advertised by the entry point ``acme`` in ``flyte.connectors``, written as a third party would.
- ``acme-flyte-broken`` 0.3: its entry point's module raises ImportError on import.
- ``other-flyte`` 2.0: registers another connector for ``acme_job``.
- ``flyte`` 3.0.0: metadata only, a flyte release the bridge does not support.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"

BROKEN_MESSAGE = "the acme-warehouse SDK is missing: pip install acme-warehouse"

OTHER_SOURCE = """
from dataclasses import dataclass

from flyte.connectors import AsyncConnector, ConnectorRegistry, Resource, ResourceMeta
from flyteidl2.core.execution_pb2 import TaskExecution


@dataclass
class OtherMeta(ResourceMeta):
    ref: str


class OtherAcme(AsyncConnector):
    name = "Other Acme"
    task_type_name = "acme_job"
    metadata_type = OtherMeta

    async def create(self, task_template, output_prefix, inputs=None, **kwargs):
        return OtherMeta(ref="other")

    async def get(self, resource_meta, **kwargs):
        return Resource(phase=TaskExecution.SUCCEEDED)

    async def delete(self, resource_meta, **kwargs):
        return None


ConnectorRegistry.register(OtherAcme())
"""


def build_wheel(
    directory: Path,
    name: str,
    version: str,
    files: Mapping[str, str],
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """A wheel ``name-version-py3-none-any.whl`` in ``directory``: ``files`` and the entry points by group."""
    dist = re.sub(r"[-_.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    contents = {path: text.encode() for path, text in files.items()}
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: connector-flyte-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    lines = []
    for group, items in (entry_points or {}).items():
        lines += [f"[{group}]", *(f"{key} = {value}" for key, value in items.items()), ""]
    if lines:
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


def sample_files(package: str) -> dict[str, str]:
    """The files of a package under ``samples/``, by their path inside a wheel."""
    root = SAMPLES / package
    return {f"{package}/{path.name}": path.read_text() for path in sorted(root.glob("*.py"))}


def acme_wheel(directory: Path) -> Path:
    return build_wheel(
        directory,
        "acme-flyte",
        "1.0",
        sample_files("acme_flyte"),
        {"flyte.connectors": {"acme": "acme_flyte.connector:AcmeConnector"}},
    )


def broken_wheel(directory: Path) -> Path:
    return build_wheel(
        directory,
        "acme-flyte-broken",
        "0.3",
        {"acme_broken.py": f"raise ImportError({BROKEN_MESSAGE!r})\n"},
        {"flyte.connectors": {"broken": "acme_broken:BrokenConnector"}},
    )


def other_wheel(directory: Path) -> Path:
    return build_wheel(
        directory,
        "other-flyte",
        "2.0",
        {"other_flyte.py": OTHER_SOURCE},
        {"flyte.connectors": {"other": "other_flyte:OtherAcme"}},
    )


def unsupported_flyte_wheel(directory: Path) -> Path:
    return build_wheel(directory, "flyte", "3.0.0", {"flyte_three_marker.py": ""})


def pip_install_into(wheel: Path, target: Path) -> None:
    """Install ``wheel`` with pip into ``target`` (no index, no dependencies)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
         "--no-deps", "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
