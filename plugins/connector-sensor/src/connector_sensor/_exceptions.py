"""The errors of connector-sensor.

connector.BadRequestError       (also ValueError) the service answers INVALID_ARGUMENT
└── SensorRequestError          a path, timeout or resource-meta field of a request cannot be used
    └── PathNotAllowedError     the path lies outside CONNECTOR_SENSOR_ROOTS, or a symlink leads out
connector.ConfigurationError    (also ValueError) a setting cannot be used as given
└── SensorRootsError            CONNECTOR_SENSOR_ROOTS has a value that cannot be used
"""

from __future__ import annotations

import connector


class SensorRequestError(connector.BadRequestError):
    """Raised by ``create`` and ``get`` when the path, a custom field or a resource-meta field is unusable.

    ``field`` names it: ``path``, ``timeout``, ``resource_meta.path``, ``resource_meta.timeout``, ...
    """


class PathNotAllowedError(SensorRequestError):
    """Raised when a path, glob or URL lies outside ``CONNECTOR_SENSOR_ROOTS``; ``path`` is the one asked for.

    The message is the same whether or not the path exists, so a caller learns nothing about what is
    outside the roots.
    """

    def __init__(self, message: str, *, path: str, field: str | None = None) -> None:
        self.path = path
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
