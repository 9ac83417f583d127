"""The operator's settings of connector-flytekit: the opt-ins to flytekit's riskier behaviours.

Each is read from the environment when it is needed (never cached), so a changed setting is seen
by the next process that serves. Every one of them is off by default.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

#: ``1`` lets flytekit unpickle the metas of connectors that override ``decode`` (flytekitplugins-openai's
#: batch one) when no signature of this service vouches for them.
PICKLED_META_VARIABLE = "CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_META"
#: ``1`` lets a CreateTask or ExecuteTaskSync carry inputs of a type flytekit unpickles (``FlytePickle``).
PICKLED_INPUTS_VARIABLE = "CONNECTOR_FLYTEKIT_ACCEPT_PICKLED_INPUTS"
#: flytekit's own connectors the operator opts in to, ``,``-separated: ``sensor``, ``webhook``.
BUILTINS_VARIABLE = "CONNECTOR_FLYTEKIT_BUILTINS"
#: connector-sensor's setting, with its meaning: the sensor classes allowed, as ``module:ClassName``.
SENSORS_VARIABLE = "CONNECTOR_SENSORS"
#: flytekit's own connectors that are served only when ``BUILTINS_VARIABLE`` names them.
BUILTINS = ("sensor", "webhook")
#: The sensor allowed, once flytekit's sensor is opted in, without being listed: flytekit's FileSensor.
DEFAULT_SENSOR = ("flytekit.sensor.file_sensor", "FileSensor")


def flag(variable: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a yes/no setting is on (``1``, ``true``, ``yes``, ``on``)."""
    env = os.environ if environ is None else environ
    return env.get(variable, "").strip().lower() in ("1", "true", "yes", "on")


def builtins_enabled(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The names ``CONNECTOR_FLYTEKIT_BUILTINS`` lists (anything but ``sensor`` and ``webhook`` ignored)."""
    env = os.environ if environ is None else environ
    names = {name.strip().lower() for name in env.get(BUILTINS_VARIABLE, "").split(",")}
    return frozenset(names & set(BUILTINS))


def allowed_sensors(environ: Mapping[str, str] | None = None) -> tuple[frozenset[tuple[str, str]], list[str]]:
    """The ``(module, ClassName)`` pairs ``CONNECTOR_SENSORS`` allows, flytekit's FileSensor too; bad entries.

    Read as connector-sensor reads it: ``module:ClassName`` entries separated by ``,``. An entry that
    is not one allows nothing and is returned, so the refusal can name it.
    """
    env = os.environ if environ is None else environ
    allowed, bad = _parsed_sensors(env.get(SENSORS_VARIABLE, ""))
    return allowed, list(bad)


@functools.lru_cache(maxsize=8)
def _parsed_sensors(value: str) -> tuple[frozenset[tuple[str, str]], tuple[str, ...]]:
    # Parsed once per value: flytekit's sensor checks it at every create, get and delete.
    allowed = {DEFAULT_SENSOR}
    bad = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        module, colon, name = entry.partition(":")
        module, name = module.strip(), name.strip()
        if not colon or not _dotted(module) or not name.isidentifier():
            bad.append(entry)
            continue
        allowed.add((module, name))
    return frozenset(allowed), tuple(bad)


def _dotted(module: str) -> bool:
    return bool(module) and all(part.isidentifier() for part in module.split("."))
