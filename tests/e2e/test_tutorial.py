"""docs/tutorial.md, run: every command of its ``sh`` blocks, in order, in a fresh virtualenv (issue 12).

The page is parsed, not copied, so the doc and this test cannot drift:

- each ``sh`` block's commands run one by one in bash, in a temporary folder, carrying the working
  directory and exported variables (``cd``, ``. .venv/bin/activate``) from one command to the next;
  ``CHECKOUT`` is this checkout, as the page asks the reader to set it. ``connector serve`` runs
  until it is SERVING, is asked ListAgents as propeller asks it, and is stopped with SIGINT (Ctrl-C);
- each line of a ``text`` block must be in what the ``sh`` block before it printed (runs of white
  space count as one space, so a wider or narrower table still matches);
- a block marked ``<!-- tutorial: excerpt PATH -->`` must be in the file PATH the commands wrote;
- the flytekit and Flyte 2 task definitions must be valid Python (tests/compat/test_tutorial_tasks.py
  serializes them with the real packages).

Docker images cannot be pulled here (no Docker Hub), so the ``docker build`` and ``docker run``
commands, the only ``console`` block, are not run. The Dockerfile is checked the way that can be
done here: a fresh virtualenv stands for the image (same Python as the tutorial's, which the page's
``--build-arg`` passes), its ``WORKDIR`` is a temporary folder, its ``COPY`` sources are copied from
the tutorial's folder, each ``RUN`` line runs there with its ``ENV`` and with no package index (pip
sees only what ``COPY`` brought, as ``--no-index`` promises), and its ``CMD`` runs with ``--host
127.0.0.1 --port 0 --prometheus-port off`` appended (click keeps the last value), so the test binds no
fixed port, until ListAgents lists the connector.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from flyteidl.admin import agent_pb2

from tests.server.served import Served
from tests.support.tutorial import Block, blocks
from tests.support.venvs import ROOT, Venv

TASK_TYPE = "my_service"
#: What the page may show in a ``console`` block without the test running it.
NOT_RUN = ("$ docker build ", "$ docker run ")


def normalized(text: str) -> str:
    return " ".join(text.split())


class Shell:
    """Runs one command at a time in bash, keeping the working directory and exports between them."""

    def __init__(self, root: Path, environ: dict[str, str]) -> None:
        self.environ = environ
        self.cwd = root / "work"
        self.cwd.mkdir()
        self.state = root / "shell-state"
        self.state.write_text("")
        self.where = root / "shell-cwd"

    def prelude(self) -> str:
        return f". {shlex.quote(str(self.state))}\ncd {shlex.quote(str(self.cwd))}\n"

    def run(self, command: str) -> str:
        """Run ``command``; its output (stdout then stderr). Fails the test when it exits non-zero."""
        script = (
            f"{self.prelude()}{command}\nstatus=$?\n"
            f"export -p > {shlex.quote(str(self.state))}\n"
            f"pwd > {shlex.quote(str(self.where))}\nexit $status\n"
        )
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{output}"
        self.cwd = Path(self.where.read_text().strip())
        return output

    def serve(self, command: str) -> str:
        """Start ``command`` (``connector serve ...``), check it serves the task type, stop it with Ctrl-C."""
        served = Served(
            ["bash", "--noprofile", "--norc", "-c", f"{self.prelude()}exec {command}"], self.environ
        )
        try:
            assert_lists_the_task_type(served)
        finally:
            code = served.stop(signal.SIGINT)
        output = "\n".join(served.stdout + served.stderr)
        assert code == 0, f"`{command}` exited {code} after SIGINT:\n{output}"
        return output


def assert_lists_the_task_type(served: Served) -> None:
    """ListAgents, as propeller asks it, names the tutorial's task type once the service is SERVING."""
    agents = served.v1_meta.ListAgents(agent_pb2.ListAgentsRequest(), timeout=10).agents
    served_types = {category.name for agent in agents for category in agent.supported_task_categories}
    assert TASK_TYPE in served_types, f"ListAgents: {served_types}\n" + "\n".join(served.stderr)


def check_excerpt(block: Block, folder: Path) -> None:
    """The excerpt's parts (split at its ``...`` lines, for lines left out) are in order in PATH."""
    path = folder / block.marker.removeprefix("excerpt ").strip()
    text = path.read_text()
    parts = re.split(r"^[ \t]*\.\.\.\n", block.body, flags=re.M)
    position = 0
    for part in parts:
        found = text.find(part, position)
        assert found >= 0, f"the tutorial's excerpt of {path.name} is not in the file:\n{part}\nfile:\n{text}"
        position = found + len(part)


def check_text(block: Block, output: str) -> None:
    for line in block.body.splitlines():
        if line.strip():
            assert normalized(line) in normalized(output), f"{line!r} is not in the output:\n{output}"


def dockerfile_instructions(body: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` for each instruction; comments dropped, continuations joined."""
    lines = [
        line for line in body.replace("\\\n", " ").splitlines() if line.strip() and not line.startswith("#")
    ]
    return [(line.split(None, 1)[0], line.split(None, 1)[1].strip()) for line in lines]


def run_dockerfile(body: str, context: Path, root: Path) -> None:
    """The Dockerfile's RUN lines and CMD in a fresh virtualenv standing for the image (module docstring)."""
    image = Venv(root / "image")
    app = root / "app"
    workdir = ""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "PIP_")) and k != "PYTHONPATH"
    }
    # Only what COPY brought: no index, no find-links of this machine's pip configuration.
    environ.update(PATH=f"{image.bin}{os.pathsep}{environ['PATH']}", PIP_CONFIG_FILE=os.devnull)
    command: list[str] = []
    for instruction, arguments in dockerfile_instructions(body):
        if instruction == "ARG":
            assert arguments.startswith("PYTHON_VERSION="), arguments
        elif instruction == "FROM":
            assert arguments == "python:${PYTHON_VERSION}-slim", arguments
        elif instruction == "WORKDIR":
            workdir = arguments
            app.mkdir()
        elif instruction == "ENV":
            name, _, value = arguments.partition("=")
            environ[name] = value.replace(workdir, str(app), 1) if workdir else value
        elif instruction == "COPY":
            source, target = arguments.split()
            shutil.copytree(context / source, app / target)
        elif instruction == "RUN":
            result = subprocess.run(
                ["bash", "-c", arguments], cwd=app, env=environ, capture_output=True, text=True, timeout=600
            )
            assert result.returncode == 0, f"RUN {arguments}:\n{result.stdout}{result.stderr}"
        elif instruction == "EXPOSE":
            assert arguments.split() == ["8000", "9090"], arguments
        elif instruction == "CMD":
            command = json.loads(arguments)
        else:
            raise AssertionError(f"the test does not know the Dockerfile instruction {instruction}")
    assert command[:2] == ["connector", "serve"], command
    served = Served(
        [
            str(image.bin / "connector"),
            *command[1:],
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--prometheus-port",
            "off",
        ],
        environ,
    )
    try:
        assert_lists_the_task_type(served)
    finally:
        code = served.stop(signal.SIGTERM)
    assert code == 0, "\n".join(served.stderr)


def base_environ(root: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_") and k != "PYTHONPATH"}
    # `python` is this interpreter until the tutorial activates its own virtualenv.
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ['PATH']}"
    environ["CHECKOUT"] = str(ROOT)
    # The journal, keys and caches of the tutorial's runs stay in the test's folder.
    environ["CONNECTOR_HOME"] = str(root / "connector-home")
    return environ


def test_the_page_has_the_blocks_the_test_expects() -> None:
    """Cheap, and not e2e: a block the test would not understand fails here first."""
    infos = [block.info for block in blocks()]
    assert set(infos) <= {"sh", "text", "python", "toml", "dockerfile", "console"}, infos
    markers = sorted(block.marker.split()[0] for block in blocks() if block.marker)
    assert markers == ["dockerfile", "excerpt", "excerpt", "flyte", "flytekit"]
    for block in blocks():
        if block.info == "console":
            assert all(line.startswith(NOT_RUN) for line in block.body.splitlines()), block.body
        if block.info == "python":
            ast.parse(block.body)  # the flytekit and Flyte 2 task definitions, and the excerpt, parse
    serve = [c for block in blocks() if block.info == "sh" for c in block.commands if "connector serve" in c]
    assert serve == ["connector serve --port 0 --prometheus-port off"]


@pytest.mark.e2e
def test_every_command_of_the_tutorial_runs(tmp_path: Path) -> None:
    shell = Shell(tmp_path, base_environ(tmp_path))
    output = ""
    ran = 0
    for block in blocks():
        if block.info == "sh":
            output = ""
            for command in block.commands:
                output += (
                    shell.serve(command) if re.match(r"connector serve\b", command) else shell.run(command)
                )
                ran += 1
        elif block.info == "text":
            check_text(block, output)
        elif block.marker.startswith("excerpt "):
            check_excerpt(block, shell.cwd)
        elif block.marker == "dockerfile":
            run_dockerfile(block.body, shell.cwd, tmp_path)
    assert ran >= 10  # the page has its commands (a parser that found none would pass otherwise)
