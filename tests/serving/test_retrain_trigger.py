"""Retraining after N submitted reviews: started once in the background, never twice at a time, and recorded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from data.settings import Settings
from serving.retrain_trigger import RetrainTrigger
from serving.retraining import RETRAIN_LOCK
from serving.store import retrain_runs
from serving.store.retrain_runs import RetrainRunRecord, start_run, submitted_since_last_retrain, submitted_total
from serving.store.reviews import Verdict, record_review
from tests.serving.conftest import MigratedStore
from tests.serving.review_data import prediction, store
from training.gate import GateVerdict
from training.retrain import RetrainResult


class FakeRetrain:
    """Stands in for `training.retrain.retrain`: counts calls, optionally waits for a go, promotes or fails."""

    def __init__(self, *, promote: bool = True, fail: bool = False, hold: bool = False) -> None:
        self.calls: list[Path] = []
        self.rows: list[str] = []
        self.promote, self.fail = promote, fail
        self.go = threading.Event()
        if not hold:
            self.go.set()

    def __call__(self, reviews_file: Path, settings: Settings, **options: float) -> RetrainResult:
        self.calls.append(reviews_file)
        self.rows = reviews_file.read_text(encoding="utf-8").splitlines()
        assert self.go.wait(10)
        if self.fail:
            raise RuntimeError("training blew up")
        verdict = GateVerdict(self.promote, "fake gate")
        return RetrainResult("run-1", "7", "6", verdict, reviews_file.parent, "digest", {"reviewed": len(self.rows)})


def submit(store_: MigratedStore, ids: list[str], reviewer: str = "alice") -> None:
    with store_.sessions() as session:
        for mid in ids:
            record_review(session, Verdict(mid, "submitted", {"intent": "spam"}), reviewer_id=reviewer)
        session.commit()


def runs(store_: MigratedStore) -> list[RetrainRunRecord]:
    with store_.sessions() as session:
        return list(session.scalars(select(RetrainRunRecord).order_by(RetrainRunRecord.id)))


@pytest.fixture
def messages(migrated_store: MigratedStore) -> list[str]:
    with migrated_store.sessions() as session:
        return store(session, [prediction() for _ in range(6)])


def trigger_for(store_: MigratedStore, tmp_path: Path, after: int, train: FakeRetrain) -> tuple[RetrainTrigger, list]:
    settings = Settings(database_url=store_.url, data_dir=tmp_path / "var", retrain_after_reviews=after)
    promoted: list[bool] = []
    return RetrainTrigger(settings, store_.sessions, lambda: promoted.append(True), train), promoted


def test_a_retrain_starts_once_n_reviews_are_in_and_is_never_started_twice(
    migrated_store: MigratedStore, messages: list[str], tmp_path: Path
):
    train = FakeRetrain(hold=True)
    trigger, promoted = trigger_for(migrated_store, tmp_path, 3, train)
    submit(migrated_store, messages[:2])
    assert not trigger.check() and trigger.thread is None
    submit(migrated_store, messages[2:3])
    assert trigger.check()
    try:
        submit(migrated_store, messages[3:6])
        assert RETRAIN_LOCK.locked()
        assert not trigger.check(), "a running retrain must not be started again"
    finally:
        train.go.set()
        assert trigger.thread is not None
        trigger.thread.join(10)
    assert not RETRAIN_LOCK.locked()
    assert len(train.calls) == 1 and promoted == [True]
    [run] = runs(migrated_store)
    assert (run.started_by, run.status, run.version, run.promoted) == ("reviews", "finished", "7", True)
    assert run.submitted_reviews >= 3 and run.finished_at is not None and run.finished_at >= run.started_at
    assert run.detail == "fake gate"
    # Every review counts once: towards this retrain, or (written while it ran) towards the next.
    with migrated_store.sessions() as session:
        assert run.submitted_reviews + submitted_since_last_retrain(session) == 6


def test_a_review_committed_while_a_run_starts_counts_towards_exactly_one_run(
    migrated_store: MigratedStore, messages: list[str], monkeypatch: pytest.MonkeyPatch
):
    submit(migrated_store, messages[:3])
    count = retrain_runs.submitted_total
    committed: list[bool] = []

    def count_then_another_reviewer_commits(session):
        total = count(session)
        if not committed:  # one review lands just after the run's first count
            submit(migrated_store, messages[3:4], reviewer="bob")
            committed.append(True)
        return total

    monkeypatch.setattr(retrain_runs, "submitted_total", count_then_another_reviewer_commits)
    with migrated_store.sessions() as session:
        run = start_run(session, "reviews")
        session.commit()
    monkeypatch.setattr(retrain_runs, "submitted_total", count)
    with migrated_store.sessions() as session:
        assert submitted_total(session) == 4
        assert (run.submitted_reviews, submitted_since_last_retrain(session)) == (3, 1)


def test_the_count_restarts_after_a_retrain_and_failures_are_recorded(
    migrated_store: MigratedStore, messages: list[str], tmp_path: Path
):
    train = FakeRetrain(promote=False, fail=True)
    trigger, promoted = trigger_for(migrated_store, tmp_path, 2, train)
    submit(migrated_store, messages[:2])
    assert trigger.check()
    assert trigger.thread is not None
    trigger.thread.join(10)
    [run] = runs(migrated_store)
    assert run.status == "failed" and "training blew up" in (run.detail or "") and promoted == []
    assert not RETRAIN_LOCK.locked()
    time.sleep(0.01)
    assert not trigger.check(), "no new reviews since the last (failed) retrain"
    submit(migrated_store, messages[2:4])
    train.fail = False
    assert trigger.check()
    trigger.thread.join(10)
    assert [r.status for r in runs(migrated_store)] == ["failed", "finished"] and promoted == []


def test_zero_turns_the_trigger_off(migrated_store: MigratedStore, messages: list[str], tmp_path: Path):
    train = FakeRetrain()
    trigger, _ = trigger_for(migrated_store, tmp_path, 0, train)
    submit(migrated_store, messages)
    assert not trigger.check() and train.calls == [] and runs(migrated_store) == []


@pytest.mark.slow
def test_reviews_posted_to_the_api_start_the_retrain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from serving import retrain_trigger
    from serving.app import create_app
    from tests.serving.service import deployment
    from tests.serving.test_api import wait_ready

    train = FakeRetrain(promote=False)
    monkeypatch.setattr(retrain_trigger, "retrain", train)
    env = {"TIDINGS_RETRAIN_AFTER_REVIEWS": "2", "TIDINGS_REVIEW_SAMPLE_RATE": "1"}
    with deployment(tmp_path, **env) as d, TestClient(create_app(d.settings)) as client:
        wait_ready(client)
        r = client.post(
            "/v1/classify/batch",
            json={"messages": [{"text": t} for t in ("please add dark mode", "subscribe to my channel")]},
            headers={"Authorization": f"Bearer {d.keys['classify']}"},
        )
        ids = [item["result"]["message_id"] for item in r.json()["results"]]
        reviewer = {"Authorization": f"Bearer {d.keys['review']}"}
        first = client.post(
            "/v1/reviews", json={"message_id": ids[0], "intent": "feedback", "status": "submitted"}, headers=reviewer
        )
        assert first.status_code == 200 and train.calls == []
        second = client.post(
            "/v1/reviews", json={"message_id": ids[1], "intent": "spam", "status": "submitted"}, headers=reviewer
        )
        assert second.status_code == 200
        deadline = time.monotonic() + 20
        while (not train.calls or RETRAIN_LOCK.locked()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(train.calls) == 1 and len(train.rows) == 2
        from serving.store.db import make_engine, make_sessionmaker

        engine = make_engine(d.settings.store_url)
        with make_sessionmaker(engine)() as session:
            [run] = session.scalars(select(RetrainRunRecord)).all()
        engine.dispose()
        assert (run.started_by, run.status, run.submitted_reviews) == ("reviews", "finished", 2)
