"""webhook and http_job keep the connector contract, against a real local HTTP server."""

from __future__ import annotations

import pytest
from connector_http import HttpJob, Webhook
from localhttp import Answer, JobsApi, LocalServer

import connector
from connector.testing import ConnectorContract


class TestWebhookContract(ConnectorContract):
    implementation = Webhook

    @pytest.fixture
    def contract_template(self, server: LocalServer) -> connector.TaskTemplate:
        server.route("POST", "/hook", Answer(200, {"ok": True}))
        return connector.TaskTemplate(
            "webhook", custom={"url": f"{server.url}/hook", "body": {"event": "done"}}
        )


class TestHttpJobContract(ConnectorContract):
    implementation = HttpJob
    expected_outputs = {"rows": 42}

    @pytest.fixture
    def contract_template(self, jobs_api: JobsApi) -> connector.TaskTemplate:
        return connector.TaskTemplate("http_job", custom=jobs_api.custom())
