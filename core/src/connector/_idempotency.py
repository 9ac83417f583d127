"""Idempotency keys: one per task execution attempt, the same when the engine replays a create (issue 10)."""

from __future__ import annotations

import hashlib
import secrets

#: Marks the derivation: a new one gets a new prefix, so keys of two versions never collide.
_PREFIX = "ck1-"


def idempotency_key(category: object, task_execution_id: str) -> str:
    """The key ``create`` and ``do`` receive for one attempt of one task execution.

    It is a hash of the task type and the execution id (project, domain, run, node and retry
    attempt), so the CreateTask that propeller replays after a failed answer gets the same key,
    and the next attempt (a retry after the job failed) a new one. Without an execution id (a
    caller that sent no metadata) there is nothing to tie a replay to: the key is random.
    It is 36 characters: ``ck1-`` and 32 hexadecimal digits.
    """
    if not task_execution_id:
        return _PREFIX + secrets.token_hex(16)
    digest = hashlib.sha256(f"{category}\n{task_execution_id}".encode()).hexdigest()
    return _PREFIX + digest[:32]
