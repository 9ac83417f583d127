"""Which sensor classes the ``sensor`` task type may import, and their one lazy import each (issue 10).

A sensor task names a class by ``sensor_module`` and ``sensor_name``, and its resource meta comes
back from the caller: importing a module a request names would run any module on the server. So
only the pairs an installed distribution registers (entry point group ``connector.sensors``) or the
operator lists (``CONNECTOR_SENSORS``) are ever imported, each the first time a job needs it, within
the time the core gives a connector's import (``CONNECTOR_IMPORT_TIMEOUT``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import inspect
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping

import connector

# A private helper of the core, used on purpose: the registry imports connectors through it, so a
# sensor class's import has the same time limit and cannot keep a stopped service alive (issue 10).
from connector.registry._imports import DaemonCall

from ._exceptions import SensorLoadError, SensorSettingsError

#: The setting that lists sensor classes as ``module:ClassName``, separated by ``,``.
SENSORS_VARIABLE = "CONNECTOR_SENSORS"
#: The entry point group through which a distribution allows its sensor classes.
SENSORS_ENTRY_POINT_GROUP = "connector.sensors"
#: The core's setting that limits, in seconds, how long importing a connector may take; importing an
#: allowed sensor class has the same limit.
IMPORT_TIMEOUT_VARIABLE = "CONNECTOR_IMPORT_TIMEOUT"

_TASK = "sensor"
logger = logging.getLogger("connector.sensor")


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

    Build it with ``from_environment`` (entry points, ``CONNECTOR_SENSORS`` and
    ``CONNECTOR_IMPORT_TIMEOUT``) or from ``AllowedSensor`` values. ``find`` compares a request's
    strings and imports nothing; ``load`` imports an allowed class the first time it is asked for,
    once, in a daemon thread that may take ``import_timeout`` seconds (the core's limit for a
    connector's import, 60 by default), and keeps the class or the ``SensorLoadError`` for every
    later call.
    """

    def __init__(self, sensors: Iterable[AllowedSensor] = (), *, import_timeout: float | None = None) -> None:
        self._sensors: dict[tuple[str, str], AllowedSensor] = {}
        for sensor in sensors:
            self._sensors.setdefault(sensor.key, sensor)  # the first source that allows a pair names it
        # The core's default and check (a positive number of seconds, else ConfigurationError).
        limit = (
            connector.RegistrySettings()
            if import_timeout is None
            else connector.RegistrySettings(import_timeout=import_timeout)
        )
        self.import_timeout = limit.import_timeout
        self._lock = threading.Lock()  # held for bookkeeping only, never while an import runs
        self._importing: dict[tuple[str, str], _Importing] = {}
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
        Their import time limit is ``CONNECTOR_IMPORT_TIMEOUT``'s, read as the core reads it.

        Raises ``SensorSettingsError`` for an entry of the setting, or an entry point's value, that
        is not ``module:ClassName``; the core's ``ConfigurationError`` for a bad import time limit.
        """
        env = os.environ if environ is None else environ
        listed = parse_sensors(env.get(variable), variable=variable)
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=SENSORS_ENTRY_POINT_GROUP)
        # Only that variable is handed to the core's reader: the registry reports its other settings.
        limit = connector.RegistrySettings.from_environ(
            {IMPORT_TIMEOUT_VARIABLE: env.get(IMPORT_TIMEOUT_VARIABLE, "")}
        )
        return cls(
            [*listed, *(_from_entry_point(entry_point) for entry_point in entry_points)],
            import_timeout=limit.import_timeout,
        )

    def find(self, module: str, name: str) -> AllowedSensor | None:
        """The allowed sensor ``module:name``, or None; compares text only, never imports."""
        return self._sensors.get((module, name))

    def load(self, sensor: AllowedSensor) -> type:
        """The class ``sensor`` names, imported the first time, once; later calls give the same outcome.

        The import runs in a daemon thread; this call, and any other that needs the class meanwhile,
        waits for it until ``import_timeout`` seconds after it started, never longer. Raises
        ``SensorLoadError`` when the import raises, does not finish in time (the class is not tried
        again until the service restarts, as the core treats a connector's import), the module has
        no such name, or it is no class with a ``poke`` method.
        """
        key = sensor.key
        with self._lock:
            outcome = self._loaded.get(key)
            importing = self._importing.get(key) if outcome is None else None
            if outcome is None and importing is None:
                call = DaemonCall(
                    functools.partial(_import, sensor), name=f"connector-sensor import {sensor}"
                )
                importing = _Importing(call, time.monotonic() + self.import_timeout)
                self._importing[key] = importing
        if importing is not None:
            finished = importing.call.wait(importing.deadline - time.monotonic())
            with self._lock:
                outcome = self._loaded.get(key)  # another waiter may have settled it
                if outcome is None:
                    outcome = self._loaded[key] = self._settle(sensor, importing.call, finished)
                    del self._importing[key]
        assert outcome is not None
        if isinstance(outcome, _Failed):
            # A new error each time: one instance raised in several threads would share a traceback.
            raise SensorLoadError(
                outcome.message, sensor=str(sensor), allowed_by=sensor.allowed_by
            ) from outcome.cause
        return outcome

    def _settle(
        self, sensor: AllowedSensor, call: DaemonCall[type | _Failed], finished: bool
    ) -> type | _Failed:
        if finished:
            try:
                return call.result()
            except Exception as exc:  # _import catches what a module raises; KeyboardInterrupt and such
                return _cannot_import(sensor, exc)
        fix = "fix the module's import" if sensor.allowed_by == SENSORS_VARIABLE else _FIX_DISTRIBUTION
        failed = _Failed(
            f"{_where(sensor)} cannot be imported: its import did not finish in {self.import_timeout:g} s, "
            f"and it is not tried again until the service restarts; {fix}, or raise the limit with "
            f"{IMPORT_TIMEOUT_VARIABLE} (seconds)"
        )
        # The thread is abandoned (a daemon, it cannot keep the process from exiting); where it
        # hangs is what the module's author needs to know.
        logger.warning("%s\nits import thread is at:\n%s", failed.message, call.stack().rstrip())
        return failed


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
class _Importing:
    """An import under way: its daemon thread, and when waiting for it ends."""

    call: DaemonCall[type | _Failed]
    deadline: float


@dataclasses.dataclass(frozen=True)
class _Failed:
    """Why an allowed sensor cannot be loaded: the ``SensorLoadError`` message and what was raised."""

    message: str
    cause: BaseException | None = None


def _import(sensor: AllowedSensor) -> type | _Failed:
    """Import ``sensor``'s class; what to say instead when that fails."""
    listed = sensor.allowed_by == SENSORS_VARIABLE
    where = _where(sensor)
    try:
        found = getattr(importlib.import_module(sensor.module), sensor.name)
    except (Exception, SystemExit) as exc:  # a module may call sys.exit(); the service goes on
        return _cannot_import(sensor, exc)
    if not inspect.isclass(found) or not callable(getattr(found, "poke", None)):
        fix = f"name a sensor class in {SENSORS_VARIABLE}" if listed else _FIX_DISTRIBUTION
        return _Failed(
            f"{where} is not a class with a poke method; a sensor class is built as cls(name, config=...) "
            f"and its poke(**inputs) returns True or False; {fix}"
        )
    return found


def _cannot_import(sensor: AllowedSensor, exc: BaseException) -> _Failed:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    listed = sensor.allowed_by == SENSORS_VARIABLE
    fix = f"install what it needs, or remove it from {SENSORS_VARIABLE}" if listed else _FIX_DISTRIBUTION
    return _Failed(f"{_where(sensor)} cannot be imported ({what}); {fix}", exc)


def _where(sensor: AllowedSensor) -> str:
    return f"{_TASK}: the sensor '{sensor}' (allowed by {sensor.allowed_by})"


_FIX_DISTRIBUTION = "fix or uninstall the distribution"
