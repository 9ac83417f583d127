"""The tutorial's flytekit and Flyte 2 task definitions, serialized by the real packages (issue 12).

docs/tutorial.md shows a flytekit task and a Flyte 2 task that use the scaffold's task type. Each is
taken from the page as it is, run in the peer's cached virtualenv and serialized as the SDK does for
registration; the task template must carry the task type, version 0, the custom fields
``connector run --custom some_setting=value`` gives, and the input ``x``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.compat.peers import _peer_environ
from tests.compat.venvs import CachedVenv
from tests.support.tutorial import marked

pytestmark = pytest.mark.compat

FLYTEKIT_SERIALIZE = """
import json, runpy, sys
from collections import OrderedDict
from flytekit.configuration import ImageConfig, SerializationSettings
from flytekit.tools.translator import get_serializable

found = runpy.run_path(sys.argv[1])
settings = SerializationSettings(
    image_config=ImageConfig.auto_default_image(), project="tutorial", domain="development", version="v1"
)
template = get_serializable(OrderedDict(), settings, found["my_service"]).template
workflow = get_serializable(OrderedDict(), settings, found["my_workflow"])
print(json.dumps({
    "type": template.type,
    "version": template.task_type_version,
    "custom": template.custom,
    "inputs": sorted(template.interface.inputs),
    "workflow_nodes": [node.task_node.reference_id.name for node in workflow.template.nodes],
}))
"""

FLYTE_SERIALIZE = """
import json, runpy, sys
from flyte._internal.runtime.task_serde import get_proto_task
from flyte.models import SerializationContext
from google.protobuf.json_format import MessageToDict

found = runpy.run_path(sys.argv[1])
context = SerializationContext(version="v1", project="tutorial", domain="development", org="tutorial")
template = get_proto_task(found["my_service"], context)
print(json.dumps({
    "type": template.type,
    "version": template.task_type_version,
    "custom": MessageToDict(template.custom),
    "inputs": sorted(variable.key for variable in template.interface.inputs.variables),
    "environment": found["env"].name,
}))
"""


def serialized(venv: CachedVenv, marker: str, script: str, tmp_path: Path) -> dict[str, Any]:
    source = tmp_path / f"{marker}_tasks.py"
    source.write_text(marked(marker).body)
    result = subprocess.run(
        [str(venv.python), "-c", script, str(source)],
        capture_output=True,
        text=True,
        env=_peer_environ(),
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return answer


def test_the_flytekit_task_serializes_with_the_task_type(flytekit_venv: CachedVenv, tmp_path: Path) -> None:
    assert serialized(flytekit_venv, "flytekit", FLYTEKIT_SERIALIZE, tmp_path) == {
        "type": "my_service",
        "version": 0,
        "custom": {"some_setting": "value"},
        "inputs": ["x"],
        "workflow_nodes": ["my_service_example"],
    }


def test_the_flyte_2_task_serializes_with_the_task_type(flyte_venv: CachedVenv, tmp_path: Path) -> None:
    assert serialized(flyte_venv, "flyte", FLYTE_SERIALIZE, tmp_path) == {
        "type": "my_service",
        "version": 0,
        "custom": {"some_setting": "value"},
        "inputs": ["x"],
        "environment": "my_service_env",
    }
