"""connector-sensor: the ``file_sensor`` connector, which waits until a path, glob or fsspec URL exists,
and the ``sensor`` connector, which serves flytekit's sensor tasks (its FileSensor, and allowed classes).

What they may watch is limited to ``CONNECTOR_SENSOR_ROOTS`` (``SensorRoots``); which sensor classes
``sensor`` may import, to ``connector.sensors`` entry points and ``CONNECTOR_SENSORS`` (``AllowedSensors``).
"""

from __future__ import annotations

from ._allowed import IMPORT_TIMEOUT_VARIABLE as IMPORT_TIMEOUT_VARIABLE
from ._allowed import SENSORS_ENTRY_POINT_GROUP as SENSORS_ENTRY_POINT_GROUP
from ._allowed import SENSORS_VARIABLE as SENSORS_VARIABLE
from ._allowed import AllowedSensor as AllowedSensor
from ._allowed import AllowedSensors as AllowedSensors
from ._exceptions import PathNotAllowedError as PathNotAllowedError
from ._exceptions import SensorLoadError as SensorLoadError
from ._exceptions import SensorNotAllowedError as SensorNotAllowedError
from ._exceptions import SensorPokeError as SensorPokeError
from ._exceptions import SensorRequestError as SensorRequestError
from ._exceptions import SensorRootsError as SensorRootsError
from ._exceptions import SensorSettingsError as SensorSettingsError
from ._file_sensor import MAX_TIMEOUT as MAX_TIMEOUT
from ._file_sensor import FileSensor as FileSensor
from ._file_sensor import FileSensorMeta as FileSensorMeta
from ._file_sensor import parse_timeout as parse_timeout
from ._roots import ROOTS_VARIABLE as ROOTS_VARIABLE
from ._roots import SensorRoots as SensorRoots
from ._scan import ScanLimits as ScanLimits
from ._sensor import FILE_SENSOR_MODULE as FILE_SENSOR_MODULE
from ._sensor import FILE_SENSOR_NAME as FILE_SENSOR_NAME
from ._sensor import Sensor as Sensor
from ._sensor import SensorMetadata as SensorMetadata

__all__ = [
    "FILE_SENSOR_MODULE",
    "FILE_SENSOR_NAME",
    "IMPORT_TIMEOUT_VARIABLE",
    "MAX_TIMEOUT",
    "ROOTS_VARIABLE",
    "SENSORS_ENTRY_POINT_GROUP",
    "SENSORS_VARIABLE",
    "AllowedSensor",
    "AllowedSensors",
    "FileSensor",
    "FileSensorMeta",
    "PathNotAllowedError",
    "ScanLimits",
    "Sensor",
    "SensorLoadError",
    "SensorMetadata",
    "SensorNotAllowedError",
    "SensorPokeError",
    "SensorRequestError",
    "SensorRoots",
    "SensorRootsError",
    "SensorSettingsError",
    "parse_timeout",
]
