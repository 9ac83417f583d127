"""FlytekitMeta: a flytekit connector's own resource-meta bytes, carried inside connector's resource meta."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any, ClassVar

import connector

if TYPE_CHECKING:
    from typing_extensions import Self

#: The one field of ``FlytekitMeta`` (a base64 string inside ``{"v": 1, "data": {...}}``).
_FIELD = "flytekit_meta"
#: What the core's encoder writes around that base64 string (compact JSON, keys sorted).
_PREFIX = b'{"data":{"flytekit_meta":"'
_SUFFIX = b'"},"v":1}'


@dataclasses.dataclass
class FlytekitMeta(connector.ResourceMeta):
    """The bytes a flytekit connector's ``resource_meta.encode()`` returned at ``create``, unchanged.

    ``encode`` writes them as ``{"data": {"flytekit_meta": "<base64>"}, "v": 1}`` (the service signs
    that). ``decode`` reads that form, and also takes any other bytes as flytekit's own: what
    flytekit's ``pyflyte serve connector`` handed out (plain JSON, or a pickle for connectors that
    override ``encode``), so a job it created continues here after a switch-over. The core hands
    such unsigned bytes over only when the operator sets ``CONNECTOR_ACCEPT_UNSIGNED_META=1``, and
    reads them with ``decode_unsigned``.

    ``bridge`` gives each bridged connector a subclass of its own (``for_connector``) that knows the
    flytekit connector's ``metadata_type``: ``decode_unsigned`` accepts bytes no signature vouches
    for only when that type decodes with flytekit's default JSON ``decode``, or, when it overrides
    ``decode`` (a pickle), only with ``CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META=1``. The bytes are
    never sniffed.
    """

    flytekit_meta: bytes
    #: Whether these bytes arrived as flytekit's own, outside this class's form (set by ``decode``).
    plain: bool = dataclasses.field(default=False, compare=False, repr=False)

    # flytekit's plain JSON is read by ``decode`` below, not by the core's plain-JSON path.
    accepts_plain_json: ClassVar[bool] = False
    #: The flytekit connector whose metas these are (set on the subclass ``for_connector`` makes).
    flytekit_connector: ClassVar[Any] = None

    @classmethod
    def for_connector(cls, flytekit_connector: Any) -> type[FlytekitMeta]:
        """A subclass (named ``FlytekitMeta`` too) whose ``decode_unsigned`` knows ``flytekit_connector``."""
        attributes = {"flytekit_connector": flytekit_connector, "__module__": __name__}
        return dataclasses.dataclass(type(cls.__name__, (cls,), attributes))

    def encode(self) -> bytes:
        """``{"data": {"flytekit_meta": "<base64>"}, "v": 1}``: the flytekit bytes, base64-encoded.

        The bytes are the core's encoding of ``_Wire``, written directly: every CreateTask of a
        bridged connector encodes one, and checks that it decodes (issue 11's pairs/s).
        """
        flytekits = self.flytekit_meta
        wrong: object = flytekits  # a plugin's encode() that gave no bytes: the core's encoding says how
        if not isinstance(wrong, (bytes, bytearray)):
            return _Wire(flytekits).encode()
        data = _PREFIX + binascii.b2a_base64(flytekits, newline=False) + _SUFFIX
        if len(data) > _Wire.max_encoded_size:  # the core's refusal, in its words
            return _Wire(flytekits).encode()
        return data

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """This class's form, or any other bytes taken as flytekit's own (``plain`` is then True)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise connector.ResourceMetaError(
                f"cannot decode {cls.__name__}: expected bytes, got {type(data).__name__}"
            )
        raw = bytes(data)
        if len(raw) > cls.max_encoded_size:
            raise connector.ResourceMetaError(
                f"cannot decode {cls.__name__}: {len(raw)} bytes is over the limit of {cls.max_encoded_size}"
            )
        written = _as_written(raw)
        if written is not None:
            return cls(flytekit_meta=written)
        try:
            ours = _is_ours(raw)
        except RecursionError:  # {"a":[[[[... nested past the interpreter's limit
            raise connector.ResourceMetaError(
                f"cannot decode {cls.__name__}: its JSON is nested too deeply to be a resource meta"
            ) from None
        if ours:
            return cls(flytekit_meta=_Wire.decode(raw).flytekit_meta)
        return cls(flytekit_meta=raw, plain=True)

    @classmethod
    def decode_unsigned(cls, data: bytes) -> Self:
        """``decode`` of bytes no signature vouches for, if flytekit's ``decode`` runs no caller's code.

        Any caller may have sent them. flytekit's default ``ResourceMeta.decode`` is JSON; a
        connector that overrides it may unpickle (flytekitplugins-openai's batch meta is
        ``cloudpickle.loads``), which would run the caller's code here: refused then unless
        ``CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META=1``. Whether the connector overrides ``decode`` is
        read from its class, never guessed from the bytes (a protocol-0 pickle is printable text).
        """
        from ._settings import PICKLED_META_VARIABLE, flag

        fk = cls.flytekit_connector
        if fk is None:
            raise connector.ResourceMetaError(
                f"cannot decode {cls.__name__}: unsigned bytes are read only by the meta of a bridged "
                "connector (connector_flytekit.bridge), which knows how flytekit decodes them"
            )
        decoder = _custom_decoder(fk.metadata_type)
        if decoder is not None and not flag(PICKLED_META_VARIABLE):
            category = fk.task_category
            raise connector.ResourceMetaError(
                f"cannot decode {cls.__name__}: flytekit's {type(fk).__name__} (task type "
                f"{category.name}@{category.version}) decodes its metas with its own {decoder} (not "
                f"flytekit's JSON one), which may unpickle them, and no signature of this service "
                f"vouches for these bytes: any caller may have sent them, and decoding them could run "
                f"its code here. Finish the switch-over and unset CONNECTOR_ACCEPT_UNSIGNED_META, or set "
                f"{PICKLED_META_VARIABLE}=1 to accept that risk as flytekit's own service does"
            )
        return cls.decode(data)


@dataclasses.dataclass
class _Wire(connector.ResourceMeta):
    """The encoded form: the core's versioned JSON of one bytes field, without ``plain``."""

    flytekit_meta: bytes


# The core's messages name the class ("cannot decode FlytekitMeta: ..."): the one users know.
_Wire.__name__ = _Wire.__qualname__ = "FlytekitMeta"


def _as_written(data: bytes) -> bytes | None:
    """The flytekit bytes of a meta exactly as ``encode`` writes it; None for any other form.

    Without JSON: the base64 alphabet holds no quote or backslash, so the prefix, a strict base64
    string and the suffix are that JSON document and nothing else. Other forms (keys in another
    order, spaces) are read by ``_is_ours`` and ``_Wire.decode``, with the same result.
    """
    if not len(_PREFIX) + len(_SUFFIX) <= len(data) <= _Wire.max_encoded_size:  # _Wire.decode's limits
        return None
    if not data.startswith(_PREFIX) or not data.endswith(_SUFFIX):
        return None
    try:
        return _strict_b64decode(data[len(_PREFIX) : -len(_SUFFIX)])
    except binascii.Error:
        return None


if sys.version_info >= (3, 11):

    def _strict_b64decode(text: bytes) -> bytes:
        # binascii's strict mode refuses what b64decode(validate=True) refuses (characters outside
        # the alphabet, bad padding) without its Python wrapper and regular expression.
        return binascii.a2b_base64(text, strict_mode=True)

else:

    def _strict_b64decode(text: bytes) -> bytes:
        return base64.b64decode(text, validate=True)


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


def _custom_decoder(metadata_type: Any) -> str | None:
    """The ``Class.decode`` overriding flytekit's default JSON one in ``metadata_type``'s MRO; None if none.

    Anything that is not a class derived from flytekit's ``ResourceMeta`` counts as overriding it.
    """
    from flytekit.extend.backend.base_connector import ResourceMeta as FlytekitResourceMeta

    if not isinstance(metadata_type, type) or not issubclass(metadata_type, FlytekitResourceMeta):
        return f"{getattr(metadata_type, '__qualname__', type(metadata_type).__qualname__)}.decode"
    for klass in metadata_type.__mro__:
        if klass is FlytekitResourceMeta:
            return None
        if "decode" in vars(klass):
            return f"{klass.__qualname__}.decode"
    return None
