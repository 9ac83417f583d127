"""Request parsing and method registration: corrupt request bytes become INVALID_ARGUMENT, not UNKNOWN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from .._exceptions import BadRequestError


class Undecodable:
    """A request whose bytes are not the message the method takes (the servicer answers INVALID_ARGUMENT)."""

    def __init__(self, type_name: str, error: Exception) -> None:
        self.type_name = type_name
        self.error = error

    def fail(self) -> BadRequestError:
        """The error to raise for it."""
        return BadRequestError(f"the request is not a valid {self.type_name}: {self.error}", field="request")


def decoded(message: Any) -> Any:
    """``message``, or raise ``BadRequestError`` when its bytes could not be parsed (None passes)."""
    if isinstance(message, Undecodable):
        raise message.fail()
    return message


def _lenient_parser(message_class: Any) -> Callable[[bytes], Any]:
    # grpc answers a deserializer's exception with UNKNOWN before any handler runs; parsing here
    # and failing in the handler makes a corrupt request what it is, INVALID_ARGUMENT.
    def parse(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except Exception as exc:
            return Undecodable(message_class.DESCRIPTOR.full_name, exc)

    return parse


#: The methods registered with gRPC's core: GetTask, of either protocol, which propeller calls at
#: every poll of every running task (far the most frequent call).
REGISTERED_METHODS = frozenset(("GetTask",))


def add_to_server(server: grpc.aio.Server, servicer: object, service: Any) -> None:
    """Register ``servicer``'s methods for the service descriptor ``service``, parsing requests leniently."""
    from google.protobuf import message_factory

    handlers = {}
    for method in service.methods:
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        make = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=_lenient_parser(request_class),
            response_serializer=response_class.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    # GetTask is also registered (grpcio >= 1.63): C-core then matches it itself and accepts
    # several at once, a fifth more pairs/s at 8 client threads. Only GetTask: grpc.aio keeps one
    # pending request per registered method and waits on all of them (asyncio.wait) at every call,
    # so each method registered costs every call about 100 bytecodes (issue 13); registering
    # CreateTask and ExecuteTaskSync too measured no faster, at 1, 8 or 1000 concurrent calls.
    hot = {name: handler for name, handler in handlers.items() if name in REGISTERED_METHODS}
    register = getattr(server, "add_registered_method_handlers", None)
    if register is not None and hot:
        register(service.full_name, hot)
