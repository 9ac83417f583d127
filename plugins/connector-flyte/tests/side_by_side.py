"""Flyte 2's own connector service and ``connector serve``'s, in this process, over loopback gRPC.

``Services`` starts Flyte 2's ``AsyncConnectorService`` and ``ConnectorMetadataService`` (the
servicers ``flyte.connectors.ConnectorService.run`` serves; they find connectors in Flyte 2's
global ``ConnectorRegistry``) and connector-core's ``ConnectorService`` with the bridged
connectors. The same requests go to both through the generated flyteidl2 stubs.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from flyteidl2.connector import connector_pb2, service_pb2_grpc
from flyteidl2.core import security_pb2

from connector.registry._signing import MetaSigner
from connector.server import ConnectorService, ServiceOptions
from connector.testing import registry_of

KEYS = {"CONNECTOR_META_KEYS": "k1=" + "s" * 32}
OUTPUT_PREFIX = "s3://acme-bucket/metadata/acme-development/r1/a0"
SECRET = "s3cr3t-token"


@dataclasses.dataclass
class Answer:
    """A gRPC call's outcome: its status code and details, and the response when the code is OK."""

    code: grpc.StatusCode
    details: str
    response: Any = None


async def call(method: Any, request: Any) -> Answer:
    try:
        return Answer(grpc.StatusCode.OK, "", await method(request, timeout=30))
    except grpc.aio.AioRpcError as exc:
        return Answer(exc.code(), exc.details() or "")


async def stream(method: Any, request: Any) -> Answer:
    try:
        return Answer(grpc.StatusCode.OK, "", [item async for item in method(request, timeout=30)])
    except grpc.aio.AioRpcError as exc:
        return Answer(exc.code(), exc.details() or "")


class Services:
    """Both services on loopback ports, and a stub pair for each (``flyte``, ``ours``)."""

    def __init__(self, connectors: Sequence[object], environ: dict[str, str] | None = None) -> None:
        self.connectors = connectors
        self.environ = {**KEYS, **(environ or {})}

    async def __aenter__(self) -> Services:
        from flyte.connectors._server import AsyncConnectorService, ConnectorMetadataService

        self.flyte_server = grpc.aio.server()
        service_pb2_grpc.add_AsyncConnectorServiceServicer_to_server(
            AsyncConnectorService(), self.flyte_server
        )
        service_pb2_grpc.add_ConnectorMetadataServiceServicer_to_server(
            ConnectorMetadataService(), self.flyte_server
        )
        flyte_port = self.flyte_server.add_insecure_port("127.0.0.1:0")
        await self.flyte_server.start()
        signer = MetaSigner.from_environ(self.environ)
        options = ServiceOptions(port=0, prometheus_port=None)
        self.ours = ConnectorService(registry_of(*self.connectors), options, signer=signer)
        await self.ours.start()
        await self.ours.ready.wait()
        self.channels = [
            grpc.aio.insecure_channel(f"127.0.0.1:{flyte_port}"),
            grpc.aio.insecure_channel(f"127.0.0.1:{self.ours.port}"),
        ]
        self.flyte = service_pb2_grpc.AsyncConnectorServiceStub(self.channels[0])
        self.mine = service_pb2_grpc.AsyncConnectorServiceStub(self.channels[1])
        self.flyte_meta = service_pb2_grpc.ConnectorMetadataServiceStub(self.channels[0])
        self.mine_meta = service_pb2_grpc.ConnectorMetadataServiceStub(self.channels[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        for channel in self.channels:
            await channel.close()
        await self.ours.stop(0)
        await self.flyte_server.stop(0)

    async def both(self, rpc: str, request: Any, *, streamed: bool = False) -> tuple[Answer, Answer]:
        """The answers of Flyte 2's service and ours to the same request."""
        send = stream if streamed else call
        return await asyncio.gather(
            send(getattr(self.flyte, rpc), request), send(getattr(self.mine, rpc), request)
        )


def connection(state_dir: Path) -> Any:
    """A Connection as Flyte 2 sends it: a secret and two configs."""
    return security_pb2.Connection(
        secrets={"acme_token": SECRET}, configs={"state_dir": str(state_dir), "region": "eu-west"}
    )


def execution_metadata() -> Any:
    return connector_pb2.TaskExecutionMetadata(
        namespace="acme-development",
        labels={"run": "r1"},
        k8s_service_account="default",
        environment_variables={"ACME_ENV": "test"},
        max_attempts=2,
    )


async def acme_task(n: int = 3, name: str = "ada", weights: Sequence[float] = (0.5, 1.25)) -> tuple[Any, Any]:
    """An ``acme_job`` template serialized by Flyte 2 (``get_proto_task``, what ``flyte deploy`` sends)
    and its inputs converted by Flyte 2 (``convert_from_native_to_inputs``)."""
    from acme_flyte.task import AcmeTask
    from flyte._internal.runtime.convert import convert_from_native_to_inputs
    from flyte._internal.runtime.task_serde import get_proto_task
    from flyte.models import SerializationContext

    task = AcmeTask(name="acme.query", warehouse="wh-1", parent_env_name="acme")
    context = SerializationContext(version="v1", project="acme", domain="development", org="acme")
    template = get_proto_task(task, context)
    inputs = await convert_from_native_to_inputs(task.interface, n=n, name=name, weights=list(weights))
    return template, inputs.proto_inputs


def create_request(template: Any, inputs: Any, state_dir: Path) -> Any:
    return connector_pb2.CreateTaskRequest(
        template=template,
        inputs=inputs,
        output_prefix=OUTPUT_PREFIX,
        task_execution_metadata=execution_metadata(),
        connection=connection(state_dir),
    )


def category(name: str = "acme_job", version: int = 0) -> Any:
    return connector_pb2.TaskCategory(name=name, version=version)
