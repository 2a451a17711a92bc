"""`tidings export reviews` and `tidings rollback` from the shell."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from serving.cli import app
from serving.review_commands import csv_cell
from serving.store.db import make_engine, make_sessionmaker, upgrade
from serving.store.review_export import COLUMNS
from serving.store.reviews import Verdict, record_review
from tests.serving.review_data import T0, head, prediction, store
from tests.serving.service import deployment
from training.config import TrainingConfig
from training.registry import CHAMPION, PREVIOUS_CHAMPION, ROLLED_BACK, model_by_alias, promote
from training.trainer import Trainer

runner = CliRunner()


@pytest.fixture
def reviewed_store(settings) -> list[str]:
    """Two messages: one reviewed by Ana (draft, then submitted twice), one by Bo (discarded)."""
    upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    with make_sessionmaker(engine)() as session:
        a, b = store(session, [prediction(intent=head({"spam": 0.5, "other": 0.45})), prediction()])
        steps = [
            (a, "ana", "draft", {"intent": "other"}, None),
            (a, "ana", "submitted", {"intent": "spam"}, 'looks like spam, "clearly"\nsecond line'),
            (a, "ana", "submitted", {"intent": "spam", "urgency": "low"}, None),
            (b, "bo", "discarded", {}, None),
        ]
        for n, (mid, who, status, labels, note) in enumerate(steps):
            verdict = Verdict(mid, status, labels, note)
            record_review(session, verdict, reviewer_id=who, reviewer_name=who.title(), now=T0 + timedelta(minutes=n))
        session.commit()
    engine.dispose()
    return [a, b]


def test_export_writes_every_revision_as_jsonl_with_text_predictions_and_provenance(reviewed_store, tmp_path):
    a, b = reviewed_store
    out = tmp_path / "exports" / "reviews.jsonl"
    result = runner.invoke(app, ["export", "reviews", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 4 and all(list(r) == list(COLUMNS) for r in rows)
    ana = [r for r in rows if r["reviewer_id"] == "ana"]
    assert [(r["revision"], r["status"], r["current"]) for r in ana] == [
        (1, "draft", False),
        (2, "submitted", False),
        (3, "submitted", True),
    ]
    last = ana[-1]
    assert last["message_id"] == a and last["text"] == "m0 text" and last["channel"] == "twitter"
    assert (last["intent"], last["urgency"], last["sentiment"]) == ("spam", "low", None)
    assert last["predicted_intent"] == "spam" and last["predicted_intent_probability"] == 0.5
    assert last["model_name"] == "tidings-classifier" and last["model_version"] == "1"
    assert last["reviewer_name"] == "Ana" and last["reviewed_at"].startswith("2026-03-02T09:02")
    bo = next(r for r in rows if r["reviewer_id"] == "bo")
    assert bo["message_id"] == b and bo["status"] == "discarded" and bo["intent"] is None


def test_export_as_csv_holds_the_same_rows_and_filters(reviewed_store, tmp_path):
    jsonl = tmp_path / "all.jsonl"
    table = tmp_path / "all.csv"
    assert runner.invoke(app, ["export", "reviews", str(jsonl)]).exit_code == 0
    assert runner.invoke(app, ["export", "reviews", str(table)]).exit_code == 0
    expected = [{k: csv_cell(v) for k, v in json.loads(line).items()} for line in jsonl.read_text().splitlines()]
    with table.open(encoding="utf-8", newline="") as f:
        assert list(csv.DictReader(f)) == expected

    current = tmp_path / "current.txt"
    result = runner.invoke(
        app, ["export", "reviews", str(current), "--format", "csv", "--current-only", "--status", "submitted"]
    )
    assert result.exit_code == 0, result.output
    with current.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["reviewer_id"], r["revision"], r["current"]) for r in rows] == [("ana", "3", "true")]


def test_export_needs_a_format_it_can_tell(reviewed_store, tmp_path):
    result = runner.invoke(app, ["export", "reviews", str(tmp_path / "reviews.xlsx")])
    assert result.exit_code != 0
    assert "--format" in result.output


@pytest.mark.integration
@pytest.mark.slow
def test_rollback_restores_the_previous_champion_and_refuses_without_one(tmp_path: Path):
    with deployment(tmp_path) as d:
        first = model_by_alias(CHAMPION, d.settings)
        assert first is not None
        refused = runner.invoke(app, ["rollback"])
        assert refused.exit_code == 1
        assert "no previous champion" in refused.output

        config = TrainingConfig.from_dict({**d.config.to_dict(), "name": "tiny-2"})
        second = Trainer(config, d.settings).run().version
        assert second is not None and second != first.version
        promote(second, d.settings)
        assert model_by_alias(PREVIOUS_CHAMPION, d.settings).version == first.version

        result = runner.invoke(app, ["rollback"])
        assert result.exit_code == 0, result.output
        assert f"v{first.version}" in result.output and f"v{second}" in result.output
        assert model_by_alias(CHAMPION, d.settings).version == first.version
        rolled_back = model_by_alias(ROLLED_BACK, d.settings)
        assert rolled_back.version == second
        assert rolled_back.tags["rolled_back_to"] == first.version and rolled_back.tags["rolled_back_at"]
        assert model_by_alias(PREVIOUS_CHAMPION, d.settings) is None

        again = runner.invoke(app, ["rollback"])
        assert again.exit_code == 1 and "no previous champion" in again.output
        assert model_by_alias(CHAMPION, d.settings).version == first.version
