"""The errors of connector-flyte.

connector.ConnectorError
└── FlyteBridgeError            the base of every error connector-flyte raises
    ├── FlyteUnavailableError   flyte is missing, of an unsupported version, or lacks what the bridge calls
    ├── FlyteEntryPointError    a ``flyte.connectors`` entry point raised when it was imported
    └── FlyteConnectorGone      (also LookupError) the entry point no longer registers the task type

connector.BadRequestError (INVALID_ARGUMENT)
└── FlyteRequestError           a request a Flyte 2 connector cannot be given: flyteidl v1, inputs
                                Flyte 2's TypeEngine cannot convert or would unpickle, a resource meta
                                its class cannot decode
"""

from __future__ import annotations

from connector import BadRequestError, ConnectorError


class FlyteBridgeError(ConnectorError):
    """Base class of the errors connector-flyte raises while loading a Flyte 2 connector."""


class FlyteUnavailableError(FlyteBridgeError):
    """Raised by ``FlyteProvider.load`` when flyte cannot be used: not installed, a version outside
    ``SUPPORTED_FLYTE``, an import that raises, or a release without the functions its service calls.

    ``version`` is the installed flyte's version (None when it is not installed).
    """

    def __init__(self, message: str, *, version: str | None = None) -> None:
        self.version = version
        super().__init__(message)


class FlyteEntryPointError(FlyteBridgeError):
    """Raised by ``FlyteProvider.load`` when the connector's ``flyte.connectors`` entry point raises.

    ``entry_point`` is its name, ``target`` its ``module:attr`` value, ``distribution`` the
    distribution that advertises it; the original exception is the ``__cause__``.
    """

    def __init__(self, message: str, *, entry_point: str, target: str, distribution: str | None) -> None:
        self.entry_point = entry_point
        self.target = target
        self.distribution = distribution
        super().__init__(message)


class FlyteConnectorGone(FlyteBridgeError, LookupError):
    """Raised by ``FlyteProvider.load`` when the entry point imports but no longer registers the task type.

    Happens when a distribution changed in place since discovery listed it (an editable install), or
    when the listed key is no installed ``flyte.connectors`` entry point (nothing is imported then).
    """


class FlyteRequestError(BadRequestError):
    """Raised by a bridged connector's hook when the request cannot be handed to the Flyte 2 connector.

    A flyteidl v1 request (Flyte 2 connectors speak flyteidl2 only), inputs that Flyte 2's
    ``TypeEngine`` cannot convert to Python values or would unpickle (unless the operator sets
    ``CONNECTOR_FLYTE_ACCEPT_PICKLED_INPUTS=1``), or a resource meta that the connector's
    ``metadata_type`` cannot decode. The service answers INVALID_ARGUMENT; ``field`` names the part.
    """
