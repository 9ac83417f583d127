"""ConnectorContract passes for good connectors and fails, with a message that says why, for broken ones.

Each case runs a real pytest session (pytester) on a test file that subclasses the contract.
"""

from __future__ import annotations

import re
import textwrap

import pytest

pytest_plugins = ["pytester"]

CONNECTORS = """
import dataclasses
from typing import Any

import connector
from connector.testing import ConnectorContract


@dataclasses.dataclass
class JobMeta(connector.ResourceMeta):
    job_id: str
    polls: int = 2


JOBS: dict[str, int] = {}


class Job(connector.AsyncConnector):
    name = "Job"
    task_type_name = "job"
    metadata_type = JobMeta

    def create(self, task_template):
        job_id = f"j{len(JOBS)}"
        JOBS[job_id] = 0
        return JobMeta(job_id, int(task_template.custom.get("polls", 2)))

    def get(self, resource_meta):
        JOBS[resource_meta.job_id] += 1
        done = JOBS[resource_meta.job_id] >= resource_meta.polls
        phase = connector.Phase.SUCCEEDED if done else connector.Phase.RUNNING
        return connector.Resource(phase, outputs={"n": JOBS[resource_meta.job_id]} if done else None)

    def delete(self, resource_meta):
        JOBS.pop(resource_meta.job_id, None)


class Echo(connector.SyncConnector):
    name = "Echo"
    task_type_name = "echo"
    task_type_version = 1

    def do(self, inputs):
        return connector.Resource(connector.Phase.SUCCEEDED, outputs=dict(inputs))
"""

ASYNC_TESTS = [
    "test_contract_connector_is_valid",
    "test_contract_meta_round_trip",
    "test_contract_create_then_get_reaches_terminal_phase",
    "test_contract_delete_is_idempotent",
    "test_contract_garbled_meta_raises_resource_meta_error",
    "test_contract_category_matches_entry_point",
]
SYNC_TESTS = [
    "test_contract_connector_is_valid",
    "test_contract_do_returns_resource",
    "test_contract_category_matches_entry_point",
]


def run_contract(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makepyfile(test_plugin=CONNECTORS + textwrap.dedent(body))
    # pytest-asyncio is not needed by the contract, and would warn about its unset loop scope.
    return pytester.runpytest("-v", "-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:hypothesispytest")


def assert_violations(result: pytest.RunResult, *messages: str) -> None:
    """Each message appears in full as a ContractViolation in the inner session's report."""
    output = result.stdout.str()
    for message in messages:
        assert f"ContractViolation: {message}\n" in output, output


def test_a_good_async_connector_passes_every_async_test(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class TestJob(ConnectorContract):
            implementation = Job
            custom = {"polls": 3}
            expected_outputs = {"n": 3}
            entry_point = "job"
        """,
    )
    result.assert_outcomes(passed=len(ASYNC_TESTS))
    result.stdout.fnmatch_lines([f"*TestJob::{name} PASSED*" for name in ASYNC_TESTS], consecutive=False)


def test_a_good_sync_connector_passes_every_sync_test(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class TestEcho(ConnectorContract):
            implementation = Echo()
            inputs = {"a": 1}
            expected_outputs = {"a": 1}
            entry_point = "echo@1"
        """,
    )
    result.assert_outcomes(passed=len(SYNC_TESTS))
    assert "test_contract_meta_round_trip" not in result.stdout.str()


def test_a_contract_subclassing_another_kind_gets_its_own_tests(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class TestEcho(ConnectorContract):
            implementation = Echo
            entry_point = "echo@1"

        class TestJobToo(TestEcho):
            implementation = Job
            entry_point = "job"

        class TestEchoAgain(TestJobToo):
            implementation = Echo
            entry_point = "echo@1"
        """,
    )
    result.assert_outcomes(passed=len(SYNC_TESTS) * 2 + len(ASYNC_TESTS))
    output = result.stdout.str()
    for test_class, names in (("TestJobToo", ASYNC_TESTS), ("TestEchoAgain", SYNC_TESTS)):
        assert sorted(re.findall(rf"::{test_class}::(\w+) PASSED", output)) == sorted(names)


def test_fixtures_can_replace_the_class_attributes(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        import pytest

        class TestJobFromFixtures(ConnectorContract):
            sync = False
            entry_point = "job"
            expected_outputs = {"n": 5}

            @pytest.fixture
            def contract_connector(self):
                return Job()

            @pytest.fixture
            def contract_template(self):
                return connector.TaskTemplate("job", custom={"polls": 5})
        """,
    )
    result.assert_outcomes(passed=len(ASYNC_TESTS))


def test_a_job_that_never_ends_fails_with_the_reason(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class TestStuck(ConnectorContract):
            implementation = Job
            custom = {"polls": 1000}
            entry_point = "job"
            max_polls = 10
        """,
    )
    result.assert_outcomes(passed=len(ASYNC_TESTS) - 1, failed=1)
    assert_violations(
        result,
        "Job (job@0) get did not reach a terminal phase after 10 polls 1s apart (clock at +9s); last phase "
        "RUNNING, message ''. Make the job finish, or raise max_polls",
    )


def test_a_delete_that_is_not_idempotent_fails(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class Strict(Job):
            def delete(self, resource_meta):
                del JOBS[resource_meta.job_id]

        class TestStrict(ConnectorContract):
            implementation = Strict
            entry_point = "job"
        """,
    )
    result.assert_outcomes(passed=len(ASYNC_TESTS) - 1, failed=1)
    assert_violations(
        result,
        "Job (job@0): the second delete of one job raised KeyError: 'j0'; delete must "
        "be idempotent (deleting a job that is finished or gone is not an error)",
    )


def test_a_meta_that_does_not_round_trip_fails(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        @dataclasses.dataclass
        class ListMeta(connector.ResourceMeta):
            job_id: str
            tags: tuple[str, ...] = ()

        class Lossy(Job):
            metadata_type = ListMeta

            def create(self, task_template):
                JOBS["x"] = 0
                return ListMeta("x", ["a", "b"])  # a list where a tuple is declared

            def get(self, resource_meta):
                return connector.Resource(connector.Phase.SUCCEEDED)

        class TestLossy(ConnectorContract):
            implementation = Lossy
            entry_point = "job"
        """,
    )
    result.assert_outcomes(passed=len(ASYNC_TESTS) - 1, failed=1)
    assert_violations(
        result,
        "ListMeta does not survive encode/decode: ListMeta(job_id='x', tags=['a', 'b']) "
        "came back as ListMeta(job_id='x', tags=('a', 'b')); keep only fields ResourceMeta can encode "
        "(see its docstring)",
    )


def test_a_lenient_decode_fails_the_garbled_meta_test(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        @dataclasses.dataclass
        class LenientMeta(JobMeta):
            @classmethod
            def decode(cls, data):
                try:
                    return super().decode(data)
                except connector.ResourceMetaError:
                    return cls("unknown")

        class Lenient(Job):
            metadata_type = LenientMeta

            def create(self, task_template):
                JOBS["y"] = 0
                return LenientMeta("y", 1)

        class TestLenient(ConnectorContract):
            implementation = Lenient
            entry_point = "job"
        """,
    )
    result.assert_outcomes(passed=len(ASYNC_TESTS) - 1, failed=1)
    assert_violations(
        result,
        "LenientMeta.decode(b'') returned LenientMeta(job_id='unknown', polls=2) "
        "instead of raising connector.ResourceMetaError",
    )


def test_a_decode_raising_something_else_fails(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        @dataclasses.dataclass
        class PickyMeta(JobMeta):
            @classmethod
            def decode(cls, data):
                if not data.startswith(b"{"):
                    raise KeyError("no brace")
                return super().decode(data)

        class Picky(Job):
            metadata_type = PickyMeta

            def create(self, task_template):
                JOBS["z"] = 0
                return PickyMeta("z", 1)

        class TestPicky(ConnectorContract):
            implementation = Picky
            entry_point = "job"
        """,
    )
    result.assert_outcomes(passed=len(ASYNC_TESTS) - 1, failed=1)
    assert_violations(
        result, "PickyMeta.decode(b'') raised KeyError: 'no brace', not connector.ResourceMetaError"
    )


def test_do_returning_something_else_fails(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class Dicty(Echo):
            def do(self, inputs):
                return {"outputs": inputs}

        class TestDicty(ConnectorContract):
            implementation = Dicty
            entry_point = "echo@1"
        """,
    )
    result.assert_outcomes(passed=len(SYNC_TESTS) - 1, failed=1)
    assert_violations(
        result,
        "task type echo@1 from registered connector Dicty: do returned dict, not a connector.Resource; "
        "return Resource(phase=..., message=..., outputs=...)",
    )


def test_an_unexpected_phase_fails(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class Failing(Echo):
            def do(self):
                return connector.Resource(connector.Phase.FAILED, message="bad input")

        class TestFailing(ConnectorContract):
            implementation = Failing
            entry_point = "echo@1"
        """,
    )
    result.assert_outcomes(passed=len(SYNC_TESTS) - 1, failed=1)
    assert_violations(
        result,
        "Echo (echo@1) do ended in FAILED ('bad input'), expected SUCCEEDED; fix the "
        "sample custom fields or inputs, or set expected_phase",
    )


def test_a_category_that_differs_from_the_entry_point_fails(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class TestMisnamed(ConnectorContract):
            implementation = Echo
            entry_point = "echo"
        """,
    )
    result.assert_outcomes(passed=len(SYNC_TESTS) - 1, failed=1)
    assert_violations(
        result,
        "unknown distribution, entry point 'echo' (Echo): declares task type echo@1 but its entry point is "
        "named 'echo'; rename the entry point to 'echo@1' or fix task_type_name/task_type_version",
    )


def test_a_connector_without_any_entry_point_fails(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class TestUnadvertised(ConnectorContract):
            implementation = Echo
        """,
    )
    result.assert_outcomes(passed=len(SYNC_TESTS) - 1, failed=1)
    assert_violations(
        result,
        "no installed distribution advertises Echo in the 'connector' entry-point "
        "group: install the plugin (`pip install -e .`) or set entry_point = 'echo@1' on TestUnadvertised",
    )


def test_an_invalid_connector_fails_every_test(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class Both(Job):
            def do(self):
                return connector.Resource(connector.Phase.SUCCEEDED)

        class TestBoth(ConnectorContract):
            implementation = Both
            entry_point = "job"
        """,
    )
    # Both is taken for sync (it has `do`); validation refuses it in every test.
    result.assert_outcomes(failed=1, errors=len(SYNC_TESTS) - 1)
    assert_violations(
        result,
        "TestBoth: the connector is not valid: registered connector Both: implements both "
        "'do' (sync) and 'create', 'get', 'delete' (async); a connector is one or the other",
    )


def test_a_missing_connector_is_reported(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        class TestNothing(ConnectorContract):
            sync = True
        """,
    )
    result.assert_outcomes(errors=len(SYNC_TESTS))
    assert_violations(
        result,
        "TestNothing sets no connector: set `implementation = MyConnector` on the class or "
        "override the `contract_connector` fixture",
    )


def test_a_wrong_sync_setting_is_reported(pytester: pytest.Pytester) -> None:
    result = run_contract(
        pytester,
        """
        import pytest

        class TestWrongKind(ConnectorContract):
            sync = True
            entry_point = "job"

            @pytest.fixture
            def contract_connector(self):
                return Job()
        """,
    )
    result.assert_outcomes(passed=1, failed=2)
    assert_violations(
        result,
        "TestWrongKind sets sync = True but <LoadedConnector job@0 'Job' async> is async",
        "this test is for sync connectors but <LoadedConnector job@0 'Job' async> is "
        "async; set `sync = False` on TestWrongKind",
    )


def test_the_contract_base_class_itself_is_not_collected(pytester: pytest.Pytester) -> None:
    result = run_contract(pytester, "")
    result.assert_outcomes()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
