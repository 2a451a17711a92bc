"""`POST /v1/admin/retrain` end to end: reviews teach the model a new product, the gate promotes, the API serves it."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.serving.service import deployment
from tests.training.test_retrain import MODELS, PRODUCT_TEXTS, full_batch
from training.config import TrainingConfig
from training.registry import promote
from training.trainer import Trainer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
UNSEEN_MODELS = ["ultra", "lite", "go"]


def wait_for_version(client: TestClient, version: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        if r.status_code == 200 and r.json()["model"]["version"] == version:
            return
        time.sleep(0.1)
    raise AssertionError(f"version {version} never became ready")


def intents(client: TestClient, headers: dict, texts: list[str], store: bool) -> list[dict]:
    r = client.post(
        "/v1/classify/batch", json={"messages": [{"text": t, "store": store} for t in texts]}, headers=headers
    )
    assert r.status_code == 200, r.text
    return [item["result"] for item in r.json()["results"]]


def test_reviews_retrain_a_better_champion_that_the_api_serves_at_once(tmp_path):
    with deployment(tmp_path) as d:
        # Full-batch heads, so retraining changes only what the reviews teach (see `full_batch`).
        champion = Trainer(TrainingConfig.from_dict(full_batch(d.config.to_dict())), d.settings).run().version
        assert champion is not None
        promote(champion, d.settings)
        admin = {"Authorization": f"Bearer {d.keys['admin']}"}
        reviewer = {"Authorization": f"Bearer {d.keys['review']}"}
        classifier = {"Authorization": f"Bearer {d.keys['classify']}"}
        with TestClient(create_app(d.settings)) as client:
            wait_for_version(client, champion)
            nothing = client.post("/v1/admin/retrain", headers=admin)
            assert nothing.status_code == 409 and "no submitted reviews" in nothing.json()["detail"]
            assert client.post("/v1/admin/retrain", headers=reviewer).status_code == 403

            texts = [t.format(m) for m in MODELS for t in PRODUCT_TEXTS]
            seen = intents(client, classifier, texts, store=True)
            unseen = [t.format(m) for m in UNSEEN_MODELS for t in PRODUCT_TEXTS]
            before = [r["intent"]["label"] for r in intents(client, classifier, unseen, store=False)]
            assert before.count("support_request") < len(unseen) / 2, before

            reviews = [
                {"message_id": r["message_id"], "intent": "support_request", "status": "submitted"} for r in seen
            ]
            r = client.post("/v1/reviews", json=reviews, headers=reviewer)
            assert r.status_code == 200 and r.json()["failed"] == 0, r.text

            started = time.monotonic()
            r = client.post("/v1/admin/retrain", json={"holdout_fraction": 0.25}, headers=admin)
            took = time.monotonic() - started
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["promoted"] is True, body["reason"]
            assert "reviewed_holdout improves" in body["reason"]
            assert body["parent_version"] == champion and body["version"] != champion
            assert body["rows"]["reviewed"] == len(texts) == body["rows"]["reviews_train"] + body["rows"]["holdout"]

            models = client.get("/v1/models", headers=classifier).json()
            assert models["serving"]["version"] == models["champion"]["version"] == body["version"], took
            after = intents(client, classifier, unseen, store=False)
            assert all(a["model"]["version"] == body["version"] for a in after)
            labels = [a["intent"]["label"] for a in after]
            assert labels.count("support_request") >= 0.8 * len(unseen), labels


def test_the_retrain_command_refuses_without_submitted_reviews(settings):
    from typer.testing import CliRunner

    from serving.cli import app
    from serving.store.db import upgrade

    upgrade(settings.store_url)
    result = CliRunner().invoke(app, ["retrain", "--holdout-fraction", "0.3"])
    assert result.exit_code == 1 and "no submitted reviews" in result.output
