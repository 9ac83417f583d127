"""Server reflection under both names clients ask for: ``grpc.reflection.v1`` and ``v1alpha``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

#: grpcio-reflection's service name (``grpc.reflection.v1alpha.ServerReflection``).
V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
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


def enable_reflection(service_names: Iterable[str], server: grpc.aio.Server) -> None:
    """Answer reflection for ``service_names`` (and both reflection services) on ``server``."""
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    servicer = reflection.aio.ReflectionServicer(names, pool=_Pools())
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    for service in (V1ALPHA_SERVICE_NAME, V1_SERVICE_NAME):
        # The same bytes on the wire under either name (see v1_file_descriptor).
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )
