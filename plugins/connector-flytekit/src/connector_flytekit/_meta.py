"""FlytekitMeta: a flytekit connector's own resource-meta bytes, carried inside connector's resource meta."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, ClassVar

import connector

if TYPE_CHECKING:
    from typing_extensions import Self

#: The one field of ``FlytekitMeta`` (a base64 string inside ``{"v": 1, "data": {...}}``).
_FIELD = "flytekit_meta"


@dataclasses.dataclass
class FlytekitMeta(connector.ResourceMeta):
    """The bytes a flytekit connector's ``resource_meta.encode()`` returned at ``create``, unchanged.

    ``encode`` writes them as ``{"data": {"flytekit_meta": "<base64>"}, "v": 1}`` (the service signs
    that). ``decode`` reads that form, and also takes any other bytes as flytekit's own: what
    flytekit's ``pyflyte serve connector`` handed out (plain JSON, or a pickle for connectors that
    override ``encode``), so a job it created continues here after a switch-over. The core hands
    such unsigned bytes over only when the operator sets ``CONNECTOR_ACCEPT_UNSIGNED_META=1``.
    """

    flytekit_meta: bytes
    #: Whether these bytes arrived as flytekit's own, outside this class's form (set by ``decode``).
    plain: bool = dataclasses.field(default=False, compare=False, repr=False)

    # flytekit's plain JSON is read by ``decode`` below, not by the core's plain-JSON path.
    accepts_plain_json: ClassVar[bool] = False

    def encode(self) -> bytes:
        """``{"data": {"flytekit_meta": "<base64>"}, "v": 1}``: the flytekit bytes, base64-encoded."""
        return _Wire(self.flytekit_meta).encode()

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """This class's form, or any other bytes taken as flytekit's own (``plain`` is then True)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise connector.ResourceMetaError(
                f"cannot decode {cls.__name__}: expected bytes, got {type(data).__name__}"
            )
        raw = bytes(data)
        if _is_ours(raw):
            return cls(flytekit_meta=_Wire.decode(raw).flytekit_meta)
        if len(raw) > cls.max_encoded_size:
            raise connector.ResourceMetaError(
                f"cannot decode {cls.__name__}: {len(raw)} bytes is over the limit of {cls.max_encoded_size}"
            )
        return cls(flytekit_meta=raw, plain=True)


@dataclasses.dataclass
class _Wire(connector.ResourceMeta):
    """The encoded form: the core's versioned JSON of one bytes field, without ``plain``."""

    flytekit_meta: bytes


# The core's messages name the class ("cannot decode FlytekitMeta: ..."): the one users know.
_Wire.__name__ = _Wire.__qualname__ = "FlytekitMeta"


def _is_ours(data: bytes) -> bool:
    """Whether ``data`` is ``FlytekitMeta.encode``'s form: ``{"v": 1, "data": {"flytekit_meta": ...}}``."""
    if not data.startswith(b"{"):
        return False
    try:
        document: Any = json.loads(data)
    except ValueError:
        return False
    return (
        isinstance(document, dict)
        and document.keys() == {"v", "data"}
        and isinstance(document["data"], dict)
        and document["data"].keys() == {_FIELD}
    )
