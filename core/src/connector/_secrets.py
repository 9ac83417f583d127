"""Secrets for connectors running outside a request that carries a Connection (the seed helper)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._exceptions import ConfigurationError

SECRETS_DIR_VARIABLE = "CONNECTOR_SECRETS_DIR"
_DEFAULT_SECRETS_DIR = "/etc/secrets"


def get_connector_secret(secret_key: str) -> str:
    """Return a secret by name: ``$CONNECTOR_SECRET_<KEY>``, else the file ``<secrets dir>/<key>``.

    The key is upper-cased, with characters other than letters, digits and ``_`` turned into ``_``,
    for the variable name. The secrets directory is ``$CONNECTOR_SECRETS_DIR`` (default
    ``/etc/secrets``, where Kubernetes mounts them). Raises ``ConfigurationError`` naming both
    places when neither has it.
    """
    variable = "CONNECTOR_SECRET_" + re.sub(r"[^A-Za-z0-9_]", "_", secret_key).upper()
    if variable in os.environ:
        return os.environ[variable]
    directory = Path(os.environ.get(SECRETS_DIR_VARIABLE, _DEFAULT_SECRETS_DIR))
    path = directory / secret_key
    if "/" not in secret_key and secret_key not in ("", ".", "..") and path.is_file():
        return path.read_text().rstrip("\n")
    raise ConfigurationError(f"secret {secret_key!r} not found: set ${variable} or create {path}")
