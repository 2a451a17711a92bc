"""Logs at INFO carry neither message text nor API keys, whatever the request does."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.serving.service import Deployment, deployment
from tests.serving.test_api import wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET_TEXT = "zebra-umbrella-7731 my parcel never came, write to ola.nordmann@example.no"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Deployment]]:
    # Admin keys get a tiny limit here, so the refusal path is logged too.
    with (
        deployment(tmp_path_factory.mktemp("logs"), TIDINGS_RATE_LIMITS='{"admin": 2}') as d,
        TestClient(create_app(d.settings)) as client,
    ):
        wait_ready(client)
        yield client, d


def test_no_message_text_or_key_reaches_the_logs(service, caplog: pytest.LogCaptureFixture):
    client, d = service
    classify_key, admin_key = d.keys["classify"], d.keys["admin"]
    caplog.set_level(logging.DEBUG, logger="tidings")
    caplog.set_level(logging.INFO)
    calls = [
        client.post("/v1/classify", json={"text": SECRET_TEXT}, headers={"Authorization": f"Bearer {classify_key}"}),
        client.post(
            "/v1/classify/batch",
            json={"messages": [{"text": SECRET_TEXT, "external_id": "x1"}, {"text": ""}]},
            headers={"Authorization": f"Bearer {classify_key}"},
        ),
        client.post(
            "/v1/classify",
            json={"text": SECRET_TEXT, "channel": "pigeon"},
            headers={"Authorization": f"Bearer {classify_key}"},
        ),
        client.post("/v1/classify", json={"text": SECRET_TEXT}, headers={"Authorization": f"Bearer {classify_key}x"}),
        *(
            client.post("/v1/classify", json={"text": SECRET_TEXT}, headers={"Authorization": f"Bearer {admin_key}"})
            for _ in range(3)
        ),
    ]
    assert [r.status_code for r in calls] == [200, 200, 422, 401, 200, 200, 429]
    assert calls[-1].headers["retry-after"]
    # The capture works: the client's own INFO line for each call is there.
    assert sum("/v1/classify" in r.getMessage() for r in caplog.records) == len(calls)
    logged = "\n".join(
        [caplog.text, *(r.getMessage() for r in caplog.records), *(repr(r.args) for r in caplog.records)]
    )
    for secret in ("zebra-umbrella-7731", "ola.nordmann@example.no", classify_key, admin_key, classify_key[4:20]):
        assert secret not in logged
