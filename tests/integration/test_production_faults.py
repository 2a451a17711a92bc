"""The production profile under faults: PostgreSQL store, a real `mlflow server`, and things breaking.

Every fault test counts what is stored before and after, so "nothing lost, nothing duplicated"
is checked rather than assumed. The MLflow server test kills it, so it runs after the others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.settings import Settings
from serving.app import create_app
from serving.model_host import ServingModel
from serving.store.db import make_engine, make_sessionmaker, upgrade
from serving.store.review_tables import QueueItemRecord, ReviewRecord
from serving.store.tables import MessageRecord, SuggestionRecord
from tests.integration.processes import MlflowServer, PostgresCluster, free_port, wait_http
from tests.serving.service import deployment
from training.registry import CHAMPION, download_classifier, model_by_alias, promote, rollback

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PYFUNC = Path(__file__).resolve().parents[2] / "models" / "pyfunc.py"
TABLES = {
    "messages": MessageRecord,
    "suggestions": SuggestionRecord,
    "queued": QueueItemRecord,
    "reviews": ReviewRecord,
}


@dataclass
class Production:
    """The tiny model registered on the MLflow server, a PostgreSQL store on our own cluster, keys per role."""

    settings: Settings
    keys: dict[str, str]
    store: PostgresCluster
    registry: MlflowServer

    def auth(self, role: str = "classify") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def counts(self) -> dict[str, int]:
        """Rows per table, read on a fresh connection."""
        engine = make_engine(self.settings.store_url)
        try:
            with Session(engine) as session:
                return {
                    name: session.scalar(select(func.count()).select_from(table)) or 0 for name, table in TABLES.items()
                }
        finally:
            engine.dispose()

    def stored_external_ids(self, prefix: str) -> list[str]:
        """External ids stored under a prefix, one entry per stored row."""
        engine = make_engine(self.settings.store_url)
        try:
            with make_sessionmaker(engine)() as session:
                query = select(MessageRecord.external_id).where(MessageRecord.external_id.like(f"{prefix}%"))
                return sorted(str(x) for x in session.scalars(query))
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def production(
    tmp_path_factory: pytest.TempPathFactory, store_cluster: PostgresCluster, mlflow_server: MlflowServer
) -> Iterator[Production]:
    store_url = store_cluster.create_database("tidings")
    with deployment(
        tmp_path_factory.mktemp("production"),
        TIDINGS_MLFLOW_URI=mlflow_server.uri,
        TIDINGS_DATABASE_URL=store_url,
        # Tensors this small train fastest on one thread, and a busy machine does not make it spin.
        TIDINGS_THREADS="1",
    ) as d:
        yield Production(d.settings, d.keys, store_cluster, mlflow_server)


@pytest.fixture(scope="module")
def client(production: Production) -> Iterator[TestClient]:
    with TestClient(create_app(production.settings)) as client:
        wait_ready(client)
        yield client


@pytest.fixture
def store_comes_back(production: Production) -> Iterator[PostgresCluster]:
    """The store cluster, restarted after the test if the test left it stopped."""
    yield production.store
    if not production.store.is_up():
        production.store.start()


def wait_ready(client: TestClient, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        body = r.json()
        if r.status_code == 200:
            return body
        time.sleep(0.1)
    raise AssertionError(f"not ready after {timeout} s: {body}")


def batch(prefix: str, n: int, text: str = "my order {i} never arrived, where is it") -> dict[str, Any]:
    items = [{"text": text.format(i=i), "channel": "ticket", "external_id": f"{prefix}-{i}"} for i in range(n)]
    return {"messages": items}


class Answer(Protocol):
    """An HTTP response, from httpx or from the test client."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def assert_retry_later(r: Answer, problem: bool = True) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) > 0
    if problem:
        assert r.headers["content-type"].startswith("application/problem+json")


def test_the_service_classifies_through_the_mlflow_server_and_postgresql(production: Production, client: TestClient):
    champion = model_by_alias(CHAMPION, production.settings)
    assert champion is not None and production.settings.tracking_uri.startswith("http://127.0.0.1:")
    before = production.counts()
    r = client.post("/v1/classify/batch", json=batch("profile", 3), headers=production.auth())
    assert r.status_code == 200, r.text
    assert {item["result"]["model"]["version"] for item in r.json()["results"]} == {champion.version}
    assert production.counts()["messages"] == before["messages"] + 3
    ready = client.get("/readyz").json()
    assert ready["store"] == "ok" and ready["registry"]["reachable"] is True


def test_the_store_stopping_mid_batch_is_a_503_and_a_resubmission_is_idempotent(
    production: Production, client: TestClient, store_comes_back: PostgresCluster, monkeypatch: pytest.MonkeyPatch
):
    body = batch("outage", 64)
    before = production.counts()
    reached_model, resume = threading.Event(), threading.Event()
    classify_now = ServingModel.classify_now

    def held(self: ServingModel, texts: list[str]) -> Any:
        # The request has read the store (duplicate check) and is in the model when the store dies.
        reached_model.set()
        resume.wait(30)
        return classify_now(self, texts)

    monkeypatch.setattr(ServingModel, "classify_now", held)
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(client.post, "/v1/classify/batch", json=body, headers=production.auth())
        assert reached_model.wait(30)
        store_comes_back.stop()
        resume.set()
        assert_retry_later(in_flight.result(timeout=60))
    monkeypatch.undo()

    assert_retry_later(client.post("/v1/classify/batch", json=body, headers=production.auth()))
    assert_retry_later(client.post("/v1/classify", json=body["messages"][0], headers=production.auth()))
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["store"] == "unreachable"
    assert client.get("/healthz").status_code == 200

    store_comes_back.start()
    again = client.post("/v1/classify/batch", json=body, headers=production.auth())
    assert again.status_code == 200, again.text
    assert again.json()["succeeded"] == 64
    once_more = client.post("/v1/classify/batch", json=body, headers=production.auth()).json()
    assert once_more["succeeded"] == 64 and all(item["result"]["duplicate"] for item in once_more["results"])

    after = production.counts()
    assert after["messages"] == before["messages"] + 64
    assert after["suggestions"] - before["suggestions"] == 64 * 3  # intent, urgency, sentiment
    assert after["queued"] >= before["queued"] and after["reviews"] == before["reviews"]
    assert production.stored_external_ids("outage-") == sorted(f"outage-{i}" for i in range(64))


def test_a_store_down_at_start_up_is_not_ready_but_alive_and_recovers(
    production: Production, store_comes_back: PostgresCluster
):
    before = production.counts()
    store_comes_back.stop()
    with TestClient(create_app(production.settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        deadline = time.monotonic() + 60
        while (ready := client.get("/readyz")).json()["model"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert_retry_later(ready, problem=False)
        assert ready.json()["store"] == "unreachable"
        assert ready.json()["model"] is not None  # the model loads from the registry regardless
        assert "the message store is unreachable" in ready.json()["problems"]
        assert_retry_later(client.post("/v1/classify/batch", json=batch("startup", 5), headers=production.auth()))

        store_comes_back.start()
        assert wait_ready(client)["store"] == "ok"
        r = client.post("/v1/classify/batch", json=batch("startup", 5), headers=production.auth())
        assert r.status_code == 200 and r.json()["succeeded"] == 5
    assert production.counts()["messages"] == before["messages"] + 5


def register_broken_copy(settings: Settings, tmp: Path, breaks: str) -> str:
    """Register a copy of the champion with its weights truncated or from a future format; returns the version."""
    import json

    import mlflow

    champion = model_by_alias(CHAMPION, settings)
    assert champion is not None
    broken = tmp / breaks / "classifier"
    shutil.copytree(download_classifier(champion, settings), broken)
    if breaks == "corrupt":
        weights = broken / "heads.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        config = json.loads((broken / "config.json").read_text())
        config["format_version"] += 1
        (broken / "config.json").write_text(json.dumps(config))
    with mlflow.start_run(run_name=f"{breaks} copy"):
        info = mlflow.pyfunc.log_model(
            name="classifier",
            python_model=str(PYFUNC),
            artifacts={"classifier": str(broken)},
            registered_model_name=settings.model_name,
            pip_requirements=["tidings"],
        )
    version = str(info.registered_model_version)
    promote(version, settings)
    return version


@pytest.mark.parametrize("breaks", ["corrupt", "incompatible"])
def test_a_broken_champion_is_refused_and_the_old_one_keeps_serving(
    production: Production, client: TestClient, tmp_path: Path, breaks: str, caplog: pytest.LogCaptureFixture
):
    served = client.get("/readyz").json()["model"]["version"]
    before = production.counts()
    bad = register_broken_copy(production.settings, tmp_path, breaks)
    assert model_by_alias(CHAMPION, production.settings).version == bad  # type: ignore[union-attr]

    with caplog.at_level("ERROR", logger="tidings.serving"):
        models = client.post("/v1/models/reload", headers=production.auth("admin")).json()
    assert f"v{bad} could not be loaded" in models["last_error"]
    assert any(f"refused tidings-classifier v{bad}" in r.getMessage() for r in caplog.records)
    assert models["champion"]["version"] == bad and models["champion"]["serving"] is False
    assert models["serving"]["version"] == served
    listed = client.get("/v1/models", headers=production.auth()).json()
    assert listed["last_error"] == models["last_error"] and listed["registry_reachable"] is True

    r = client.post("/v1/classify/batch", json=batch(f"refused-{breaks}", 4), headers=production.auth())
    assert r.status_code == 200
    assert {item["result"]["model"]["version"] for item in r.json()["results"]} == {served}
    assert production.counts()["messages"] == before["messages"] + 4

    restored, _ = rollback(production.settings)
    assert restored.version == served
    healed = client.post("/v1/models/reload", headers=production.auth("admin")).json()
    assert healed["last_error"] is None and healed["champion"]["serving"] is True


@contextlib.contextmanager
def serve(
    production: Production, log: Path, workers: int, *, gunicorn: bool = False
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`tidings serve`, or the README's gunicorn line, on a free port once `/healthz` answers; killed if still up."""
    port = free_port()
    # torch skips the ONNX export check, which the in-process tests cover and which only slows this one.
    env = {**os.environ, "TIDINGS_REGISTRY_POLL_SECONDS": "0", "TIDINGS_SERVING_BACKEND": "torch"}
    command = [sys.executable, "-m", "serving.cli", "serve", "--port", str(port), "--workers", str(workers)]
    if gunicorn:
        upgrade(production.settings.store_url)  # gunicorn does not migrate; the README says to run this first
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "serving.app:create_app()",
            "-k",
            "uvicorn_worker.UvicornWorker",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
        ]
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", 120, server, log)
        yield server, base
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_sigterm_lets_requests_in_flight_finish(production: Production, tmp_path: Path):
    # A fresh machine: the worker fetches the champion from the registry.
    shutil.rmtree(production.settings.data_dir / "models", ignore_errors=True)
    log = tmp_path / "serve.log"
    with serve(production, log, workers=1) as (server, base):
        wait_http(f"{base}/readyz", 60, server, log)
        before = production.counts()

        def send(n: int) -> tuple[int, float, int]:
            body = batch(f"sigterm-{n}", 512, text="order {i} arrived broken and support has not answered")
            with httpx.Client(timeout=120) as http:
                r = http.post(f"{base}/v1/classify/batch", json=body, headers=production.auth())
            return r.status_code, time.monotonic(), r.json().get("succeeded", 0) if r.status_code == 200 else 0

        with ThreadPoolExecutor(4) as pool:
            pending = [pool.submit(send, n) for n in range(4)]
            time.sleep(0.5)
            sent_term = time.monotonic()
            server.send_signal(signal.SIGTERM)
            results = [p.result(timeout=120) for p in pending]
        code = server.wait(timeout=60)
    output = log.read_text(errors="replace")
    assert [status for status, _, _ in results] == [200] * 4, output[-3000:]
    assert any(done > sent_term for _, done, _ in results), "every batch finished before SIGTERM: make them bigger"
    assert "Finished server process" in output
    # uvicorn re-raises the SIGTERM it caught once the graceful shutdown is done, so one worker "dies" by it.
    assert code == -signal.SIGTERM, output[-3000:]
    assert sum(n for _, _, n in results) == 4 * 512
    assert production.counts()["messages"] == before["messages"] + 4 * 512


def test_sigterm_stops_every_worker_and_exits_0(production: Production, tmp_path: Path):
    log = tmp_path / "serve.log"
    with serve(production, log, workers=2) as (server, _):
        deadline = time.monotonic() + 120
        while log.read_text().count("Application startup complete") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert output.count("Finished server process") == 2, output[-3000:]


def test_the_readmes_gunicorn_line_serves_the_champion_and_stops_on_sigterm(production: Production, tmp_path: Path):
    log = tmp_path / "gunicorn.log"
    with serve(production, log, workers=2, gunicorn=True) as (server, base):
        wait_http(f"{base}/readyz", 120, server, log)
        before = production.counts()
        with httpx.Client(timeout=60) as http:
            r = http.post(f"{base}/v1/classify/batch", json=batch("gunicorn", 8), headers=production.auth())
        assert r.status_code == 200 and r.json()["succeeded"] == 8, r.text
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "Shutting down: Master" in output and output.count("Booting worker") == 2, output[-3000:]
    assert production.counts()["messages"] == before["messages"] + 8


def test_an_unreachable_registry_keeps_the_champion_serving_and_says_so(production: Production, client: TestClient):
    served = client.get("/readyz").json()["model"]["version"]
    before = production.counts()
    production.registry.kill()
    try:
        started = time.monotonic()
        models = client.post("/v1/models/reload", headers=production.auth("admin")).json()
        assert time.monotonic() - started < 30  # MLflow's own retries would take about 4 minutes
        assert models["registry_reachable"] is False
        assert models["last_error"].startswith("registry unreachable")
        assert models["serving"]["version"] == served and models["champion"] is None

        ready = client.get("/readyz")
        assert ready.status_code == 200  # serving goes on with the champion it has
        assert ready.json()["registry"]["reachable"] is False
        assert ready.json()["registry"]["error"].startswith("registry unreachable")
        assert ready.json()["registry"]["checked_at"] is not None

        r = client.post("/v1/classify/batch", json=batch("registry-down", 3), headers=production.auth())
        assert r.status_code == 200
        assert {item["result"]["model"]["version"] for item in r.json()["results"]} == {served}
        assert production.counts()["messages"] == before["messages"] + 3
    finally:
        production.registry.start()
    back = client.post("/v1/models/reload", headers=production.auth("admin")).json()
    assert back["registry_reachable"] is True and back["last_error"] is None
    registry = client.get("/readyz").json()["registry"]
    assert registry["reachable"] is True and registry["error"] is None
