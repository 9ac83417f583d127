"""The Acme task, as a Flyte 2 user writes it: a ``flyte.extend.TaskTemplate`` of task type ``acme_job``."""

from __future__ import annotations

from typing import Any

from flyte.connectors import AsyncConnectorExecutorMixin
from flyte.extend import TaskTemplate
from flyte.models import NativeInterface, SerializationContext


class AcmeTask(AsyncConnectorExecutorMixin, TaskTemplate):
    def __init__(self, name: str, warehouse: str, **kwargs):
        super().__init__(
            name=name,
            interface=NativeInterface(
                {"n": (int, None), "name": (str, None), "weights": (list[float], None)},
                {"total": int, "greeting": str, "weight_sum": float, "signed": bool, "info": dict},
            ),
            task_type="acme_job",
            image=None,
            **kwargs,
        )
        self.warehouse = warehouse

    def custom_config(self, sctx: SerializationContext) -> dict[str, Any]:
        return {"warehouse": self.warehouse}
