"""The messages the README quotes for the sensor task type are the ones the connector gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from connector_sensor import FILE_SENSOR_MODULE, FILE_SENSOR_NAME, Sensor, SensorMetadata

import connector
from connector.registry._calls import run_blocking
from connector.testing import registry_of

README = Path(__file__).resolve().parents[1] / "README.md"


def quoted_messages() -> list[str]:
    """The one-line ``text`` blocks of the README that start with ``sensor:``."""
    blocks = re.findall(r"```text\n(.*?)\n```", README.read_text(), flags=re.DOTALL)
    return [block for block in blocks if block.startswith("sensor:")]


def message_of(meta: SensorMetadata) -> str:
    calls = connector.ConnectorCalls(registry_of(Sensor()).get("sensor"))
    with pytest.raises(connector.BadRequestError) as info:
        run_blocking(calls.get(meta))
    return str(info.value)


def test_the_readme_quotes_the_real_messages() -> None:
    assert quoted_messages() == [
        message_of(SensorMetadata(FILE_SENSOR_MODULE, FILE_SENSOR_NAME, None, {"path": "/etc/shadow"})),
        message_of(SensorMetadata("os", "system", None, {"command": "id"})),
    ]
