"""The review API as a reviewer meets it: the queue, claims, reviews (one or a list), statistics, roles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.serving.service import deployment
from tests.serving.test_api import wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TIERS = {"critical": 2, "abstained": 1, "low_margin": 1, "sample": 0}
MESSAGES = [
    "???",
    "!!! ...",
    "i will hurt you",
    "how much is the pro plan",
    "please add dark mode",
    "subscribe to my channel",
    "my order never arrived where is it",
    "love this brand so much",
]


@dataclass
class Reviewers:
    """A running app whose stored messages are all queued (sample rate 1), with a key per role."""

    client: TestClient
    keys: dict[str, str]
    message_ids: list[str]

    def auth(self, role: str = "review") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def get(self, path: str, role: str = "review", **params):
        return self.client.get(path, params=params, headers=self.auth(role))

    def post(self, path: str, body, role: str = "review"):
        return self.client.post(path, json=body, headers=self.auth(role))


@pytest.fixture(scope="module")
def reviewers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reviewers]:
    env = {"TIDINGS_REVIEW_SAMPLE_RATE": "1", "TIDINGS_REVIEW_SECOND_SHARE": "0"}
    with deployment(tmp_path_factory.mktemp("review"), **env) as d, TestClient(create_app(d.settings)) as client:
        wait_ready(client)
        r = client.post(
            "/v1/classify/batch",
            json={"messages": [{"text": t, "channel": "chat", "space": "Acme"} for t in MESSAGES]},
            headers={"Authorization": f"Bearer {d.keys['classify']}"},
        )
        assert r.status_code == 200, r.text
        ids = [item["result"]["message_id"] for item in r.json()["results"]]
        yield Reviewers(client, d.keys, ids)


def test_every_stored_message_is_queued_critical_and_uncertain_first(reviewers: Reviewers):
    r = reviewers.get("/v1/review/queue")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(MESSAGES)
    items = body["items"]
    assert {i["message_id"] for i in items} == set(reviewers.message_ids)
    assert [i["priority"] for i in items] == sorted((i["priority"] for i in items), reverse=True)
    assert [TIERS[i["reason"]] for i in items] == sorted((TIERS[i["reason"]] for i in items), reverse=True)
    by_text = {i["text"]: i for i in items}
    for wordless in ("???", "!!! ..."):  # no words: every head abstains as out_of_scope
        item = by_text[wordless]
        assert item["reason"] in ("critical", "abstained")
        assert item["suggestion"]["intent"]["abstained"] is True
        assert item["suggestion"]["intent"]["reason"] == "out_of_scope"
    first = items[0]
    assert first["channel"] == "chat" and first["space"] == "Acme" and first["created_at"]
    assert set(first["suggestion"]) == {"intent", "urgency", "sentiment", "model"}
    assert set(first["suggestion"]["urgency"]) == {"label", "probability", "probabilities", "abstained", "reason"}
    assert first["claimed_by"] is None and first["needed_reviews"] == 1


def test_the_queue_filters(reviewers: Reviewers):
    everything = reviewers.get("/v1/review/queue").json()["items"]
    spam = [i for i in everything if i["suggestion"]["intent"]["label"] == "spam"]
    assert reviewers.get("/v1/review/queue", intent="spam").json()["total"] == len(spam)
    assert reviewers.get("/v1/review/queue", channel="email").json()["total"] == 0
    assert reviewers.get("/v1/review/queue", space="Acme", limit=2).json()["total"] == len(everything)
    assert len(reviewers.get("/v1/review/queue", limit=2).json()["items"]) == 2
    assert reviewers.get("/v1/review/queue", since="2999-01-01T00:00:00Z").json()["total"] == 0
    bad = reviewers.get("/v1/review/queue", intent="nonsense")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.intent"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/review/queue"), ("POST", "/v1/review/claim"), ("POST", "/v1/reviews"), ("GET", "/v1/review/stats")],
)
def test_a_classify_key_may_not_review(reviewers: Reviewers, method: str, path: str):
    body = {} if path.endswith("claim") else {"message_id": reviewers.message_ids[0], "status": "draft"}
    r = reviewers.client.request(
        method, path, json=body if method == "POST" else None, headers=reviewers.auth("classify")
    )
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert reviewers.client.request(method, path).status_code == 401


def test_claims_give_two_reviewers_different_items(reviewers: Reviewers):
    mine = reviewers.post("/v1/review/claim", {"limit": 3})
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert len(body["items"]) == 3 and body["claim_expires_at"]
    assert all(i["claimed_by"] == body["claimed_by"] for i in body["items"])
    theirs = reviewers.post("/v1/review/claim", {"limit": 3}, role="admin").json()
    assert not {i["message_id"] for i in body["items"]} & {i["message_id"] for i in theirs["items"]}
    again = reviewers.post("/v1/review/claim", {"limit": 3}).json()
    assert [i["message_id"] for i in again["items"]] == [i["message_id"] for i in body["items"]]
    assert reviewers.post("/v1/review/claim", {"limit": 0}).status_code == 422
    assert reviewers.post("/v1/review/claim", {"limit": 5, "urgency": "critical"}).status_code == 200


def test_reviews_are_recorded_as_revisions_and_finish_queue_items(reviewers: Reviewers):
    target = reviewers.post("/v1/review/claim", {"limit": 1}).json()["items"][0]["message_id"]
    draft = reviewers.post("/v1/reviews", {"message_id": target, "intent": "feedback", "status": "draft"})
    assert draft.status_code == 200, draft.text
    assert draft.json()["revision"] == 1 and draft.json()["queue"] == "open"
    done = reviewers.post(
        "/v1/reviews",
        {"message_id": target, "intent": "spam", "urgency": "low", "status": "submitted", "note": "obvious"},
    ).json()
    assert done["revision"] == 2 and done["queue"] == "completed"
    assert done["reviewer_name"] == "test review" and done["model_version"] == "1"
    assert (done["intent"], done["urgency"], done["sentiment"], done["note"]) == ("spam", "low", None, "obvious")
    queue = reviewers.get("/v1/review/queue").json()
    assert target not in {i["message_id"] for i in queue["items"]}
    other = next(i["message_id"] for i in queue["items"])
    discarded = reviewers.post("/v1/reviews", {"message_id": other, "status": "discarded"}, role="admin").json()
    assert discarded["status"] == "discarded" and discarded["queue"] == "completed"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"message_id": "x", "intent": "nonsense", "status": "submitted"}, 422, "intent"),
        ({"message_id": "x", "urgency": "Critical", "status": "submitted"}, 422, "urgency"),
        ({"message_id": "x", "intent": "spam", "status": "approved"}, 422, "status"),
        ({"message_id": "x", "intent": "spam", "status": "submitted", "extra": 1}, 422, "extra"),
        ({"intent": "spam", "status": "submitted"}, 422, "message_id"),
        ({"message_id": "no-such-message", "intent": "spam", "status": "submitted"}, 404, "message_id"),
        ([], 422, "reviews"),
        (3, 422, "body"),
    ],
)
def test_bad_reviews_get_a_problem_naming_the_field(reviewers: Reviewers, body, status: int, field: str):
    r = reviewers.post("/v1/reviews", body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}


def test_a_submitted_review_needs_a_label(reviewers: Reviewers):
    r = reviewers.post("/v1/reviews", {"message_id": reviewers.message_ids[0], "status": "submitted"})
    assert r.status_code == 422
    assert "at least one" in r.json()["detail"]


def test_a_list_of_reviews_is_reported_per_item(reviewers: Reviewers):
    a, b = reviewers.message_ids[-2:]
    body = [
        {"message_id": a, "sentiment": "positive", "status": "submitted"},
        {"message_id": b, "intent": "nonsense", "status": "submitted"},
        {"message_id": "no-such-message", "intent": "spam", "status": "draft"},
        "not an object",
        {"message_id": b, "intent": "advocacy", "status": "draft"},
    ]
    r = reviewers.post("/v1/reviews", body, role="admin")
    assert r.status_code == 200, r.text
    out = r.json()
    assert [i["index"] for i in out["results"]] == [0, 1, 2, 3, 4]
    assert [i["ok"] for i in out["results"]] == [True, False, False, False, True]
    assert (out["succeeded"], out["failed"]) == (2, 3)
    assert out["results"][1]["error"]["errors"][0]["field"] == "reviews.1.intent"
    assert out["results"][2]["error"]["status"] == 404
    assert out["results"][2]["error"]["errors"][0]["field"] == "reviews.2.message_id"
    assert out["results"][3]["error"]["errors"][0]["field"] == "reviews.3"
    assert out["results"][0]["review"]["sentiment"] == "positive"


def test_stats_report_activity_corrections_and_agreement(reviewers: Reviewers):
    target = reviewers.message_ids[3]
    reviewers.post("/v1/reviews", {"message_id": target, "intent": "sales_question", "status": "submitted"})
    r = reviewers.get("/v1/review/stats")
    assert r.status_code == 200, r.text
    stats = r.json()
    assert set(stats) == {"reviews_per_day", "heads", "queue"}
    today = datetime.now(UTC).date().isoformat()
    assert stats["reviews_per_day"][today]["submitted"] >= 1
    assert set(stats["heads"]) == {"intent", "urgency", "sentiment"}
    intent = stats["heads"]["intent"]
    assert set(intent) == {
        "reviewed",
        "corrected",
        "correction_rate",
        "model_agreement",
        "by_predicted_label",
        "inter_reviewer",
    }
    assert intent["reviewed"] >= 1
    assert intent["model_agreement"] == pytest.approx(1 - intent["correction_rate"])
    assert set(intent["inter_reviewer"]) == {"items", "agreement", "kappa"}
    assert set(stats["queue"]) == {"open", "claimed", "awaiting_second_review", "completed"}
    assert stats["queue"]["completed"] >= 1


def test_openapi_documents_the_review_api(reviewers: Reviewers):
    schema = reviewers.client.get("/openapi.json").json()
    for path in ("/v1/review/queue", "/v1/review/claim", "/v1/reviews", "/v1/review/stats"):
        assert path in schema["paths"]
    review_in = schema["components"]["schemas"]["ReviewIn"]
    intent = next(b for b in review_in["properties"]["intent"]["anyOf"] if b.get("type") == "string")
    assert "spam" in intent["enum"]
