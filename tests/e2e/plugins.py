"""The test plugin distributions of the end-to-end tests: good connectors and every kind of broken one.

Each module appends its name to the file named by ``$E2E_IMPORT_LOG`` when it is imported, so a test
can tell exactly which plugin modules a command imported.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.wheels import build_wheel

IMPORT_LOG_VARIABLE = "E2E_IMPORT_LOG"

_MARKER = """\
import os as _os

if _os.environ.get("E2E_IMPORT_LOG"):
    with open(_os.environ["E2E_IMPORT_LOG"], "a", encoding="utf-8") as _log:
        _log.write(__name__ + "\\n")
"""


def _module(docstring: str, body: str) -> str:
    return f'"""{docstring}"""\n\n{_MARKER}\n{textwrap.dedent(body).lstrip()}'


@dataclass
class Plugin:
    """A test plugin distribution: its name, version, modules and entry points."""

    name: str
    version: str
    modules: dict[str, str]
    entry_points: dict[str, str] = field(default_factory=dict)

    def wheel(self, directory: Path) -> Path:
        files = {f"{module}.py": source for module, source in self.modules.items()}
        return build_wheel(directory, self.name, self.version, files, {"connector": self.entry_points})


PLUGINS = [
    Plugin(
        "connector-good-async",
        "1.0",
        {
            # An AsyncConnector subclass with plain methods, and its version 1 with async def methods.
            "connector_poll": _module(
                "Poll connectors.",
                '''
                import dataclasses

                import connector


                @dataclasses.dataclass
                class PollMeta(connector.ResourceMeta):
                    job_id: str


                class Poll(connector.AsyncConnector):
                    """Starts a job and reports it done."""

                    name = "Poll connector"
                    task_type_name = "poll"
                    metadata_type = PollMeta

                    def create(self, task_template, inputs):
                        return PollMeta(job_id=f"{task_template.type}-{inputs['n']}")

                    def get(self, resource_meta):
                        outputs = {"job": resource_meta.job_id}
                        return connector.Resource(connector.Phase.SUCCEEDED, outputs=outputs)

                    def delete(self, resource_meta):
                        return None


                class PollV1(connector.AsyncConnector):
                    """Version 1 of poll, written with async def."""

                    name = "Poll connector v1"
                    task_type_name = "poll"
                    task_type_version = 1
                    metadata_type = PollMeta

                    async def create(self, inputs):
                        return PollMeta(job_id=f"v1-{inputs['n']}")

                    async def get(self, resource_meta):
                        outputs = {"job": resource_meta.job_id}
                        return connector.Resource(connector.Phase.SUCCEEDED, outputs=outputs)

                    async def delete(self, resource_meta):
                        return None
                ''',
            ),
            # A module of @connector.hookimpl functions, mixing def and async def.
            "connector_wait": _module(
                "Waits for a job: an async connector written as a module of hook implementations.",
                """
                import dataclasses

                import connector

                name = "Wait connector"
                task_type_name = "wait"


                @dataclasses.dataclass
                class WaitMeta(connector.ResourceMeta):
                    ticket: int


                metadata_type = WaitMeta


                @connector.hookimpl
                async def create(inputs):
                    return WaitMeta(ticket=inputs["n"] * 10)


                @connector.hookimpl
                def get(resource_meta):
                    outputs = {"ticket": resource_meta.ticket}
                    return connector.Resource(connector.Phase.SUCCEEDED, outputs=outputs)


                @connector.hookimpl
                async def delete(resource_meta):
                    return None
                """,
            ),
        },
        {"poll": "connector_poll:Poll", "poll@1": "connector_poll:PollV1", "wait": "connector_wait"},
    ),
    Plugin(
        "connector-good-sync",
        "2.0",
        {
            "connector_echo": _module(
                "Echoes its inputs: a SyncConnector subclass with an async def do.",
                """
                import connector


                class Echo(connector.SyncConnector):
                    \"\"\"Echoes its inputs.\"\"\"

                    task_type_name = "echo"

                    async def do(self, inputs):
                        return connector.Resource(connector.Phase.SUCCEEDED, outputs=dict(inputs))
                """,
            ),
            "connector_shout": _module(
                "Shouts: a sync connector written as a class of @connector.hookimpl methods.",
                """
                import connector


                class Shout:
                    name = "Shout connector"

                    @connector.hookimpl
                    def do(self, inputs):
                        outputs = {"text": inputs["text"].upper()}
                        return connector.Resource(connector.Phase.SUCCEEDED, outputs=outputs)
                """,
            ),
        },
        {"echo": "connector_echo:Echo", "shout": "connector_shout:Shout"},
    ),
    Plugin(
        "connector-explode",
        "0.1",
        {
            "connector_explode": _module(
                "A plugin whose import raises.",
                """
                raise RuntimeError("connector_explode needs EXPLODE_TOKEN")
                """,
            )
        },
        {"explode": "connector_explode:Explode"},
    ),
    Plugin(
        "connector-refuse",
        "0.1",
        {
            "connector_refuse": _module(
                "A plugin whose constructor raises.",
                """
                import connector


                class Refuse(connector.SyncConnector):
                    task_type_name = "refuse"

                    def __init__(self):
                        raise PermissionError("no credentials for the refuse service")

                    def do(self):
                        return connector.Resource(connector.Phase.SUCCEEDED)
                """,
            )
        },
        {"refuse": "connector_refuse:Refuse"},
    ),
    Plugin(
        "connector-badarg",
        "0.1",
        {
            "connector_badarg": _module(
                "A plugin whose hook takes an argument no hookspec has.",
                """
                import connector


                class BadArg(connector.SyncConnector):
                    task_type_name = "badarg"

                    def do(self, inputs, retries=3):
                        return connector.Resource(connector.Phase.SUCCEEDED)
                """,
            )
        },
        {"badarg": "connector_badarg:BadArg"},
    ),
    Plugin(
        "connector-badhook",
        "0.1",
        {
            "connector_badhook": _module(
                "A plugin with a hook implementation whose name is no hook.",
                """
                import connector


                @connector.hookimpl
                def do(inputs):
                    return connector.Resource(connector.Phase.SUCCEEDED)


                @connector.hookimpl
                def cancel(resource_meta):
                    return None
                """,
            )
        },
        {"badhook": "connector_badhook"},
    ),
    Plugin(
        "connector-both",
        "0.1",
        {
            "connector_both": _module(
                "A plugin implementing both do and create.",
                """
                import dataclasses

                import connector


                @dataclasses.dataclass
                class BothMeta(connector.ResourceMeta):
                    job_id: str


                class Both:
                    metadata_type = BothMeta

                    @connector.hookimpl
                    def do(self):
                        return connector.Resource(connector.Phase.SUCCEEDED)

                    @connector.hookimpl
                    def create(self):
                        return BothMeta("x")
                """,
            )
        },
        {"both": "connector_both:Both"},
    ),
    Plugin(
        "connector-mismatch",
        "0.1",
        {
            "connector_mismatch": _module(
                "A plugin whose declared task type differs from its entry point's name.",
                """
                import connector


                class Other(connector.SyncConnector):
                    task_type_name = "other"

                    def do(self):
                        return connector.Resource(connector.Phase.SUCCEEDED)
                """,
            )
        },
        # "odd@v2" is not a task type at all: it is listed as broken without importing anything.
        {"mismatch": "connector_mismatch:Other", "odd@v2": "connector_mismatch:Other"},
    ),
    *[
        Plugin(
            f"connector-dup-{letter}",
            version,
            {
                f"connector_dup_{letter}": _module(
                    "One of two distributions claiming the task type 'dup'.",
                    f"""
                    import connector


                    class Dup(connector.SyncConnector):
                        name = "Dup from {letter}"
                        task_type_name = "dup"

                        def do(self):
                            return connector.Resource(connector.Phase.SUCCEEDED, message="{letter}")
                    """,
                )
            },
            {"dup": f"connector_dup_{letter}:Dup"},
        )
        for letter, version in [("a", "1.0"), ("b", "2.0")]
    ],
]

GOOD = ["echo@0", "poll@0", "poll@1", "shout@0", "wait@0"]
BAD_DISTRIBUTIONS = [
    "connector-explode",
    "connector-refuse",
    "connector-badarg",
    "connector-badhook",
    "connector-both",
    "connector-mismatch",
]
