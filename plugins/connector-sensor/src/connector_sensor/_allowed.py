"""Which sensor classes the ``sensor`` task type may import, and their one lazy import each (issue 10).

A sensor task names a class by ``sensor_module`` and ``sensor_name``, and its resource meta comes
back from the caller: importing a module a request names would run any module on the server. So
only the pairs an installed distribution registers (entry point group ``connector.sensors``) or the
operator lists (``CONNECTOR_SENSORS``) are ever imported, each the first time a job needs it.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import inspect
import os
import threading
from collections.abc import Iterable, Iterator, Mapping

from ._exceptions import SensorLoadError, SensorSettingsError

#: The setting that lists sensor classes as ``module:ClassName``, separated by ``,``.
SENSORS_VARIABLE = "CONNECTOR_SENSORS"
#: The entry point group through which a distribution allows its sensor classes.
SENSORS_ENTRY_POINT_GROUP = "connector.sensors"

_TASK = "sensor"


@dataclasses.dataclass(frozen=True)
class AllowedSensor:
    """One sensor class the ``sensor`` task type may import: ``module:name``, and who allowed it.

    ``allowed_by`` is ``CONNECTOR_SENSORS`` or ``entry point 'NAME' of DISTRIBUTION VERSION``.
    """

    module: str
    name: str
    allowed_by: str

    def __str__(self) -> str:
        return f"{self.module}:{self.name}"

    @property
    def key(self) -> tuple[str, str]:
        """``(module, name)``: what a request's ``sensor_module`` and ``sensor_name`` are compared with."""
        return self.module, self.name


def split_sensor(text: str) -> tuple[str, str] | None:
    """``(module, name)`` of ``pkg.module:ClassName``; None when ``text`` is not of that form."""
    module, colon, name = text.strip().partition(":")
    module, name = module.strip(), name.strip()
    if not colon or not name.isidentifier() or not all(part.isidentifier() for part in module.split(".")):
        return None
    return module, name


class AllowedSensors:
    """The sensor classes the ``sensor`` task type may import, looked up by ``(module, name)`` text.

    Build it with ``from_environment`` (entry points and ``CONNECTOR_SENSORS``) or from
    ``AllowedSensor`` values. ``find`` compares a request's strings and imports nothing; ``load``
    imports an allowed class the first time it is asked for, once, thread-safely, and keeps the
    class or the ``SensorLoadError`` for every later call.
    """

    def __init__(self, sensors: Iterable[AllowedSensor] = ()) -> None:
        self._sensors: dict[tuple[str, str], AllowedSensor] = {}
        for sensor in sensors:
            self._sensors.setdefault(sensor.key, sensor)  # the first source that allows a pair names it
        self._lock = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._loaded: dict[tuple[str, str], type | _Failed] = {}

    def __repr__(self) -> str:
        return f"<AllowedSensors {', '.join(map(str, self)) or 'none'}>"

    def __iter__(self) -> Iterator[AllowedSensor]:
        return iter(self._sensors.values())

    def __len__(self) -> int:
        return len(self._sensors)

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
        variable: str = SENSORS_VARIABLE,
    ) -> AllowedSensors:
        """The sensors ``variable`` lists in ``environ`` (``os.environ`` by default), then those of the
        ``connector.sensors`` entry points (``entry_points``, or those installed); reads metadata only.

        Raises ``SensorSettingsError`` for an entry of the setting, or an entry point's value, that
        is not ``module:ClassName``.
        """
        env = os.environ if environ is None else environ
        listed = parse_sensors(env.get(variable), variable=variable)
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=SENSORS_ENTRY_POINT_GROUP)
        return cls([*listed, *(_from_entry_point(entry_point) for entry_point in entry_points)])

    def find(self, module: str, name: str) -> AllowedSensor | None:
        """The allowed sensor ``module:name``, or None; compares text only, never imports."""
        return self._sensors.get((module, name))

    def load(self, sensor: AllowedSensor) -> type:
        """The class ``sensor`` names, imported the first time, once; later calls give the same outcome.

        Raises ``SensorLoadError`` when the import raises, the module has no such name, or it is no
        class with a ``poke`` method.
        """
        key = sensor.key
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._loaded:
                self._loaded[key] = _import(sensor)
            outcome = self._loaded[key]
        if isinstance(outcome, _Failed):
            # A new error each time: one instance raised in several threads would share a traceback.
            raise SensorLoadError(
                outcome.message, sensor=str(sensor), allowed_by=sensor.allowed_by
            ) from outcome.cause
        return outcome


def parse_sensors(value: str | None, *, variable: str = SENSORS_VARIABLE) -> list[AllowedSensor]:
    """The sensors of a ``CONNECTOR_SENSORS`` value: ``module:ClassName`` entries separated by ``,``.

    None or blank: none. Raises ``SensorSettingsError``, naming ``variable``, for an entry that is
    not ``module:ClassName`` (an empty one too).
    """
    if value is None or not value.strip():
        return []
    sensors = []
    for entry in value.split(","):
        pair = split_sensor(entry)
        if pair is None:
            raise SensorSettingsError(
                f"{variable}: {entry.strip()!r} is not module:ClassName; list sensor classes as "
                f"pkg.module:ClassName separated by ',' (the module where the class is defined)",
                entry=entry.strip(),
                variable=variable,
            )
        sensors.append(AllowedSensor(*pair, allowed_by=variable))
    return sensors


def _from_entry_point(entry_point: importlib.metadata.EntryPoint) -> AllowedSensor:
    dist = getattr(entry_point, "dist", None)
    where = f"entry point {entry_point.name!r}" + (f" of {dist.name} {dist.version}" if dist else "")
    pair = split_sensor(entry_point.value)
    if pair is None:
        raise SensorSettingsError(
            f"{SENSORS_ENTRY_POINT_GROUP}: the {where} is {entry_point.value!r}, not module:ClassName; "
            f"its value must name the module that defines the sensor class and the class "
            f"(pkg.module:ClassName): fix the distribution or uninstall it",
            entry=entry_point.value,
            entry_point=entry_point.name,
            distribution=dist.name if dist else None,
        )
    return AllowedSensor(*pair, allowed_by=where)


@dataclasses.dataclass(frozen=True)
class _Failed:
    """Why an allowed sensor cannot be loaded: the ``SensorLoadError`` message and what was raised."""

    message: str
    cause: BaseException | None = None


def _import(sensor: AllowedSensor) -> type | _Failed:
    """Import ``sensor``'s class; what to say instead when that fails."""
    listed = sensor.allowed_by == SENSORS_VARIABLE
    where = f"{_TASK}: the sensor '{sensor}' (allowed by {sensor.allowed_by})"
    try:
        found = getattr(importlib.import_module(sensor.module), sensor.name)
    except (Exception, SystemExit) as exc:  # a module may call sys.exit(); the service goes on
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        fix = f"install what it needs, or remove it from {SENSORS_VARIABLE}" if listed else _FIX_DISTRIBUTION
        return _Failed(f"{where} cannot be imported ({what}); {fix}", exc)
    if not inspect.isclass(found) or not callable(getattr(found, "poke", None)):
        fix = f"name a sensor class in {SENSORS_VARIABLE}" if listed else _FIX_DISTRIBUTION
        return _Failed(
            f"{where} is not a class with a poke method; a sensor class is built as cls(name, config=...) "
            f"and its poke(**inputs) returns True or False; {fix}"
        )
    return found


_FIX_DISTRIBUTION = "fix or uninstall the distribution"
