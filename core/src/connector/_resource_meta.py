"""ResourceMeta: the job handle a connector returns from create, encoded as versioned JSON bytes."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import functools
import json
import math
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # typing_extensions costs ~3 ms to import; `connector list` need not pay it
    from typing_extensions import Self

from ._exceptions import ResourceMetaError

#: The format version written into every encoded meta; decode refuses newer ones.
FORMAT_VERSION = 1


@dataclasses.dataclass
class ResourceMeta:
    """The metadata of one job, such as its id: all a connector needs to find the job again.

    Subclass it as a dataclass. The service sends ``encode()``'s bytes to the workflow engine and
    hands ``decode(bytes)``'s result back to ``get``, ``delete``, ``get_logs`` and ``get_metrics``,
    possibly in another process: keep everything the job needs in the fields.

    Field values may be ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``datetime``,
    ``date``, ``time``, ``timedelta``, enums, nested dataclasses, and lists, tuples, sets and
    string-keyed dicts of these. Encoding is JSON (never pickle); decoding follows the field
    annotations, ignores keys it does not know (so a newer writer's meta still decodes) and raises
    ``ResourceMetaError`` on anything else; with ``accepts_plain_json`` it also reads the fields
    as a plain JSON object. In a ``Union`` the first member the value fits wins, so
    list ``str`` after ``datetime``, ``bytes`` or enums in one. An aware ``datetime`` keeps its UTC
    offset but not its time zone: a ``ZoneInfo`` comes back as a fixed offset.
    """

    #: Largest encoded size accepted by encode and decode, in bytes.
    max_encoded_size: ClassVar[int] = 64 * 1024
    #: Whether ``decode`` also reads the plain JSON object of the fields (``{"job_id": "..."}``),
    #: the form flytekit's and Flyte 2's services write. Set it on a meta whose field names are
    #: theirs, so jobs they started are polled and deleted after a switch-over (issue 10).
    accepts_plain_json: ClassVar[bool] = False

    def encode(self) -> bytes:
        """Encode this meta to bytes (UTF-8 JSON ``{"v": 1, "data": {...}}``)."""
        return self._encoded(_dump_fields(self))

    def _encoded(self, fields: Any) -> bytes:
        try:
            data = _encode_json({"v": FORMAT_VERSION, "data": fields}).encode()
        except (TypeError, ValueError) as exc:
            raise ResourceMetaError(f"cannot encode {type(self).__name__}: {exc}") from exc
        if len(data) > self.max_encoded_size:
            raise ResourceMetaError(
                f"encoded {type(self).__name__} is {len(data)} bytes, over the limit of "
                f"{self.max_encoded_size}; keep large data out of the resource meta"
            )
        return data

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Decode bytes written by ``encode`` into an instance of this class."""
        name = cls.__name__
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ResourceMetaError(f"cannot decode {name}: expected bytes, got {type(data).__name__}")
        if len(data) > cls.max_encoded_size:
            raise ResourceMetaError(
                f"cannot decode {name}: {len(data)} bytes is over the limit of {cls.max_encoded_size}"
            )
        try:
            # NaN, Infinity and numbers past a float's range are refused as encode refuses them
            # (issue 9): json.loads alone reads all three into a float field.
            raw = bytes(data)
            # What encode writes starts with '{"', which detect_encoding would call UTF-8 too.
            encoding = "utf-8" if raw[:2] == b'{"' else json.detect_encoding(raw)
            document = _decode_json(raw.decode(encoding, "surrogatepass"))
        except _NotFinite as exc:
            raise ResourceMetaError(
                f"cannot decode {name}: {exc}; encode never writes NaN or infinite numbers"
            ) from None
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise ResourceMetaError(f"cannot decode {name}: not a JSON resource meta ({exc})") from exc
        if cls.accepts_plain_json and not _is_envelope(document):
            document = {"v": FORMAT_VERSION, "data": document}
        if not isinstance(document, dict) or "v" not in document or "data" not in document:
            raise ResourceMetaError(f"cannot decode {name}: not a resource meta document")
        version = document["v"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ResourceMetaError(f"cannot decode {name}: bad format version {version!r}")
        if version > FORMAT_VERSION:
            raise ResourceMetaError(
                f"cannot decode {name}: format version {version} is newer than this connector-core "
                f"understands ({FORMAT_VERSION}); upgrade connector-core"
            )
        try:
            return _load_dataclass(cls, document["data"])  # type: ignore[no-any-return]
        except _Mismatch as exc:
            raise ResourceMetaError(f"cannot decode {name}: {exc}") from exc.__cause__

    @classmethod
    def decode_unsigned(cls, data: bytes) -> Self:
        """Decode bytes that no signature vouches for: those another service wrote before a switch-over.

        The service calls it instead of ``decode`` for a meta without this service's signature,
        which reaches a connector only while the operator accepts unsigned metas
        (``CONNECTOR_ACCEPT_UNSIGNED_META=1``). It is ``decode`` unless a subclass refuses more:
        a meta that may hold a pickle, for instance, must refuse to unpickle what any caller can
        send. Raise ``ResourceMetaError`` to refuse.
        """
        return cls.decode(data)


def encode_checked(meta: ResourceMeta) -> bytes:
    """``meta.encode()``, once ``type(meta).decode`` is known to read those bytes back.

    Raises ``ResourceMetaError`` from either. A class that keeps ``ResourceMeta``'s own encode
    and decode is checked on the values it encodes, which are what decoding its JSON gives back,
    without writing and parsing the JSON twice (issue 13).
    """
    cls = type(meta)
    if cls.encode is not ResourceMeta.encode or cls.decode.__func__ is not ResourceMeta.decode.__func__:  # type: ignore[attr-defined]
        data = meta.encode()
        cls.decode(data)
        return data
    fields = _dump_fields(meta)
    data = meta._encoded(fields)
    try:
        _load_dataclass(cls, fields)
    except _Mismatch as exc:
        raise ResourceMetaError(f"cannot decode {cls.__name__}: {exc}") from exc.__cause__
    return data


def _dump_fields(meta: ResourceMeta) -> Any:
    try:
        # _dump(meta), with the fields that are plain JSON values (most job ids and names) taken as
        # they are: exact types, so an enum member that is an int or a str still goes through _dump.
        fields = {}
        cls: Any = type(meta)  # a class is hashable, which mypy cannot tell of a dataclass's type
        for name in _field_names(cls):
            value = getattr(meta, name)
            fields[name] = value if type(value) in _PLAIN else _dump(value)
        return fields
    except (TypeError, ValueError) as exc:
        raise ResourceMetaError(f"cannot encode {type(meta).__name__}: {exc}") from exc


def _is_envelope(document: object) -> bool:
    """Whether a JSON document is ``encode``'s ``{"v": ..., "data": ...}`` rather than plain fields."""
    return isinstance(document, dict) and document.keys() == {"v", "data"}


class _Mismatch(Exception):
    """A decoded value does not fit its annotation; the message is a path and a reason."""


class _NotFinite(Exception):
    """The JSON holds NaN, Infinity, -Infinity or a number out of a float's range."""


def _refuse_constant(token: str) -> float:
    raise _NotFinite(f"{token} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise _NotFinite(f"the number {shown} is out of a float's range")
    return number


# Made once: json.dumps and json.loads build a new encoder or decoder on every call given options.
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, allow_nan=False)
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
# JSONEncoder.encode makes its C encoder again on every call; this one is made once with the same
# settings (no circular check: what it encodes is _dump's fresh dicts and lists). None without _json.
# Read through vars(): typeshed declares neither json.encoder.c_make_encoder nor scan_once.
_MAKE_C_ENCODER = vars(json.encoder).get("c_make_encoder")
_SCAN = vars(_DECODER)["scan_once"]
_C_ENCODER = (
    _MAKE_C_ENCODER(
        None,
        _ENCODER.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        True,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )
    if _MAKE_C_ENCODER is not None
    else None
)


def _encode_json(document: Any) -> str:
    """``_ENCODER.encode(document)``, through the encoder made once when there is one."""
    if _C_ENCODER is None:
        return _ENCODER.encode(document)
    return "".join(_C_ENCODER(document, 0))


def _decode_json(text: str) -> Any:
    """``_DECODER.decode(text)``; an object from its first character to its last is scanned directly.

    ``decode`` first skips whitespace and after the scan checks that only whitespace follows, in
    Python; what ``encode`` writes has none, so that is one scan here. Anything else (whitespace,
    extra data, a scan error and its message) goes through ``decode`` itself.
    """
    if text[:1] == "{":
        try:
            document, end = _SCAN(text, 0)
        except StopIteration:
            return _DECODER.decode(text)
        if end == len(text):
            return document
    return _DECODER.decode(text)


def _dump(value: Any) -> Any:
    if isinstance(value, enum.Enum):  # first: IntEnum and StrEnum members are ints and strs too
        return _dump(value.value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        # Whole microseconds, not total_seconds(): a float loses microseconds beyond about 30 years.
        return value // _MICROSECOND
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _dump(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [_dump(item) for item in items]
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("dict keys must be strings")
        return {key: _dump(item) for key, item in value.items()}
    raise TypeError(f"values of type {type(value).__name__} are not supported")


_MICROSECOND = dt.timedelta(microseconds=1)
#: The exact types ``_dump`` returns as they are.
_PLAIN = frozenset((str, int, float, bool, type(None)))


@functools.lru_cache(maxsize=256)
def _field_types(cls: Any) -> dict[str, Any]:
    """The resolved annotations of a dataclass, read once per class."""
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:  # a forward reference that does not resolve, a bad annotation
        raise _Mismatch(
            f"the annotations of {cls.__qualname__} cannot be resolved ({type(exc).__name__}: {exc}); "
            "define the dataclasses a meta uses at module level"
        ) from exc


@functools.lru_cache(maxsize=256)
def _field_names(cls: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


#: Types whose JSON value is the field's value as it is, when it has exactly that type.
_AS_IS = (str, int, float, bool)


@functools.lru_cache(maxsize=256)
def _plan(cls: Any) -> tuple[tuple[str, bool, Any, tuple[type, ...]], ...]:
    """How to load each init field of a dataclass: name, required, annotation, types taken as they are.

    Read once per class (issue 13): a ``str`` field given a ``str`` (or an ``Optional[int]`` given
    an ``int`` or ``None``) needs no walk through ``_load``.
    """
    hints = _field_types(cls)
    plan = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        tp = hints.get(field.name, Any)
        members = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
        as_is = tuple(m for m in members if m in _AS_IS or m is type(None))
        if len(as_is) != len(members) or (int in members and float in members[: members.index(int)]):
            as_is = ()  # another type, or an int that an earlier float member turns into a float
        plan.append((field.name, required, tp, as_is))
    return tuple(plan)


def _load_dataclass(cls: Any, data: Any, path: str = "") -> Any:
    if not isinstance(data, dict):
        raise _Mismatch(f"{path or 'the document'}: expected an object, got {type(data).__name__}")
    kwargs: dict[str, Any] = {}
    for name, required, tp, as_is in _plan(cls):
        if name in data:
            value = data[name]
            # bool is not an int here, as in _load: the exact type is checked.
            if type(value) in as_is:
                kwargs[name] = value
            else:
                kwargs[name] = _load(tp, value, f"{path}.{name}" if path else name)
        elif required:
            where = f"{path}.{name}" if path else name
            raise _Mismatch(f"field {where!r} is missing")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a __post_init__ that checks its values
        where = path or "the document"
        raise _Mismatch(f"{where}: {cls.__name__}(...) raised {type(exc).__name__}: {exc}") from exc


def _load(tp: Any, value: Any, path: str) -> Any:  # noqa: C901 - one branch per supported type
    origin = typing.get_origin(tp)
    if tp is Any or tp is object:
        return value
    if origin is typing.Union or origin is types.UnionType:
        members = typing.get_args(tp)
        if value is None and type(None) in members:
            return None
        for member in members:
            if member is type(None):
                continue
            try:
                return _load(member, value, path)
            except _Mismatch:
                continue
        raise _Mismatch(f"{path}: {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise _Mismatch(f"{path}: {value!r} is not one of {typing.get_args(tp)}")
    if origin in (list, tuple, set, frozenset) or tp in (list, tuple, set, frozenset):
        if not isinstance(value, list):
            raise _Mismatch(f"{path}: expected a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        container = origin or tp
        if container is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise _Mismatch(f"{path}: expected {len(args)} items, got {len(value)}")
            pairs = enumerate(zip(args, value, strict=True))
            return tuple(_load(a, v, f"{path}[{i}]") for i, (a, v) in pairs)
        item_type = args[0] if args else Any
        return container(_load(item_type, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, dict):
            raise _Mismatch(f"{path}: expected an object, got {type(value).__name__}")
        args = typing.get_args(tp)
        item_type = args[1] if len(args) == 2 else Any
        return {k: _load(item_type, v, f"{path}[{k!r}]") for k, v in value.items()}
    if not isinstance(tp, type):
        return value  # an annotation we cannot check (a TypeVar, a NewType): keep the JSON value
    if dataclasses.is_dataclass(tp):
        return _load_dataclass(tp, value, path)
    if issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise _Mismatch(f"{path}: {value!r} is not a {tp.__name__}") from None
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # a whole number past a float's range (issue 9: was INTERNAL)
                raise _Mismatch(f"{path}: the number is out of a float's range") from None
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp in (bytes, bytearray):
        if isinstance(value, str):
            try:
                return tp(base64.b64decode(value.encode("ascii"), validate=True))
            except (ValueError, UnicodeEncodeError):
                raise _Mismatch(f"{path}: not base64 bytes") from None
    elif tp in (dt.datetime, dt.date, dt.time):
        if isinstance(value, str):
            try:
                return tp.fromisoformat(value)
            except ValueError:
                raise _Mismatch(f"{path}: {value!r} is not an ISO {tp.__name__}") from None
    elif tp is dt.timedelta:
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return dt.timedelta(microseconds=value)
            except OverflowError:
                raise _Mismatch(f"{path}: {value} microseconds is out of a timedelta's range") from None
    else:
        if isinstance(value, tp):
            return value
    raise _Mismatch(f"{path}: expected {tp.__name__}, got {type(value).__name__}")
