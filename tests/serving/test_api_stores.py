"""The API on each store backend: the embedded SQLite file and the real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from serving.app import create_app
from serving.store.db import make_engine, make_sessionmaker
from serving.store.tables import MessageRecord, SuggestionRecord
from tests.serving.service import deployment
from tests.serving.test_api import wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        messages = session.scalar(select(func.count()).select_from(MessageRecord)) or 0
        suggestions = session.scalar(select(func.count()).select_from(SuggestionRecord)) or 0
    engine.dispose()
    return messages, suggestions


def test_classify_store_and_resend_on_each_backend(store_url: str, tmp_path: Path):
    with deployment(tmp_path, TIDINGS_DATABASE_URL=store_url) as d, TestClient(create_app(d.settings)) as client:
        assert d.settings.store_url == store_url
        assert wait_ready(client)["store"] == "ok"
        auth = {"Authorization": f"Bearer {d.keys['classify']}"}
        batch = {
            "messages": [
                {"text": "where is my refund", "channel": "ticket", "external_id": f"t-{i % 3}"} for i in range(6)
            ]
        }
        first = client.post("/v1/classify/batch", json=batch, headers=auth).json()
        assert first["succeeded"] == 6
        assert counts(store_url) == (3, 9)
        again = client.post("/v1/classify/batch", json=batch, headers=auth).json()
        assert [r["result"]["message_id"] for r in again["results"]] == [
            r["result"]["message_id"] for r in first["results"]
        ]
        assert all(r["result"]["duplicate"] for r in again["results"])
        single = client.post(
            "/v1/classify", json={"text": "where is my refund", "channel": "ticket", "external_id": "t-1"}, headers=auth
        ).json()
        assert single["message_id"] == first["results"][1]["result"]["message_id"]
        assert counts(store_url) == (3, 9)
