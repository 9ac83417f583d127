"""Sensor: flytekit's ``sensor`` task type; its FileSensor served natively, other classes when allowed."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar

import connector

from ._allowed import SENSORS_ENTRY_POINT_GROUP, SENSORS_VARIABLE, AllowedSensor, AllowedSensors
from ._exceptions import SensorNotAllowedError, SensorPokeError, SensorRequestError, SensorSettingsError
from ._roots import LocalTarget, SensorRoots, UrlTarget
from ._scan import ScanLimits, check_openable, scan
from ._text import short

#: The ``sensor_module`` of flytekit's FileSensor, which this connector serves without flytekit.
FILE_SENSOR_MODULE = "flytekit.sensor.file_sensor"
#: The ``sensor_name`` of flytekit's FileSensor.
FILE_SENSOR_NAME = "FileSensor"

_TASK = "sensor"
# Only literal paths are checked (as flytekit's FileSensor does), so no scan ever uses its limits.
_LITERAL = ScanLimits()


@dataclasses.dataclass
class SensorMetadata(connector.ResourceMeta):
    """A ``sensor`` job: which sensor class, its config, and the task's inputs for ``poke``.

    The fields are those of flytekit's ``SensorMetadata``, so a meta that flytekit's service wrote
    (plain JSON) decodes here at a switch-over, when the operator accepts unsigned metas. ``get``
    checks it all again: the meta comes back from the caller.
    """

    #: flytekit's and Flyte 2's services write the fields as a plain JSON object (issue 10).
    accepts_plain_json: ClassVar[bool] = True

    sensor_module: str
    sensor_name: str
    sensor_config: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None


class Sensor(connector.AsyncConnector):
    """Serves flytekit's ``sensor`` task type: ``FileSensor`` and any other sensor class that is allowed.

    A template's custom fields ``sensor_module`` and ``sensor_name`` name the class (flytekit writes
    them for every ``BaseSensor``), ``sensor_config`` its config; the task's inputs go to ``poke``.

    - flytekit's FileSensor (``flytekit.sensor.file_sensor``, ``FileSensor``) runs here, without
      flytekit: ``SUCCEEDED`` once its input ``path`` exists, ``RUNNING`` before (no message, as
      flytekit's service answers). The path must lie
      under ``CONNECTOR_SENSOR_ROOTS`` (``roots``), checked at ``create`` and at every ``get``; a
      glob character is a literal character of the name, as for flytekit.
    - Any other class only when ``sensors`` allows it (``AllowedSensors``: ``connector.sensors``
      entry points and ``CONNECTOR_SENSORS``); it is imported the first time it is needed, then
      built as ``cls("sensor", config=sensor_config)`` at every ``get``, and ``poke(**inputs)``
      (awaited when it is a coroutine) says ``SUCCEEDED`` (True) or ``RUNNING`` (False). A module
      that is not allowed is never imported: ``SensorNotAllowedError``.

    ``roots`` and ``sensors`` default to the environment's, read here: a bad setting makes the
    connector broken (``SensorRootsError``, ``SensorSettingsError``).
    """

    name = "Sensor"
    task_type_name = "sensor"
    metadata_type = SensorMetadata
    # Exactly the keys flytekit's BaseSensor writes (issue 12): its templates are accepted as before.
    custom_fields = (
        connector.Field("sensor_module", str, required=True, help="The module of the sensor class."),
        connector.Field("sensor_name", str, required=True, help="The name of the sensor class."),
        connector.Field("sensor_config", dict, help="The config the sensor class is built with."),
        connector.Field(
            "inputs", dict, help="Written by flytekit (null); the task's inputs are poked instead."
        ),
    )
    input_fields = (connector.Field("path", str, help="flytekit's FileSensor: the path to wait for."),)

    def __init__(self, *, roots: SensorRoots | None = None, sensors: AllowedSensors | None = None) -> None:
        super().__init__()
        self.roots = SensorRoots.from_environment() if roots is None else roots
        self.sensors = AllowedSensors.from_environment() if sensors is None else sensors
        native = self.sensors.find(FILE_SENSOR_MODULE, FILE_SENSOR_NAME)
        if native is not None:
            raise SensorSettingsError(
                f"{native.allowed_by} allows '{native}', which connector-sensor serves itself (paths under "
                f"CONNECTOR_SENSOR_ROOTS only); remove it from there",
                entry=str(native),
                variable=SENSORS_VARIABLE if native.allowed_by == SENSORS_VARIABLE else None,
            )

    def create(self, task_template: connector.TaskTemplate, inputs: Mapping[str, Any]) -> SensorMetadata:
        """Check the request and keep it in the meta; nothing starts, nothing is poked.

        flytekit's FileSensor: the path is checked against the roots (a symlink out of them too).
        Another sensor: it must be allowed, and it is imported now if it was not yet.
        """
        custom = task_template.custom
        module = _custom_text(custom, "sensor_module")
        name = _custom_text(custom, "sensor_name")
        config = custom.get("sensor_config")
        if config is not None and not isinstance(config, dict):
            raise SensorRequestError(
                f"{_TASK}: custom field 'sensor_config' must be an object or null; got {short(config)}",
                field="sensor_config",
            )
        meta = SensorMetadata(module, name, config, dict(inputs))
        if (module, name) == (FILE_SENSOR_MODULE, FILE_SENSOR_NAME):
            target = self._file_target(meta.inputs, "inputs")
            if isinstance(target, LocalTarget):
                scan(self.roots, target, _LITERAL)  # a symlink out of the roots is refused now
        else:
            self.sensors.load(self._allowed(module, name, "sensor_module"))
        try:
            meta.encode()
        except connector.ResourceMetaError as exc:
            raise SensorRequestError(
                f"{_TASK}: the inputs and sensor_config do not fit in a resource meta: {exc}", field="inputs"
            ) from exc
        return meta

    def get(self, resource_meta: SensorMetadata) -> connector.Resource | Awaitable[connector.Resource]:
        """``SUCCEEDED`` when the sensor's condition holds, ``RUNNING`` while it does not.

        Runs in a worker thread; an ``async def`` poke is handed back to be awaited on the event loop.
        """
        meta = resource_meta
        if (meta.sensor_module, meta.sensor_name) == (FILE_SENSOR_MODULE, FILE_SENSOR_NAME):
            return self._file_exists(meta)
        sensor = self._allowed(meta.sensor_module, meta.sensor_name, "resource_meta.sensor_module")
        cls = self.sensors.load(sensor)
        inputs = dict(meta.inputs or {})
        try:
            instance = cls(_TASK, config=meta.sensor_config)
            poke = instance.poke
        except (connector.BadRequestError, connector.TransientError):
            raise
        except Exception as exc:
            raise _failed(sensor, f"building it as {cls.__name__}('sensor', config=...)", exc) from exc
        _check_inputs(sensor, poke, inputs, "resource_meta.inputs")
        try:
            result = poke(**inputs)
        except (connector.BadRequestError, connector.TransientError):
            raise
        except Exception as exc:
            raise _failed(sensor, "its poke", exc) from exc
        if inspect.isawaitable(result):
            return _awaited(sensor, result)
        return _resource(sensor, result)

    def delete(self, resource_meta: SensorMetadata) -> None:
        """Nothing runs remotely, so there is nothing to cancel; always succeeds, imports nothing."""

    # flytekit's FileSensor, natively.

    def _file_target(self, inputs: object, field: str) -> LocalTarget | UrlTarget:
        """FileSensor's ``path`` input, checked against the roots; globs are literal names."""
        if not isinstance(inputs, Mapping) or "path" not in inputs:
            raise SensorRequestError(f"{_TASK}: flytekit's FileSensor needs the input 'path'", field=field)
        extra = sorted(set(inputs) - {"path"})
        if extra:
            raise SensorRequestError(
                f"{_TASK}: flytekit's FileSensor takes one input, 'path'; got also "
                f"{', '.join(short(key) for key in extra)}",
                field=field,
            )
        target = self.roots.target(inputs["path"], task=_TASK, field=f"{field}.path")
        if isinstance(target, UrlTarget):
            check_openable(target)
            # flytekit asks fsspec whether the literal name exists; '*' in it is no glob.
            return dataclasses.replace(target, is_glob=False)
        return dataclasses.replace(target, base=target.base + target.pattern, pattern=())

    def _file_exists(self, meta: SensorMetadata) -> connector.Resource:
        target = self._file_target(meta.inputs, "resource_meta.inputs")
        # No message, as flytekit's service answers: a client comparing answers sees the same fields.
        phase = (
            connector.Phase.SUCCEEDED
            if scan(self.roots, target, _LITERAL).matched
            else connector.Phase.RUNNING
        )
        return connector.Resource(phase)

    # Other sensors: only those allowed.

    def _allowed(self, module: str, name: str, field: str) -> AllowedSensor:
        """The allowed sensor ``module:name``; ``SensorNotAllowedError`` (nothing imported) otherwise."""
        sensor = self.sensors.find(module, name)
        if sensor is None:
            shown = short(f"{module}:{name}")
            raise SensorNotAllowedError(
                f"{_TASK}: the sensor {shown} is not allowed, so it is not imported; to allow it, install a "
                f"distribution that registers it (module:ClassName) in the entry point group "
                f"{SENSORS_ENTRY_POINT_GROUP!r}, or add it to {SENSORS_VARIABLE} (module:ClassName, "
                "separated by ',')",
                sensor=f"{module}:{name}",
                field=field,
            )
        return sensor


def _custom_text(custom: Mapping[str, Any], key: str) -> str:
    value = custom.get(key)
    if not isinstance(value, str) or not value:
        raise SensorRequestError(
            f"{_TASK}: custom field {key!r} must name the sensor class (flytekit writes sensor_module and "
            f"sensor_name for every BaseSensor); got {short(value)}",
            field=key,
        )
    return value


def _check_inputs(sensor: AllowedSensor, poke: Any, inputs: dict[str, Any], field: str) -> None:
    """Inputs that do not fit ``poke``'s parameters are the request's mistake, not the sensor's."""
    try:
        signature = inspect.signature(poke)
    except (TypeError, ValueError):  # no signature to read (a builtin): poke itself will say
        return
    try:
        signature.bind(**inputs)
    except TypeError as exc:
        raise SensorRequestError(
            f"{_TASK}: the inputs do not fit poke{signature} of the sensor '{sensor}': {exc}", field=field
        ) from None


async def _awaited(sensor: AllowedSensor, awaitable: Awaitable[object]) -> connector.Resource:
    try:
        result = await awaitable
    except (connector.BadRequestError, connector.TransientError):
        raise
    except Exception as exc:
        raise _failed(sensor, "its poke", exc) from exc
    return _resource(sensor, result)


def _resource(sensor: AllowedSensor, result: object) -> connector.Resource:
    """SUCCEEDED for True, RUNNING for False, with no message (as flytekit's service answers)."""
    if not isinstance(result, bool):
        # Not its truth, as flytekit takes it: a poke that forgets to return (None) would wait forever.
        kind = f"{type(result).__module__}.{type(result).__qualname__}"
        raise SensorPokeError(
            f"{_TASK}: the sensor '{sensor}' returned {short(result)} ({kind}) from poke; poke must return "
            "True (the condition holds) or False (not yet): return bool(...)",
            sensor=str(sensor),
        )
    return connector.Resource(connector.Phase.SUCCEEDED if result else connector.Phase.RUNNING)


def _failed(sensor: AllowedSensor, what: str, exc: Exception) -> SensorPokeError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    raised = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return SensorPokeError(f"{_TASK}: the sensor '{sensor}' failed in {what}: {raised}", sensor=str(sensor))
