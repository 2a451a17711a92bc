"""Per-key rate limits: the token bucket, and 429 problems with Retry-After through `require()`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from data.settings import Settings
from serving import errors
from serving.auth import Caller, KeyVerifier
from serving.classification import Classifier
from serving.deps import AppState, ClassifyCaller
from serving.errors import ApiError
from serving.metrics import ServiceMetrics
from serving.model_host import ModelHost
from serving.rate_limits import RateLimiter
from serving.store.db import make_engine, make_sessionmaker, upgrade
from serving.store.keys import Role, create_key


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def caller(key_id: str = "k1", role: Role = Role.CLASSIFY) -> Caller:
    return Caller(key_id, role)


def test_a_key_may_burst_its_minute_then_waits_for_the_refill():
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    assert all(limiter.wait_seconds(caller()) == 0 for _ in range(60))
    assert limiter.wait_seconds(caller()) == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter.wait_seconds(caller()) == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.wait_seconds(caller()) == 0
    assert limiter.wait_seconds(caller()) > 0
    clock.now += 3600
    # The bucket never holds more than one minute's worth.
    assert sum(limiter.wait_seconds(caller()) == 0 for _ in range(100)) == 60


def test_keys_have_separate_buckets():
    limiter = RateLimiter(2, clock=Clock())
    assert [limiter.wait_seconds(caller("a")) == 0 for _ in range(3)] == [True, True, False]
    assert limiter.wait_seconds(caller("b")) == 0


def test_overrides_by_key_id_beat_overrides_by_role_beat_the_default():
    limiter = RateLimiter(100, {"review": 5, "special": 1, "lead": 0}, clock=Clock())
    assert limiter.limit_for(caller("x", Role.CLASSIFY)) == 100
    assert limiter.limit_for(caller("x", Role.REVIEW)) == 5
    assert limiter.limit_for(caller("special", Role.REVIEW)) == 1
    assert all(limiter.wait_seconds(caller("y", Role.LEAD)) == 0 for _ in range(1000))


def test_zero_turns_limiting_off():
    limiter = RateLimiter(0, clock=Clock())
    assert all(limiter.wait_seconds(caller()) == 0 for _ in range(10_000))


def test_admit_raises_a_429_with_a_whole_number_of_seconds():
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    assert limiter.admit(caller()) == caller()
    with pytest.raises(ApiError) as refused:
        limiter.admit(caller())
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "60"}
    assert "1 requests a minute" in refused.value.detail


def test_settings_read_the_default_and_json_overrides(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TIDINGS_RATE_LIMIT_PER_MINUTE", "30")
    monkeypatch.setenv("TIDINGS_RATE_LIMITS", '{"classify": 10, "abc123": 0}')
    limiter = RateLimiter.from_settings(Settings())
    assert limiter.per_minute == 30
    assert limiter.limit_for(caller("k", Role.CLASSIFY)) == 10
    assert limiter.limit_for(caller("abc123", Role.CLASSIFY)) == 0


def test_the_default_is_generous_and_on():
    assert Settings().rate_limit_per_minute >= 1000


def app_with(settings: Settings) -> FastAPI:
    """A bare app whose one route takes a classify caller through the real `require()` dependency."""
    engine = make_engine(settings.store_url)
    sessions = make_sessionmaker(engine)
    metrics = ServiceMetrics()
    app = FastAPI()
    errors.install(app)
    app.state.tidings = AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        host=ModelHost(settings),
        metrics=metrics,
        keys=KeyVerifier(sessions),
        classifier=Classifier(sessions, metrics),
    )

    @app.get("/who")
    def who(found: ClassifyCaller) -> dict[str, str]:
        return {"key": found.key_id}

    return app


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Settings, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path / "var", rate_limits={"classify": 2})
    upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    with make_sessionmaker(engine)() as session:
        keys = {role.value: create_key(session, role)[1] for role in (Role.CLASSIFY, Role.ADMIN)}
        session.commit()
    engine.dispose()
    yield settings, keys


def test_a_key_over_its_limit_gets_a_problem_429_with_retry_after(store):
    settings, keys = store
    client = TestClient(app_with(settings))
    bearer = {"Authorization": f"Bearer {keys['classify']}"}
    assert [client.get("/who", headers=bearer).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/who", headers=bearer)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == errors.PROBLEM_JSON
    assert 25 <= int(refused.headers["retry-after"]) <= 30
    body = refused.json()
    assert body["status"] == 429 and body["title"] == "Too Many Requests" and "2 requests a minute" in body["detail"]
    # Another key (here admin, on the default limit) is not held back by it.
    assert client.get("/who", headers={"Authorization": f"Bearer {keys['admin']}"}).status_code == 200
    # Refused keys never reach the bucket: a bad key is still a 401.
    assert client.get("/who", headers={"Authorization": "Bearer tid_nope"}).status_code == 401


def test_development_mode_is_limited_too(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "var", auth_disabled=True, rate_limit_per_minute=1)
    client = TestClient(app_with(settings))
    assert client.get("/who").status_code == 200
    assert client.get("/who").status_code == 429


def test_429_is_documented():
    assert 429 in errors.WHEN
