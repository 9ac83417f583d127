"""Redaction: credentials sent with a request never appear in a message, a log line or a trace."""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping

from ._exceptions import HttpConfigError, HttpEgressError

#: What a redacted credential reads as.
MASK = "***"

# Header names that carry credentials by convention. Their values are masked in messages and in
# repr(), and dropped on a redirect to another origin (as browsers and requests drop Authorization).
_CREDENTIAL_NAME = re.compile(r"auth|cookie|token|secret|passw|key|session|signature|credential", re.I)


def is_credential_header(name: str) -> bool:
    """Whether a header's name says it carries a credential (Authorization, Cookie, X-API-Key, ...)."""
    return bool(_CREDENTIAL_NAME.search(name))


def masked_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with the value of each credential header replaced by ``***``."""
    return {name: MASK if is_credential_header(name) else value for name, value in headers.items()}


@dataclasses.dataclass(frozen=True, repr=False)
class Redactor:
    """Replaces each of ``values`` (and its JSON-, repr- and URL-escaped spellings) by ``***``.

    Build it with ``Redactor.of``, from the secret's value and the value of every credential header
    a request sends; call it on any text quoted from the remote or the request.
    """

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[str]) -> Redactor:
        """A redactor of ``values``; empty ones are left out."""
        spellings: set[str] = set()
        for value in values:
            if not value:
                continue
            spellings.update(
                (value, json.dumps(value)[1:-1], repr(value)[1:-1], urllib.parse.quote(value, safe=""))
            )
        spellings.discard("")
        # Longest first: "Bearer s3cret" is masked whole before "s3cret" is.
        return cls(tuple(sorted(spellings, key=lambda s: (-len(s), s))))

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self.values)

    def __repr__(self) -> str:
        return f"Redactor({len(self.values)} value(s))"


def masked(error: HttpConfigError, redact: Redactor) -> HttpConfigError:
    """``error`` again, its message with the credentials masked (a URL may carry them in its query)."""
    message = redact(str(error))
    if message == str(error):
        return error
    if isinstance(error, HttpEgressError):
        return HttpEgressError(message, origin=error.origin, reason=error.reason, setting=error.setting)
    return HttpConfigError(message, field=error.field)
