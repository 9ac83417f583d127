"""Base classes for writing a connector as a class with plain methods (the seed style)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._model import TaskCategory
from ._resource_meta import ResourceMeta

if TYPE_CHECKING:
    from ._fields import Field


class ConnectorBase:
    """Common attributes of every connector class.

    Set ``task_type_name`` (and ``task_type_version`` when it is not 0) as class attributes, or pass
    them to ``__init__`` as in flytekit. ``name`` is shown by ``connector show`` and the metadata
    services; it defaults to the class name.

    ``raw_literals = True`` asks for the protocol's own messages instead of native values: ``inputs``
    is the request's literal map as received (a ``flyteidl.core.literals_pb2.LiteralMap`` for
    flyteidl v1, a ``flyteidl2.task.common_pb2.Inputs`` for flyteidl2; ``connector run`` passes a v1
    ``LiteralMap``), ``task_template.raw`` is the request's ``TaskTemplate`` message, and
    ``Resource.outputs`` may be a literal map of the request's protocol (``LiteralMap`` for v1,
    ``flyteidl2.task.common_pb2.Outputs`` for v2), copied into the response as it is. For bridges to
    SDKs that convert literals themselves.

    ``custom_fields`` declares the template's custom fields (a tuple of ``connector.Field``): the
    core then checks every template against it before ``create`` and ``do``, refusing unknown keys,
    missing required fields and values of the wrong type, and fills in defaults. Left as None, the
    template is passed on unchecked. A connector that also takes templates of another schema
    defines ``custom_fields_apply(self, task_template) -> bool``, False for those: they pass
    unchecked. ``input_fields`` and ``output_fields`` document the task's inputs and outputs;
    ``connector show`` and ``connector run --help-fields`` list all three.
    """

    name: ClassVar[str] = ""
    task_type_name: str = ""
    task_type_version: int = 0
    raw_literals: ClassVar[bool] = False
    custom_fields: ClassVar[Sequence[Field] | None] = None
    input_fields: ClassVar[Sequence[Field]] = ()
    output_fields: ClassVar[Sequence[Field]] = ()

    def __init__(
        self, task_type_name: str | None = None, task_type_version: int | None = None, **kwargs: Any
    ) -> None:
        if task_type_name is not None:
            self.task_type_name = task_type_name
        if task_type_version is not None:
            self.task_type_version = task_type_version
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(kwargs))}")

    @property
    def task_category(self) -> TaskCategory:
        """The task category this connector serves."""
        return TaskCategory(self.task_type_name, self.task_type_version)


class AsyncConnector(ConnectorBase):
    """Base class of an async connector: one that starts a job and is polled until it ends.

    Implement ``create``, ``get`` and ``delete``, and optionally ``get_logs`` and ``get_metrics``, as
    plain or ``async`` methods taking any subset of the hook's arguments by name (see
    ``connector.hookspecs``). Set ``metadata_type`` to the ``ResourceMeta`` dataclass ``create``
    returns (a class attribute, or the ``metadata_type`` argument of ``__init__``); a connector
    without one is refused when it is loaded.
    """

    # None, not ResourceMeta: a forgotten metadata_type must fail validation, not decode every job
    # handle into an empty base ResourceMeta.
    metadata_type: type[ResourceMeta] | None = None

    def __init__(self, metadata_type: type[ResourceMeta] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if metadata_type is not None:
            self.metadata_type = metadata_type


class SyncConnector(ConnectorBase):
    """Base class of a sync connector: one that answers in a single ``do`` call.

    Implement ``do`` as a plain or ``async`` method returning a ``Resource`` in a terminal phase.
    """


# Seed names (flytekit.extend.backend.base_connector).
AsyncConnectorBase = AsyncConnector
SyncConnectorBase = SyncConnector
