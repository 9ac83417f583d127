"""A real wheel of a small distribution that allows its sensor through a ``connector.sensors`` entry point.

Built by hand (a wheel is a zip with a ``.dist-info``), installed by pip with ``--target`` into a
directory the test puts on ``sys.path``: ``importlib.metadata`` finds it as any installed distribution.
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


def build_wheel(
    directory: Path, name: str, version: str, files: Mapping[str, str], entry_points: Mapping[str, str]
) -> Path:
    """A wheel ``name-version-py3-none-any.whl`` in ``directory``: ``files`` and the entry points."""
    dist = re.sub(r"[-_.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    contents = {path: text.encode() for path, text in files.items()}
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: sensor-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    lines = ["[connector.sensors]", *(f"{key} = {value}" for key, value in entry_points.items()), ""]
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


def pip_install_into(wheel: Path, target: Path) -> None:
    """Install ``wheel`` with pip into ``target`` (no index, no dependencies)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
         "--no-deps", "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
