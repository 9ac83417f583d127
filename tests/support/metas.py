"""Resource-meta bytes as the service and `connector run` hand them out: signed with this session's key."""

from __future__ import annotations

from connector import ResourceMeta, TaskCategory
from connector.registry._signing import MetaSigner


def signed(category: str, meta: ResourceMeta | bytes) -> bytes:
    """``meta`` (or its bytes) in the envelope the environment's key signs, for ``category``."""
    data = meta if isinstance(meta, bytes) else meta.encode()
    return MetaSigner.from_environ().sign(TaskCategory.parse(category), data)


def unsigned(category: str, data: bytes) -> bytes:
    """The meta bytes inside an envelope the environment's key signed for ``category``."""
    return MetaSigner.from_environ().verify(TaskCategory.parse(category), data)
