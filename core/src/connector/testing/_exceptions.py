"""The failures the test kit reports: assertion errors, so pytest shows them as failed tests."""

from __future__ import annotations


class ContractViolation(AssertionError):
    """Raised when a connector breaks a rule of the connector contract.

    Raised by ``ConnectorContract``'s tests and by ``LifecycleDriver`` (a ``create`` that returns
    something other than the connector's ``metadata_type``, a ``get`` that never reaches a terminal
    phase, ...). The message names the connector, the hook and the rule, and says how to fix it.
    It is an ``AssertionError`` on purpose: the contract is a test, and pytest reports it as a
    failure rather than an error in the test's code.
    """
