"""The HTTP API as an inbox tool meets it: contract, storage, idempotency, bad input, keys, models."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from data.schema import MAX_TEXT_CHARS
from data.settings import Settings
from serving.app import create_app
from serving.store.db import make_engine, make_sessionmaker
from serving.store.tables import EmbeddingRecord, MessageRecord, SuggestionRecord
from tests.serving.service import deployment
from training.config import TrainingConfig
from training.registry import CHAMPION, model_by_alias, promote
from training.trainer import Trainer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
HEAD_FIELDS = {"label", "probability", "probabilities", "abstained", "reason"}


@dataclass
class Service:
    """A running app on a tiny registered model, with a key per role."""

    client: TestClient
    settings: Settings
    keys: dict[str, str]
    config: TrainingConfig

    def auth(self, role: str = "classify") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def count(self, table: type) -> int:
        engine = make_engine(self.settings.store_url)
        with make_sessionmaker(engine)() as session:
            n = session.scalar(select(func.count()).select_from(table)) or 0
        engine.dispose()
        return n


def wait_ready(client: TestClient, version: str | None = None, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        body = r.json()
        if r.status_code == 200 and (version is None or body["model"]["version"] == version):
            return body
        time.sleep(0.1)
    raise AssertionError(f"not ready: {body}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with deployment(tmp_path_factory.mktemp("api")) as d, TestClient(create_app(d.settings)) as client:
        wait_ready(client)
        yield Service(client, d.settings, d.keys, d.config)


def classify(service: Service, body: dict, role: str = "classify"):
    return service.client.post("/v1/classify", json=body, headers=service.auth(role))


def test_health_and_readiness(service: Service):
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz").json()
    assert ready["ready"] is True
    assert ready["model"]["name"] == "tidings-classifier"
    assert ready["store"] == "ok"


def test_classify_returns_the_documented_contract_and_stores_the_message(service: Service):
    before = service.count(MessageRecord)
    r = classify(service, {"text": "how much is the pro plan", "channel": "twitter", "space": "Acme"})
    assert r.status_code == 200, r.text
    body = r.json()
    for head in ("intent", "urgency", "sentiment"):
        assert set(body[head]) == HEAD_FIELDS
        assert abs(sum(body[head]["probabilities"].values()) - 1) < 1e-3
    assert body["intent"]["label"] == "sales_question"
    assert body["model"]["name"] == "tidings-classifier"
    assert body["stored"] is True and body["duplicate"] is False
    assert service.count(MessageRecord) == before + 1
    engine = make_engine(service.settings.store_url)
    with make_sessionmaker(engine)() as session:
        stored = session.get(MessageRecord, body["message_id"])
        assert stored is not None and stored.space == "Acme" and stored.channel == "twitter"
        assert stored.created_at is not None
        suggestions = session.scalars(
            select(SuggestionRecord).where(SuggestionRecord.message_id == body["message_id"])
        ).all()
        assert {s.head for s in suggestions} == {"intent", "urgency", "sentiment"}
        assert (
            session.scalar(
                select(func.count())
                .select_from(EmbeddingRecord)
                .where(EmbeddingRecord.message_id == body["message_id"])
            )
            == 1
        )
    engine.dispose()


def test_resending_the_same_platform_message_is_idempotent(service: Service):
    message = {"text": "my order never arrived", "channel": "email", "external_id": "mail-77"}
    first = classify(service, message).json()
    count = service.count(MessageRecord)
    again = classify(service, {**message, "text": "my order never arrived (edited)"}).json()
    assert again["message_id"] == first["message_id"]
    assert again["duplicate"] is True
    assert again["intent"] == first["intent"]
    assert service.count(MessageRecord) == count
    other_channel = classify(service, {**message, "channel": "chat"}).json()
    assert other_channel["message_id"] != first["message_id"]


def test_store_false_classifies_without_storing(service: Service):
    count = service.count(MessageRecord)
    body = classify(service, {"text": "please add dark mode", "store": False}).json()
    assert body["message_id"] is None and body["stored"] is False
    assert service.count(MessageRecord) == count


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   \n\t"}, "text"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "text"),
        ({"txt": "hello"}, "text"),
        ({"text": 42}, "text"),
        ({"text": "hi", "channel": "carrier-pigeon"}, "channel"),
        ({"text": "hi", "created_at": "yesterday"}, "created_at"),
        ({"text": "hi", "created_at": 1700000000}, "created_at"),
        ({"text": "hi", "store": "yes"}, "store"),
        ({"text": "hi", "surprise": 1}, "surprise"),
        ([{"text": "hi"}], "body"),
    ],
)
def test_bad_input_gets_a_problem_naming_the_field(service: Service, payload, field):
    count = service.count(MessageRecord)
    r = classify(service, payload)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 422
    assert field in {e["field"] for e in problem["errors"]}
    assert problem["detail"]
    assert service.count(MessageRecord) == count


@pytest.mark.parametrize("raw", [b"{not json", b'{"text": "caf\xe9"}', b""])
def test_undecodable_bodies_get_400(service: Service, raw: bytes):
    r = service.client.post("/v1/classify", content=raw, headers={**service.auth(), "Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"]


def test_oversized_body_is_refused_before_it_is_read(service: Service):
    r = service.client.post(
        "/v1/classify",
        content=b"{}",
        headers={**service.auth(), "Content-Type": "application/json", "Content-Length": str(64 * 1024 * 1024)},
    )
    assert r.status_code == 413
    assert r.json()["status"] == 413


def test_keys_and_roles(service: Service):
    body = {"text": "hello there", "store": False}
    missing = service.client.post("/v1/classify", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    unknown = service.client.post("/v1/classify", json=body, headers={"Authorization": "Bearer tid_nope"})
    assert unknown.status_code == 401
    assert classify(service, body, role="review").status_code == 403
    assert classify(service, body, role="admin").status_code == 200
    assert service.client.post("/v1/models/reload", headers=service.auth("classify")).status_code == 403


def test_batch_keeps_order_and_fails_items_alone(service: Service):
    count = service.count(MessageRecord)
    messages = [
        {"text": "subscribe to my channel"},
        {"text": ""},
        {"text": "love this brand so much", "external_id": "b-1", "channel": "instagram"},
        {"nope": True},
        {"text": "love this brand so much", "external_id": "b-1", "channel": "instagram"},
    ]
    r = service.client.post("/v1/classify/batch", json={"messages": messages}, headers=service.auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert [item["index"] for item in body["results"]] == [0, 1, 2, 3, 4]
    assert [item["ok"] for item in body["results"]] == [True, False, True, False, True]
    assert (body["succeeded"], body["failed"]) == (3, 2)
    assert body["results"][0]["result"]["intent"]["label"] == "spam"
    assert body["results"][1]["error"]["errors"][0]["field"] == "messages.1.text"
    assert body["results"][4]["result"]["message_id"] == body["results"][2]["result"]["message_id"]
    assert body["results"][4]["result"]["duplicate"] is True
    assert service.count(MessageRecord) == count + 2


@pytest.mark.parametrize("size", [0, 513])
def test_batch_size_limits(service: Service, size: int):
    r = service.client.post("/v1/classify/batch", json={"messages": [{"text": "hi"}] * size}, headers=service.auth())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "messages"


def test_models_lists_champion_and_what_is_served(service: Service):
    body = service.client.get("/v1/models", headers=service.auth()).json()
    assert body["registry_reachable"] is True
    assert body["champion"]["serving"] is True
    assert body["serving"]["backend"] == "torch"
    assert "has no ONNX export" in body["serving"]["backend_reason"]
    assert body["champion"]["trained_at"]
    assert body["champion"]["metrics"]


def test_metrics_exposes_traffic_predictions_and_model(service: Service):
    classify(service, {"text": "free followers check my bio", "store": False})
    text = service.client.get("/metrics").text
    assert 'tidings_predictions_total{head="intent",label="spam"}' in text
    assert "tidings_http_request_seconds_bucket" in text
    assert 'route="/v1/classify"' in text
    assert "tidings_model_info{" in text


def test_a_new_champion_is_swapped_in_on_reload(service: Service):
    before = service.client.get("/readyz").json()["model"]["version"]
    config = TrainingConfig.from_dict({**service.config.to_dict(), "name": "tiny-2"})
    result = Trainer(config, service.settings).run()
    assert result.version is not None
    promote(result.version, service.settings)
    assert model_by_alias(CHAMPION, service.settings).version == result.version
    r = service.client.post("/v1/models/reload", headers=service.auth("admin"))
    assert r.status_code == 200
    assert r.json()["serving"]["version"] == result.version != before
    body = classify(service, {"text": "sponsor our event next month", "store": False}).json()
    assert body["model"]["version"] == result.version


def test_openapi_documents_the_contract(service: Service):
    schema = service.client.get("/openapi.json").json()
    result = schema["components"]["schemas"]["ClassifyResult"]
    assert {"intent", "urgency", "sentiment", "needs_review", "model", "message_id"} <= set(result["properties"])
    assert "/v1/classify/batch" in schema["paths"]


def test_development_mode_is_off_by_default_and_opens_the_api_only_when_set(service: Service, monkeypatch):
    monkeypatch.delenv("TIDINGS_AUTH_DISABLED", raising=False)
    assert Settings().auth_disabled is False
    open_settings = service.settings.model_copy(update={"auth_disabled": True})
    with TestClient(create_app(open_settings)) as client:
        wait_ready(client)
        r = client.post("/v1/classify", json={"text": "hello", "store": False})
        assert r.status_code == 200


def test_models_reports_a_registry_outage_and_keeps_serving(service: Service, monkeypatch):
    from serving.routes import models as models_route

    def down(*args, **kwargs):
        raise ConnectionError("tracking server unreachable")

    monkeypatch.setattr(models_route, "model_by_alias", down)
    body = service.client.get("/v1/models", headers=service.auth()).json()
    assert body["registry_reachable"] is False
    assert "tracking server unreachable" in body["last_error"]
    assert body["serving"]["serving"] is True and body["serving"]["metrics"]
    assert classify(service, {"text": "hello there", "store": False}).status_code == 200


ROLES = ("classify", "review", "lead", "admin")
UNKNOWN_THEME = "0" * 32
# Every keyed route: a request that succeeds (or fails on its own terms, never on the key) for an
# allowed role, the status that role gets, and the roles allowed. Retrain gets a body it refuses,
# so the matrix never trains a model.
ROUTE_ROLES: dict[tuple[str, str], tuple[dict, int, set[str]]] = {
    ("POST", "/v1/classify"): ({"json": {"text": "hi there", "store": False}}, 200, {"classify", "admin"}),
    ("POST", "/v1/classify/batch"): (
        {"json": {"messages": [{"text": "hi there", "store": False}]}},
        200,
        {"classify", "admin"},
    ),
    ("GET", "/v1/models"): ({}, 200, {"classify", "review", "lead", "admin"}),
    ("POST", "/v1/models/reload"): ({}, 200, {"admin"}),
    ("POST", "/v1/admin/retrain"): ({"json": {"holdout_fraction": 7}}, 422, {"admin"}),
    ("GET", "/v1/review/queue"): ({}, 200, {"review", "admin"}),
    ("POST", "/v1/review/claim"): ({"json": {"limit": 1}}, 200, {"review", "admin"}),
    ("POST", "/v1/reviews"): (
        {"json": {"message_id": "no-such-message", "intent": "spam", "status": "submitted"}},
        404,
        {"review", "admin"},
    ),
    ("GET", "/v1/review/stats"): ({}, 200, {"review", "admin"}),
    ("POST", "/v1/themes/runs"): ({"json": {"month": "1999-01"}}, 409, {"lead", "admin"}),
    ("GET", "/v1/themes/{month}"): ({"path": "/v1/themes/1999-01"}, 404, {"lead", "admin"}),
    ("PATCH", "/v1/themes/{theme_id}"): (
        {"path": f"/v1/themes/{UNKNOWN_THEME}", "json": {"name": "Refunds"}},
        404,
        {"lead", "admin"},
    ),
    ("POST", "/v1/themes/merge"): (
        {"json": {"into": UNKNOWN_THEME, "from": "1" * 32}},
        404,
        {"lead", "admin"},
    ),
}


def test_the_role_matrix_names_every_keyed_route(service: Service):
    paths = service.client.get("/openapi.json").json()["paths"]
    keyed = {(method.upper(), path) for path, ops in paths.items() if path.startswith("/v1/") for method in ops}
    assert keyed == set(ROUTE_ROLES)


@pytest.mark.parametrize("route", sorted(ROUTE_ROLES), ids=lambda r: f"{r[0]} {r[1]}")
def test_every_route_answers_each_role_as_documented(service: Service, route: tuple[str, str]):
    method, template = route
    request, allowed_status, allowed = ROUTE_ROLES[route]
    path = request.get("path", template)
    send = {k: v for k, v in request.items() if k != "path"}
    anonymous = service.client.request(method, path, **send)
    assert anonymous.status_code == 401, anonymous.text
    for role in ROLES:
        r = service.client.request(method, path, headers=service.auth(role), **send)
        expected = allowed_status if role in allowed else 403
        assert r.status_code == expected, f"{role}: {r.status_code} {r.text}"
