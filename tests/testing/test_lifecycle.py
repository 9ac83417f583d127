"""LifecycleDriver: create, get until terminal, delete; from plain and async code, on a fake clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

import connector
from connector.testing import ContractViolation, FakeClock, LifecycleDriver

from .connectors import AsyncCountdown, Countdown, CountdownMeta, Echo

MakeDriver = Callable[..., LifecycleDriver]


def test_run_polls_until_terminal_then_deletes(
    connector_lifecycle: MakeDriver, connector_clock: FakeClock
) -> None:
    countdown = Countdown()
    driver = connector_lifecycle(countdown, poll_interval=5)
    lifecycle = driver.run(driver.template({"polls": 4}))
    assert [r.phase for r in lifecycle.resources] == [connector.Phase.RUNNING] * 3 + [
        connector.Phase.SUCCEEDED
    ]
    assert lifecycle.final.outputs == {"polls": 4}
    assert lifecycle.polls == 4
    assert lifecycle.resource_meta == CountdownMeta("job-1", 4)
    assert lifecycle.encoded_meta == CountdownMeta("job-1", 4).encode()
    assert lifecycle.deleted
    assert countdown.deleted == ["job-1"]
    # Slept between polls, not after the terminal answer, and only on the fake clock.
    assert connector_clock.sleeps == [5, 5, 5]


def test_run_can_leave_the_job_undeleted() -> None:
    countdown = Countdown()
    lifecycle = LifecycleDriver(countdown).run(delete=False)
    assert not lifecycle.deleted
    assert countdown.deleted == []


async def test_arun_drives_async_hooks(connector_lifecycle: MakeDriver, connector_clock: FakeClock) -> None:
    countdown = AsyncCountdown()
    driver = connector_lifecycle(countdown)
    lifecycle = await driver.arun(driver.template({"polls": 2}))
    assert [r.phase.name for r in lifecycle.resources] == ["RUNNING", "SUCCEEDED"]
    assert countdown.deleted == ["job-1"]
    assert connector_clock.sleeps == [1.0]


async def test_arun_drives_plain_hooks_in_the_executor() -> None:
    lifecycle = await LifecycleDriver(Countdown()).arun(inputs={"ignored": 1})
    assert lifecycle.final.phase is connector.Phase.SUCCEEDED


async def test_single_async_steps() -> None:
    driver = LifecycleDriver(AsyncCountdown())
    meta = await driver.acreate(driver.template({"polls": 1}))
    assert (await driver.aget(meta)).phase is connector.Phase.SUCCEEDED
    await driver.adelete(meta)
    assert (await LifecycleDriver(Echo()).ado(inputs={"a": 1})).outputs == {"a": 1}


def test_single_plain_steps() -> None:
    driver = LifecycleDriver(Countdown())
    meta = driver.create(driver.template({"polls": 2}))
    assert driver.get(meta).phase is connector.Phase.RUNNING
    assert driver.get(meta).phase is connector.Phase.SUCCEEDED
    driver.delete(meta)
    assert LifecycleDriver(Echo()).do(inputs={"b": 2}).outputs == {"b": 2}


def test_sync_connector_runs_do(connector_lifecycle: MakeDriver) -> None:
    lifecycle = connector_lifecycle(Echo).run(inputs={"x": 1})
    assert lifecycle.final == connector.Resource(connector.Phase.SUCCEEDED, outputs={"x": 1})
    assert lifecycle.polls == 0
    assert lifecycle.resource_meta is None


def test_driver_accepts_a_loaded_connector(connector_registry: connector.ConnectorRegistry) -> None:
    loaded = connector_registry.register(Countdown)
    assert LifecycleDriver(loaded).connector is loaded


def test_a_job_that_never_ends_is_a_violation() -> None:
    class Forever(Countdown):
        name = "Forever"

        def get(self, resource_meta: CountdownMeta) -> connector.Resource:
            return connector.Resource(connector.Phase.RUNNING, message="still going")

    clock, forever = FakeClock(), Forever()
    driver = LifecycleDriver(forever, clock=clock, poll_interval=2, max_polls=5)
    with pytest.raises(ContractViolation) as info:
        driver.run()
    assert str(info.value) == (
        "Forever (countdown@0) get did not reach a terminal phase after 5 polls 2s apart (clock at +8s); "
        "last phase RUNNING, message 'still going'. Make the job finish, or raise max_polls"
    )
    assert forever.deleted == ["job-1"]  # not left running


def test_a_failing_get_still_deletes_the_job() -> None:
    class Broken(Countdown):
        def get(self, resource_meta: CountdownMeta) -> connector.Resource:
            raise ConnectionError("status API down")

    broken = Broken()
    with pytest.raises(ConnectionError, match=r"^status API down$"):
        LifecycleDriver(broken).run()
    assert broken.deleted == ["job-1"]
    with pytest.raises(ConnectionError, match=r"^status API down$"):
        LifecycleDriver(broken).run(delete=False)
    assert broken.deleted == ["job-1"]


async def test_a_failing_async_get_still_deletes_the_job() -> None:
    class Broken(AsyncCountdown):
        async def get(self, resource_meta: CountdownMeta) -> connector.Resource:  # type: ignore[override]
            raise ConnectionError("status API down")

    broken = Broken()
    with pytest.raises(ConnectionError, match=r"^status API down$"):
        await LifecycleDriver(broken).arun()
    assert broken.deleted == ["job-1"]
    with pytest.raises(ConnectionError, match=r"^status API down$"):
        await LifecycleDriver(broken).arun(delete=False)
    assert broken.deleted == ["job-1"]


def test_create_returning_the_wrong_type_is_a_violation() -> None:
    class WrongMeta(Countdown):
        name = "WrongMeta"

        def create(self) -> dict[str, str]:  # type: ignore[override]
            return {"job_id": "1"}

    with pytest.raises(ContractViolation) as info:
        LifecycleDriver(WrongMeta()).run()
    assert str(info.value) == (
        "task type countdown@0 from registered connector "
        "test_create_returning_the_wrong_type_is_a_violation.<locals>.WrongMeta: create returned dict, "
        "not an instance of its metadata_type CountdownMeta; return CountdownMeta(...)"
    )


def test_meta_that_cannot_be_encoded_is_a_violation() -> None:
    class Unencodable(Countdown):
        def create(self) -> CountdownMeta:  # type: ignore[override]
            return CountdownMeta(job_id=object(), polls_left=1)  # type: ignore[arg-type]

    with pytest.raises(
        ContractViolation,
        match=r"create returned a CountdownMeta that does not survive encode/decode: cannot encode "
        r"CountdownMeta: values of type object are not supported",
    ):
        LifecycleDriver(Unencodable()).run()


def test_get_returning_the_wrong_type_is_a_violation() -> None:
    class WrongResource(Countdown):
        name = "WrongResource"

        def get(self) -> str:  # type: ignore[override]
            return "done"

    with pytest.raises(ContractViolation) as info:
        LifecycleDriver(WrongResource()).run()
    assert str(info.value) == (
        "task type countdown@0 from registered connector "
        "test_get_returning_the_wrong_type_is_a_violation.<locals>.WrongResource: get returned str, "
        "not a connector.Resource; return Resource(phase=..., message=..., outputs=...)"
    )


def test_do_answering_with_a_running_phase_is_a_violation() -> None:
    class NotDone(Echo):
        name = "NotDone"

        def do(self) -> connector.Resource:  # type: ignore[override]
            return connector.Resource(connector.Phase.RUNNING)

    with pytest.raises(ContractViolation) as info:
        LifecycleDriver(NotDone()).run()
    assert str(info.value) == (
        "task type echo@2 from registered connector "
        "test_do_answering_with_a_running_phase_is_a_violation.<locals>.NotDone: do returned phase "
        "RUNNING, which is not terminal; a sync connector answers with SUCCEEDED, FAILED, ABORTED or "
        "RETRYABLE_FAILED"
    )


def test_get_and_delete_see_freshly_decoded_meta() -> None:
    seen: list[tuple[str, int]] = []

    class Recorder(Countdown):
        def get(self, resource_meta: CountdownMeta) -> connector.Resource:
            seen.append(("get", resource_meta.polls_left))
            resource_meta.polls_left = 0  # a mutation must not leak into the next call
            return super().get(dataclasses.replace(resource_meta, polls_left=3))

        def delete(self, resource_meta: CountdownMeta) -> None:
            seen.append(("delete", resource_meta.polls_left))

    driver = LifecycleDriver(Recorder())
    driver.run(driver.template({"polls": 3}))
    assert seen == [("get", 3), ("get", 3), ("get", 3), ("delete", 3)]
