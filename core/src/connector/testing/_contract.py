"""ConnectorContract: the test class a plugin subclasses to check that its connector keeps the contract."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from .._exceptions import ConnectorUnavailable, ResourceMetaError
from .._model import Connection, Phase, TaskCategory, TaskTemplate
from .._settings import RegistrySettings
from ..registry._discovery import (
    ENTRY_POINT_GROUP,
    ConnectorRecord,
    discover_connectors,
    records_from_objects,
)
from ..registry._loaded import LoadedConnector
from ..registry._registry import ConnectorRegistry
from ._clock import FakeClock
from ._exceptions import ContractViolation
from ._lifecycle import Lifecycle, LifecycleDriver

# Bytes a workflow engine could hand back after corruption or from another connector: each must make
# ``metadata_type.decode`` raise ResourceMetaError (the service answers INVALID_ARGUMENT), never
# anything else.
GARBLED_METAS: tuple[bytes, ...] = (
    b"",
    b"\xff\xfe\x00garbage",
    b"not json at all",
    b"[1, 2, 3]",
    b'{"data": {}}',
    b'{"v": "one", "data": {}}',
    b'{"v": 999, "data": {}}',
    b'{"v": 1, "data": [1, 2]}',
)

_ASYNC_TESTS = (
    "test_contract_meta_round_trip",
    "test_contract_create_then_get_reaches_terminal_phase",
    "test_contract_delete_is_idempotent",
    "test_contract_garbled_meta_raises_resource_meta_error",
)
_SYNC_TESTS = ("test_contract_do_returns_resource",)


def _looks_sync(connector: object) -> bool:
    return callable(getattr(connector, "do", None))


class ConnectorContract:
    """The connector contract as a test class: subclass it in a plugin's tests.

    Set ``implementation`` to the connector (a class, an instance or a module of hook implementations)
    and, when it needs them, ``custom`` (the template's custom fields), ``inputs`` and ``secrets``.
    For anything built at test time (a server's URL, a temporary file, a fake clock given to the
    connector) override the fixture of the same role instead: ``contract_connector``,
    ``contract_template``, ``contract_inputs``, ``contract_connection`` or ``contract_clock``.

    The tests check, for an async connector: the meta ``create`` returns survives an encode/decode
    round trip; ``create`` then ``get`` reaches a terminal phase (``expected_phase``, and
    ``expected_outputs`` when set); ``delete`` is idempotent; garbled meta bytes raise
    ``ResourceMetaError``. For a sync connector: ``do`` returns a terminal ``Resource``. For both:
    the connector validates, and the installed entry point that advertises it is named after its
    category (set ``entry_point`` when the distribution is not installed). Whether the connector is
    sync is read from ``implementation`` (it has a ``do``); set ``sync`` when only a fixture provides it.
    """

    #: The connector under test: a class, an instance, or a module of ``@connector.hookimpl`` functions.
    #: (Not named ``connector``: that would hide the ``connector`` package inside the class body.)
    implementation: ClassVar[object] = None
    #: Whether it is a sync connector; None: decided from ``implementation``.
    sync: ClassVar[bool | None] = None
    #: The task template's custom fields.
    custom: ClassVar[Mapping[str, Any]] = {}
    #: The task's inputs.
    inputs: ClassVar[Mapping[str, Any]] = {}
    #: The connection's secrets.
    secrets: ClassVar[Mapping[str, str]] = {}
    #: The phase the run must end in; None accepts any terminal phase.
    expected_phase: ClassVar[Phase | None] = Phase.SUCCEEDED
    #: The outputs the final ``Resource`` must carry; None does not check them.
    expected_outputs: ClassVar[Mapping[str, Any] | None] = None
    #: The entry-point name that should advertise the connector, when its distribution is not installed.
    entry_point: ClassVar[str | None] = None
    #: Seconds between polls on the fake clock, and the most polls before the run is a failure.
    poll_interval: ClassVar[float] = 1.0
    max_polls: ClassVar[int] = 100

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        sync = cls.sync
        if sync is None and cls.implementation is not None:
            sync = _looks_sync(cls.implementation)
        # Tests of the other kind are removed rather than skipped: they cannot apply. Without a kind,
        # both kinds' tests stay, and each one says so when it meets the other kind.
        removed = () if sync is None else _ASYNC_TESTS if sync else _SYNC_TESTS
        for name in _ASYNC_TESTS + _SYNC_TESTS:
            if name in vars(cls):
                continue  # the class's own choice
            if name in removed:
                setattr(cls, name, None)
            elif getattr(cls, name) is None:  # removed by a parent contract of the other kind
                setattr(cls, name, getattr(ConnectorContract, name))

    # Fixtures: override one in the subclass to build it at test time.

    @pytest.fixture
    def contract_clock(self) -> FakeClock:
        """The clock the lifecycle driver sleeps on between polls (give it to the connector too)."""
        return FakeClock()

    @pytest.fixture
    def contract_connector(self) -> object:
        """The connector object under test; defaults to the ``implementation`` class attribute."""
        if self.implementation is None:
            raise ContractViolation(
                f"{type(self).__name__} sets no connector: set `implementation = MyConnector` on the class "
                "or override the `contract_connector` fixture"
            )
        return self.implementation

    @pytest.fixture
    def contract_loaded(self, contract_connector: object) -> LoadedConnector:
        """The connector, validated and registered in a registry of its own."""
        return _load(contract_connector, type(self).__name__)

    @pytest.fixture
    def contract_template(self, contract_loaded: LoadedConnector) -> TaskTemplate:
        """The task template sent to ``create`` and ``do``: the connector's category and ``custom``."""
        category = contract_loaded.category
        return TaskTemplate(category.name, category.version, custom=dict(self.custom))

    @pytest.fixture
    def contract_inputs(self) -> dict[str, Any]:
        """The task's inputs; defaults to the ``inputs`` class attribute."""
        return dict(self.inputs)

    @pytest.fixture
    def contract_connection(self) -> Connection:
        """The connection sent with every call; its secrets default to the ``secrets`` class attribute."""
        return Connection(secrets=dict(self.secrets))

    @pytest.fixture
    def contract_driver(self, contract_loaded: LoadedConnector, contract_clock: FakeClock) -> LifecycleDriver:
        """The lifecycle driver for the connector, on the contract clock."""
        return LifecycleDriver(
            contract_loaded, clock=contract_clock, poll_interval=self.poll_interval, max_polls=self.max_polls
        )

    # The contract.

    def test_contract_connector_is_valid(self, contract_connector: object) -> None:
        """The connector passes the core's validation (hook names, arguments, kind, metadata type)."""
        loaded = _load(contract_connector, type(self).__name__)
        if self.sync is not None and loaded.is_sync != self.sync:
            kind = "sync" if loaded.is_sync else "async"
            raise ContractViolation(f"{type(self).__name__} sets sync = {self.sync} but {loaded!r} is {kind}")

    def test_contract_meta_round_trip(
        self,
        contract_driver: LifecycleDriver,
        contract_template: TaskTemplate,
        contract_inputs: dict[str, Any],
        contract_connection: Connection,
    ) -> None:
        """The meta ``create`` returns decodes to an equal meta, also with a key it does not know."""
        self._require_kind(contract_driver, sync=False)
        meta = contract_driver.create(
            contract_template, inputs=contract_inputs, connection=contract_connection
        )
        try:
            data = meta.encode()
            decoded = type(meta).decode(data)
            if decoded != meta:
                raise ContractViolation(
                    f"{type(meta).__qualname__} does not survive encode/decode: {meta!r} came back as "
                    f"{decoded!r}; keep only fields ResourceMeta can encode (see its docstring)"
                )
            if decoded.encode() != data:
                raise ContractViolation(
                    f"{type(meta).__qualname__} encodes differently after a round trip: {data!r} then "
                    f"{decoded.encode()!r}"
                )
            document = json.loads(data)
            document["data"]["__added_by_a_newer_version__"] = 1
            newer = json.dumps(document).encode()
            try:
                forward = type(meta).decode(newer)
            except ResourceMetaError as exc:
                raise ContractViolation(
                    f"{type(meta).__qualname__}.decode refuses a meta with a key it does not know ({exc}); "
                    "a meta written by a newer version of the connector must still decode"
                ) from exc
            if forward != meta:
                raise ContractViolation(
                    f"{type(meta).__qualname__}.decode changes the meta when it has an unknown key: "
                    f"{forward!r}"
                )
        finally:
            contract_driver.delete(meta, connection=contract_connection)

    def test_contract_create_then_get_reaches_terminal_phase(
        self,
        contract_driver: LifecycleDriver,
        contract_template: TaskTemplate,
        contract_inputs: dict[str, Any],
        contract_connection: Connection,
    ) -> None:
        """``create`` then ``get`` (polled on the fake clock) reaches a terminal phase; then ``delete``."""
        self._require_kind(contract_driver, sync=False)
        lifecycle = contract_driver.run(
            contract_template, inputs=contract_inputs, connection=contract_connection
        )
        self._check_outcome(contract_driver, lifecycle, "get")

    def test_contract_delete_is_idempotent(
        self,
        contract_driver: LifecycleDriver,
        contract_template: TaskTemplate,
        contract_inputs: dict[str, Any],
        contract_connection: Connection,
    ) -> None:
        """``delete`` of one job twice (each time from freshly decoded bytes) raises nothing."""
        self._require_kind(contract_driver, sync=False)
        meta = contract_driver.create(
            contract_template, inputs=contract_inputs, connection=contract_connection
        )
        data = meta.encode()
        for attempt in ("first", "second"):
            try:
                contract_driver.delete(type(meta).decode(data), connection=contract_connection)
            except Exception as exc:
                raise ContractViolation(
                    f"{contract_driver.connector.name} ({contract_driver.connector.category}): the {attempt} "
                    f"delete of one job raised {type(exc).__name__}: {exc}; delete must be idempotent "
                    "(deleting a job that is finished or gone is not an error)"
                ) from exc

    def test_contract_garbled_meta_raises_resource_meta_error(self, contract_loaded: LoadedConnector) -> None:
        """Corrupted meta bytes make ``metadata_type.decode`` raise ``ResourceMetaError`` naming the type."""
        self._require_kind(contract_loaded, sync=False)
        metadata_type = contract_loaded.metadata_type
        assert metadata_type is not None
        for garbled in GARBLED_METAS:
            try:
                result = metadata_type.decode(garbled)
            except ResourceMetaError as exc:
                if metadata_type.__name__ not in str(exc):
                    raise ContractViolation(
                        f"{metadata_type.__qualname__}.decode({garbled!r}) raised "
                        f"ResourceMetaError({exc!r}), "
                        f"whose message does not name {metadata_type.__name__!r}"
                    ) from exc
                continue
            except Exception as exc:
                raise ContractViolation(
                    f"{metadata_type.__qualname__}.decode({garbled!r}) raised {type(exc).__name__}: {exc}, "
                    "not connector.ResourceMetaError"
                ) from exc
            raise ContractViolation(
                f"{metadata_type.__qualname__}.decode({garbled!r}) returned {result!r} instead of raising "
                "connector.ResourceMetaError"
            )

    def test_contract_do_returns_resource(
        self,
        contract_driver: LifecycleDriver,
        contract_template: TaskTemplate,
        contract_inputs: dict[str, Any],
        contract_connection: Connection,
    ) -> None:
        """``do`` returns a ``Resource`` in a terminal phase (``expected_phase``, ``expected_outputs``)."""
        self._require_kind(contract_driver, sync=True)
        lifecycle = contract_driver.run(
            contract_template, inputs=contract_inputs, connection=contract_connection
        )
        self._check_outcome(contract_driver, lifecycle, "do")

    def test_contract_category_matches_entry_point(self, contract_loaded: LoadedConnector) -> None:
        """The entry point that advertises the connector is named after the category it declares."""
        records = _installed_records(contract_loaded.connector)
        if self.entry_point is not None:
            records.extend(
                records_from_objects([(TaskCategory.parse(self.entry_point), contract_loaded.connector)])
            )
        if not records:
            raise ContractViolation(
                f"no installed distribution advertises {contract_loaded.name} in the {ENTRY_POINT_GROUP!r} "
                f"entry-point group: install the plugin (`pip install -e .`) or set "
                f"entry_point = {contract_loaded.category.entry_point_name!r} on {type(self).__name__}"
            )
        for record in records:
            if record.category is None:
                raise ContractViolation(str(record.problem))
            try:
                # A registry of this record alone loads it as `connector list` would, with the
                # core's own category check and message.
                ConnectorRegistry([record], settings=RegistrySettings()).get(record.category)
            except ConnectorUnavailable as exc:
                raise ContractViolation(str(exc)) from exc

    # Helpers.

    def _require_kind(self, driver_or_loaded: LifecycleDriver | LoadedConnector, *, sync: bool) -> None:
        loaded = (
            driver_or_loaded.connector if isinstance(driver_or_loaded, LifecycleDriver) else driver_or_loaded
        )
        if loaded.is_sync != sync:
            kind, other = ("sync", "async") if sync else ("async", "sync")
            raise ContractViolation(
                f"this test is for {kind} connectors but {loaded!r} is {other}; set "
                f"`sync = {loaded.is_sync}` on {type(self).__name__}"
            )

    def _check_outcome(self, driver: LifecycleDriver, lifecycle: Lifecycle, hook: str) -> None:
        final = lifecycle.final
        where = f"{driver.connector.name} ({driver.connector.category}) {hook}"
        if self.expected_phase is not None and final.phase != self.expected_phase:
            raise ContractViolation(
                f"{where} ended in {final.phase.name} ({final.message!r}), expected "
                f"{Phase(self.expected_phase).name}; fix the sample custom fields or inputs, or set "
                "expected_phase"
            )
        if self.expected_outputs is not None and final.outputs != dict(self.expected_outputs):
            raise ContractViolation(
                f"{where} returned outputs {final.outputs!r}, expected {dict(self.expected_outputs)!r}"
            )


def _load(connector: object, test_class: str) -> LoadedConnector:
    registry = ConnectorRegistry(settings=RegistrySettings())
    try:
        return registry.register(connector)
    except ConnectorUnavailable as exc:
        raise ContractViolation(f"{test_class}: the connector is not valid: {exc}") from exc


def _installed_records(connector: object) -> list[ConnectorRecord]:
    """The installed entry points whose target is this connector (its class, instance or module)."""
    if inspect.ismodule(connector):
        module, candidates = connector.__name__, {id(connector)}
    else:
        cls = connector if inspect.isclass(connector) else type(connector)
        module, candidates = cls.__module__, {id(cls), id(connector)}
    top = module.partition(".")[0]
    found = []
    for record in discover_connectors():
        target_module = record.target.partition(":")[0].strip()
        if target_module != top and not target_module.startswith(top + "."):
            continue  # another distribution's connector: never import it here
        try:
            loaded = record.load()
        except Exception:
            continue  # a sibling entry point that is broken is its own test's business
        if id(loaded) in candidates or (not inspect.isclass(loaded) and id(type(loaded)) in candidates):
            found.append(record)
    return found
