"""Server reflection under both names clients ask for: ``grpc.reflection.v1`` and ``v1alpha``.

grpcio-reflection is imported, and the v1 descriptor made, on the first reflection call, not
before the port is bound: the service's cold start does not pay for them (issue 13).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    from google.protobuf import descriptor_pb2

#: grpcio-reflection's service name (``grpc.reflection.v1alpha.ServerReflection``).
V1ALPHA_SERVICE_NAME = "grpc.reflection.v1alpha.ServerReflection"
_V1_PACKAGE = "grpc.reflection.v1"
#: The stable protocol's service name, which grpcurl and Postman ask for first.
V1_SERVICE_NAME = f"{_V1_PACKAGE}.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"


def v1_file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """``grpc/reflection/v1/reflection.proto``, made from grpcio-reflection's v1alpha file.

    The two protos differ in their package and file options only (grpc-proto's v1 was copied from
    v1alpha): every message, field number and the one method are the same, so both are served by
    one servicer and this descriptor answers v1 clients that ask for the v1 symbols.
    """
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old = f".{proto.package}."
    proto.name, proto.package = _V1_FILE, _V1_PACKAGE
    proto.ClearField("options")
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = f".{_V1_PACKAGE}.{field.type_name[len(old) :]}"
    for service in proto.service:
        for method in service.method:
            method.input_type = f".{_V1_PACKAGE}.{method.input_type[len(old) :]}"
            method.output_type = f".{_V1_PACKAGE}.{method.output_type[len(old) :]}"
    return proto


class _Pools:
    """The default descriptor pool, then a private one holding the v1 reflection file.

    The v1 file is not added to the process-wide default pool: a later import of a generated v1
    module (a grpcio-reflection that ships one) would then clash with it.
    """

    def __init__(self) -> None:
        from google.protobuf import descriptor_pool

        self._default = descriptor_pool.Default()
        self._extra = descriptor_pool.DescriptorPool()
        self._extra.Add(v1_file_descriptor())

    def _find(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._default, method)(*args)
        except KeyError:
            return getattr(self._extra, method)(*args)

    def FindFileByName(self, name: str) -> Any:
        return self._find("FindFileByName", name)

    def FindFileContainingSymbol(self, symbol: str) -> Any:
        return self._find("FindFileContainingSymbol", symbol)

    def FindMessageTypeByName(self, name: str) -> Any:
        return self._find("FindMessageTypeByName", name)

    def FindExtensionByNumber(self, message: Any, number: int) -> Any:
        return self._default.FindExtensionByNumber(message, number)

    def FindAllExtensions(self, message: Any) -> Any:
        return self._default.FindAllExtensions(message)


class _Reflection:
    """grpcio-reflection's servicer, made on the first call."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names
        self._servicer: Any = None

    async def ServerReflectionInfo(self, requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        if self._servicer is None:
            from grpc_reflection.v1alpha import reflection

            self._servicer = reflection.aio.ReflectionServicer(self._names, pool=_Pools())
        async for response in self._servicer.ServerReflectionInfo(requests, context):
            yield response


def _parse_request(data: bytes) -> Any:
    from grpc_reflection.v1alpha import reflection_pb2

    return reflection_pb2.ServerReflectionRequest.FromString(data)


def _serialize_response(response: Any) -> bytes:
    return response.SerializeToString()  # type: ignore[no-any-return]


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Answer reflection for ``service_names`` (and both reflection services) on ``server``."""
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    handler = grpc.stream_stream_rpc_method_handler(
        _Reflection(names).ServerReflectionInfo,
        request_deserializer=_parse_request,
        response_serializer=_serialize_response,
    )
    for service in (V1ALPHA_SERVICE_NAME, V1_SERVICE_NAME):
        # The same bytes on the wire under either name (see v1_file_descriptor).
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )
