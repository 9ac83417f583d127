"""Method registration: GetTask is registered with gRPC's core, every method has a generic handler."""

from __future__ import annotations

from typing import Any

import grpc
from flyteidl.service import agent_pb2 as v1_service_pb2
from flyteidl2.connector import service_pb2 as v2_service_pb2

from connector.server._wire import add_to_server


class Recording:
    """A real grpc.aio server whose registrations are also written down."""

    def __init__(self) -> None:
        self.server = grpc.aio.server()
        self.generic: list[Any] = []
        self.registered: dict[str, list[str]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.generic.extend(handlers)
        self.server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.registered[service] = sorted(handlers)
        self.server.add_registered_method_handlers(service, handlers)


class Servicer:
    """Any method: registration only reads them."""

    def __getattr__(self, name: str) -> Any:
        async def method(request: Any, context: Any) -> Any:
            raise AssertionError("not called")

        return method


async def test_only_get_task_is_registered() -> None:
    # grpc.aio waits on one pending request per registered method at every call: the others go
    # through the generic handler only.
    recording = Recording()
    for module in (v1_service_pb2, v2_service_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            add_to_server(recording, Servicer(), service)  # type: ignore[arg-type]
    assert recording.registered == {
        "flyteidl.service.AsyncAgentService": ["GetTask"],
        "flyteidl2.connector.AsyncConnectorService": ["GetTask"],
    }
    # Every method, registered or not, also has its generic handler (older grpcio, the rare ones).
    served = {
        f"/{service.full_name}/{method.name}"
        for module in (v1_service_pb2, v2_service_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    handled = {
        name
        for name in served
        for generic in recording.generic
        if generic.service(_Details(name)) is not None
    }
    assert handled == served


class _Details:
    """What a generic handler is asked: the method's full name."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()
