"""The errors of connector-sensor.

connector.BadRequestError       (also ValueError) the service answers INVALID_ARGUMENT
└── SensorRequestError          a path, custom field, input or resource-meta field cannot be used
    ├── PathNotAllowedError     the path lies outside CONNECTOR_SENSOR_ROOTS, or a symlink leads out
    └── SensorNotAllowedError   a sensor task names a sensor class no one allowed
connector.ConfigurationError    (also ValueError) a setting cannot be used as given
├── SensorRootsError            CONNECTOR_SENSOR_ROOTS has a value that cannot be used
└── SensorSettingsError         CONNECTOR_SENSORS, or a connector.sensors entry point, cannot be used
connector.ConnectorUnavailable  the service answers FAILED_PRECONDITION
└── SensorLoadError             an allowed sensor class cannot be imported or is no sensor
connector.ConnectorError        anything else: the service answers INTERNAL
└── SensorPokeError             an allowed sensor's constructor or poke raised, or poke returned no bool
"""

from __future__ import annotations

import connector


class SensorRequestError(connector.BadRequestError):
    """Raised by ``create`` and ``get`` when the path, a custom field, an input or a resource-meta field is
    unusable.

    ``field`` names it: ``path``, ``timeout``, ``resource_meta.path``, ``inputs.path``, ...
    """


class PathNotAllowedError(SensorRequestError):
    """Raised when a path, glob or URL lies outside ``CONNECTOR_SENSOR_ROOTS``; ``path`` is the one asked for.

    The message is the same whether or not the path exists, so a caller learns nothing about what is
    outside the roots.
    """

    def __init__(self, message: str, *, path: str, field: str | None = None) -> None:
        self.path = path
        super().__init__(message, field=field)


class SensorNotAllowedError(SensorRequestError):
    """Raised by the ``sensor`` task type for a ``sensor_module``/``sensor_name`` pair no one allowed.

    Only flytekit's FileSensor (served natively) and the pairs that a ``connector.sensors`` entry
    point or ``CONNECTOR_SENSORS`` lists are served; the module of any other pair is never imported.
    ``sensor`` is the pair as ``module:name``; ``field`` says where it came from.
    """

    def __init__(self, message: str, *, sensor: str, field: str | None = None) -> None:
        self.sensor = sensor
        super().__init__(message, field=field)


class SensorRootsError(connector.ConfigurationError):
    """Raised when ``CONNECTOR_SENSOR_ROOTS`` cannot be used: a relative path, an empty entry, ...

    Raised by the connector's constructor, so the registry marks the connector broken with this
    message and ``connector check`` fails. ``entry`` is the entry at fault (None: the whole value).
    """

    def __init__(self, message: str, *, variable: str, entry: str | None = None) -> None:
        self.variable = variable
        self.entry = entry
        super().__init__(message)


class SensorSettingsError(connector.ConfigurationError):
    """Raised when ``CONNECTOR_SENSORS`` or a ``connector.sensors`` entry point names no ``module:ClassName``.

    Raised by the ``sensor`` connector's constructor, so the registry marks it broken with this
    message and ``connector check`` fails. ``variable`` is the setting at fault (None for an entry
    point), ``entry`` the entry; ``entry_point`` and ``distribution`` name an entry point at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        entry: str,
        variable: str | None = None,
        entry_point: str | None = None,
        distribution: str | None = None,
    ) -> None:
        self.entry = entry
        self.variable = variable
        self.entry_point = entry_point
        self.distribution = distribution
        super().__init__(message)


class SensorLoadError(connector.ConnectorUnavailable):
    """Raised when an allowed sensor class cannot be served: its import raised, or it is no sensor class.

    Raised at the first ``create`` or ``get`` that needs it, and again (without a new import) for
    every later one: the outcome of the one import is kept until the service restarts. ``sensor``
    is the pair as ``module:name``; ``allowed_by`` says which setting or entry point allowed it.
    """

    def __init__(self, message: str, *, sensor: str, allowed_by: str) -> None:
        self.sensor = sensor
        self.allowed_by = allowed_by
        super().__init__(message)


class SensorPokeError(connector.ConnectorError):
    """Raised when an allowed sensor fails: building it or its ``poke`` raised, or ``poke`` returned no bool.

    The service answers INTERNAL; the sensor's own exception is the ``__cause__`` (in the server
    log). ``sensor`` is the pair as ``module:name``. A ``connector.BadRequestError`` or
    ``connector.TransientError`` that ``poke`` raises is not wrapped: it keeps its own meaning.
    """

    def __init__(self, message: str, *, sensor: str) -> None:
        self.sensor = sensor
        super().__init__(message)
