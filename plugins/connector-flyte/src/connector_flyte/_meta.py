"""FlyteMeta: a Flyte 2 connector's own resource-meta bytes, carried in connector-core's resource meta."""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import TYPE_CHECKING, Any, ClassVar

from connector import ResourceMeta, ResourceMetaError

from ._pickles import PICKLED_META_VARIABLE, accepts, decodes_as_json

if TYPE_CHECKING:
    from typing_extensions import Self


@dataclasses.dataclass
class FlyteMeta(ResourceMeta):
    """The bytes a Flyte 2 connector's ``ResourceMeta.encode()`` wrote, as its service would send them.

    ``encode`` writes connector-core's document (``{"v": 1, "data": {"flyte_meta": "<base64>"}}``),
    which the service signs. ``decode`` reads that, and also any other bytes as Flyte 2's own meta
    (plain JSON from ``flyte.connectors.ResourceMeta.encode``, or whatever a connector's own
    ``encode`` writes): a job Flyte 2's service started goes on here after a switch-over, once the
    operator accepts unsigned metas (``CONNECTOR_ACCEPT_UNSIGNED_META=1``) and the connector's meta
    class decodes with Flyte 2's JSON ``decode`` (``decode_unsigned``; others may unpickle).

    Each bridged connector has its own subclass (``for_flyte_meta``), whose ``decode`` also has the
    Flyte 2 connector's ``metadata_type`` decode the bytes: bytes it does not read are refused
    (``ResourceMetaError``, so INVALID_ARGUMENT) before any hook runs.
    """

    flyte_meta: bytes

    #: The Flyte 2 connector's own ``metadata_type`` (None: the bytes are not checked).
    flyte_metadata_type: ClassVar[Any] = None

    @staticmethod
    @functools.cache  # one class per Flyte 2 meta class, like the classes themselves
    def for_flyte_meta(flyte_metadata_type: Any) -> type[FlyteMeta]:
        """The ``FlyteMeta`` subclass of a Flyte 2 connector whose meta class is ``flyte_metadata_type``."""
        name = f"Flyte{getattr(flyte_metadata_type, '__name__', 'Meta')}"
        namespace = {"flyte_metadata_type": flyte_metadata_type, "__module__": __name__, "__qualname__": name}
        subclass: type[FlyteMeta] = dataclasses.dataclass(type(name, (FlyteMeta,), namespace))
        return subclass

    @classmethod
    def decode(cls, data: object) -> Self:
        """Decode connector-core's document of a ``FlyteMeta``, or take other bytes as Flyte 2's own."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            got = type(data).__name__
            raise ResourceMetaError(f"cannot decode {cls.__name__}: expected bytes, got {got}")
        data = bytes(data)
        if not _is_document(data):
            if len(data) > cls.max_encoded_size:
                limit = cls.max_encoded_size
                raise ResourceMetaError(
                    f"cannot decode {cls.__name__}: {len(data)} bytes is over the limit of {limit}"
                )
            meta = cls(flyte_meta=data)
        else:
            meta = super().decode(data)
        meta.flyte_decoded()
        return meta

    @classmethod
    def decode_unsigned(cls, data: bytes) -> Self:
        """Decode bytes no signature vouches for, when the Flyte 2 meta class cannot unpickle them.

        Any caller may send such bytes while unsigned metas are accepted, and the connector's meta
        class decodes them. Flyte 2's own ``decode`` is ``json.loads``; a class that overrides it
        (or no class at all) may unpickle, running the caller's code, so its bytes are refused
        unless the operator sets ``CONNECTOR_FLYTE_ACCEPT_PICKLED_META=1`` (issue 11).
        """
        metadata_type = cls.flyte_metadata_type
        if metadata_type is not None and decodes_as_json(metadata_type):
            return cls.decode(data)
        if accepts(PICKLED_META_VARIABLE):
            return cls.decode(data)
        if metadata_type is None:
            what = "no Flyte 2 meta class checks them"
        else:
            owner = f"{metadata_type.__module__}.{metadata_type.__qualname__}"
            what = f"{owner} decodes them with its own decode, not Flyte 2's JSON one, and may unpickle them"
        raise ResourceMetaError(
            f"cannot decode {cls.__name__}: no signature vouches for these bytes and {what}, which would "
            "run a caller's code; send the meta this service signed, or have the operator accept that "
            f"risk for every caller with {PICKLED_META_VARIABLE}=1"
        )

    def flyte_decoded(self) -> Any:
        """The Flyte 2 connector's meta, decoded by its ``metadata_type`` (the bytes when there is none).

        Raises ``ResourceMetaError`` when that ``decode`` raises.
        """
        metadata_type = self.flyte_metadata_type
        if metadata_type is None:
            return self.flyte_meta
        try:
            return metadata_type.decode(self.flyte_meta)
        except Exception as exc:
            raise ResourceMetaError(
                f"cannot decode {type(self).__name__}: Flyte 2's {metadata_type.__qualname__}.decode raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def _is_document(data: bytes) -> bool:
    """Whether ``data`` is ``FlyteMeta.encode``'s document: ``{"v": ..., "data": {"flyte_meta": ...}}``."""
    if not data.startswith(b"{"):
        return False
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(document, dict)
        and document.keys() == {"v", "data"}
        and isinstance(document["data"], dict)
        and "flyte_meta" in document["data"]
    )
