"""The messages the README quotes are the ones connector-flyte gives."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import grpc
from cli_runs import connector
from connector_flyte import FlyteProvider
from connector_flyte._flyte import version_problem
from flyteidl.admin import agent_pb2
from flyteidl.core import tasks_pb2
from flyteidl.service import agent_pb2_grpc
from side_by_side import Services, call

from connector import ProvidedConnector

README = Path(__file__).resolve().parents[1] / "README.md"


def quoted_messages() -> list[str]:
    """The ``text`` blocks of the README, each one message."""
    blocks = re.findall(r"```text\n(.*?)\n\s*```", README.read_text(), flags=re.DOTALL)
    return [block.strip() for block in blocks]


async def v1_refusal() -> str:
    provider = FlyteProvider()
    connectors = [provider.load(p) for p in provider.provided() if isinstance(p, ProvidedConnector)]
    async with Services(connectors) as services:
        stub = agent_pb2_grpc.AsyncAgentServiceStub(services.channels[1])
        request = agent_pb2.CreateTaskRequest(template=tasks_pb2.TaskTemplate(type="acme_job"))
        answer = await call(stub.CreateTask, request)
    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT
    return answer.details


def broken_entry(sites: dict[str, Path], home: Path) -> str:
    """The error ``connector list`` gives for the broken package."""
    result = connector(["list", "--json"], [sites["acme"], sites["broken"]], home)
    (error,) = [item["error"] for item in json.loads(result.stdout) if item["state"] == "broken"]
    return str(error)


async def test_the_readme_quotes_the_real_messages(
    install: Callable[..., None], sites: dict[str, Path], tmp_path: Path
) -> None:
    install("acme")
    assert quoted_messages() == [version_problem("3.0.0"), await v1_refusal(), broken_entry(sites, tmp_path)]
