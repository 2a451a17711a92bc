"""Web sign-in and the review page's form posts, through TestClient: cookies, redirects, roles, CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from data.settings import get_settings
from data.taxonomy import Head, Taxonomy, default_taxonomy
from serving.app import create_app
from serving.store.db import make_engine, make_sessionmaker, upgrade
from serving.store.keys import Role, create_key, revoke_key
from serving.store.review_tables import QueueItemRecord, ReviewRecord
from serving.store.tables import MessageRecord
from serving.web.review_desk import KEY_ROWS, label_keys
from serving.web.session import COOKIE, SessionSigner, safe_next
from tests.serving.web_data import Seeded, seed_inbox

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Site:
    """A running app (one per module: starting it costs seconds), its store freshly seeded, a key per role."""

    client: TestClient
    sessions: sessionmaker[Session]
    keys: dict[str, str]
    key_ids: dict[str, str]
    queued: list[Seeded]

    def settings(self, monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
        """Change the running app's settings for one test."""
        state = self.client.app.state.tidings  # type: ignore[attr-defined]
        monkeypatch.setattr(state, "settings", state.settings.model_copy(update=changes))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, sessionmaker[Session]]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIDINGS_DATA_DIR", str(tmp_path_factory.mktemp("web") / "var"))
        mp.setenv("TIDINGS_REGISTRY_POLL_SECONDS", "0")
        for name in ("TIDINGS_MLFLOW_URI", "TIDINGS_DATABASE_URL", "TIDINGS_AUTH_DISABLED", "TIDINGS_SESSION_SECRET"):
            mp.delenv(name, raising=False)
        get_settings.cache_clear()
        settings = get_settings()
        upgrade(settings.store_url)
        engine = make_engine(settings.store_url)
        try:
            with TestClient(create_app(settings)) as client:
                yield client, make_sessionmaker(engine)
        finally:
            engine.dispose()
            get_settings.cache_clear()


@pytest.fixture
def site(running: tuple[TestClient, sessionmaker[Session]]) -> Site:
    client, sessions = running
    client.cookies.clear()
    keys, key_ids = {}, {}
    with sessions() as session:
        session.execute(delete(MessageRecord))  # cascades to suggestions, the queue and reviews
        for role in Role:
            record, keys[role.value] = create_key(session, role, f"{role.value} tester")
            key_ids[role.value] = record.id
        session.commit()
        queued = seed_inbox(session)
    return Site(client, sessions, keys, key_ids, queued)


def sign_in(client: TestClient, key: str, next_path: str = "") -> str:
    """Sign in through the form; returns the CSRF token of the page landed on."""
    r = client.post("/signin", data={"key": key, "next": next_path}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"])
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def test_pages_redirect_to_signin_and_back(site: Site):
    client = site.client
    r = client.get("/review?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=%2Freview%3Fx%3D1"
    form = client.get(r.headers["location"])
    assert form.status_code == 200 and 'name="key"' in form.text and 'value="/review?x=1"' in form.text
    r = client.post("/signin", data={"key": site.keys["review"], "next": "/review?x=1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/review?x=1"
    assert client.get("/review").status_code == 200


def test_signin_sets_an_httponly_lax_cookie_without_the_key(site: Site):
    client = site.client
    r = client.post("/signin", data={"key": site.keys["review"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/review"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    assert "secure" not in flags  # plain http, and TIDINGS_SESSION_COOKIE_SECURE unset
    value = cookie.split(";")[0].split("=", 1)[1]
    assert site.keys["review"] not in value and site.keys["review"][4:] not in value
    page = client.get("/review")
    assert page.status_code == 200
    assert "review tester" in page.text and site.queued[0].text.replace("'", "&#39;") in page.text


def test_cookie_is_secure_over_https_or_when_configured(site: Site, monkeypatch: pytest.MonkeyPatch):
    # A second client on the running app (its lifespan already ran), speaking https.
    https = TestClient(site.client.app, base_url="https://testserver")
    r = https.post("/signin", data={"key": site.keys["review"]}, follow_redirects=False)
    assert "; secure" in r.headers["set-cookie"].lower()
    site.settings(monkeypatch, session_cookie_secure=True)
    r = site.client.post("/signin", data={"key": site.keys["review"]}, follow_redirects=False)
    assert "; secure" in r.headers["set-cookie"].lower()


def test_wrong_key_is_refused_and_sets_no_cookie(site: Site):
    client = site.client
    for key in ("tid_wrong", "", "not even a key"):
        r = client.post("/signin", data={"key": key, "next": "/review"}, follow_redirects=False)
        assert r.status_code == 401
        assert "unknown or has been revoked" in r.text
        assert "set-cookie" not in r.headers
    assert client.get("/review", follow_redirects=False).status_code == 303


def test_a_classify_key_gets_a_403_page(site: Site):
    client = site.client
    r = client.post("/signin", data={"key": site.keys["classify"]}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "A classify key may not open this page" in page.text


def test_admin_is_admitted_and_a_lead_lands_on_themes(site: Site):
    client = site.client
    sign_in(client, site.keys["admin"])
    assert client.get("/review").status_code == 200
    client = site.client
    r = client.post("/signin", data={"key": site.keys["lead"]}, follow_redirects=False)
    assert r.headers["location"] == "/themes"
    assert client.get("/review", follow_redirects=False).status_code == 403


def test_revoked_key_ends_the_session_at_once(site: Site):
    client = site.client
    sign_in(client, site.keys["review"])
    with site.sessions() as session:
        assert revoke_key(session, site.key_ids["review"])
        session.commit()
    r = client.get("/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2Freview&ended=1"
    assert "session has ended" in client.get(r.headers["location"]).text
    again = client.post("/signin", data={"key": site.keys["review"]}, follow_redirects=False)
    assert again.status_code == 401


def test_forged_tampered_or_foreign_cookies_are_refused(site: Site):
    client = site.client
    sign_in(client, site.keys["review"])
    good = client.cookies[COOKIE]
    payload, mac = good.split(".")
    forged = SessionSigner(b"x" * 32, 3600).issue(site.key_ids["admin"])
    for value in (f"{payload}.{mac[:-2]}AA", forged, "garbage", f"{payload}."):
        client.cookies.clear()
        client.cookies.set(COOKIE, value)
        assert client.get("/review", follow_redirects=False).status_code == 303, value
    client.cookies.clear()
    client.cookies.set(COOKIE, good)
    assert client.get("/review", follow_redirects=False).status_code == 200


def test_signer_rejects_expired_tokens_and_binds_csrf_to_the_session():
    signer = SessionSigner(b"k" * 32, lifetime_seconds=60)
    token = signer.issue("abc", now=1000.0)
    assert signer.key_id(token, now=1059.0) == "abc"
    assert signer.key_id(token, now=1060.0) is None
    other = signer.issue("abc", now=1000.0)
    assert signer.csrf_token(token) != signer.csrf_token(other)
    assert SessionSigner(b"j" * 32, 60).key_id(token, now=1000.0) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/review?x=1", "/review?x=1"),
        ("/themes", "/themes"),
        ("//evil.example/x", None),
        ("/\\evil.example", None),
        ("https://evil.example/", None),
        ("javascript:alert(1)", None),
        ("review", None),
        ("/review\n", None),
        ("", None),
    ],
)
def test_next_only_goes_to_this_site(value: str, expected: str | None):
    assert safe_next(value) == expected


def test_signin_never_redirects_off_site(site: Site):
    client = site.client
    r = client.post("/signin", data={"key": site.keys["review"], "next": "//evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/review"


def test_forms_need_the_session_csrf_token_and_this_origin(site: Site):
    stuck = site.queued[0]
    client = site.client
    token = sign_in(client, site.keys["review"])
    body = {"message_id": stuck.id, "action": "submit", "intent": "spam"}
    assert client.post("/review/decide", data=body, follow_redirects=False).status_code == 403
    bad = {**body, "csrf_token": token[:-1] + ("A" if token[-1] != "A" else "B")}
    assert client.post("/review/decide", data=bad, follow_redirects=False).status_code == 403
    cross = client.post(
        "/review/decide",
        data={**body, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403
    with site.sessions() as session:
        assert session.scalars(select(ReviewRecord)).first() is None
    ok = client.post("/review/decide", data={**body, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/review?done=submitted"
    header = client.post(
        "/review/decide",
        data={**body, "intent": "feedback"},
        headers={"X-CSRF-Token": token, "Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert header.status_code == 303
    with site.sessions() as session:
        revisions = list(session.scalars(select(ReviewRecord).order_by(ReviewRecord.revision)))
    assert [(r.revision, r.intent, r.status) for r in revisions] == [
        (1, "spam", "submitted"),
        (2, "feedback", "submitted"),
    ]
    assert {r.reviewer_id for r in revisions} == {site.key_ids["review"]}


def test_signin_from_another_site_is_refused(site: Site):
    client = site.client
    r = client.post(
        "/signin",
        data={"key": site.keys["review"]},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_signout_clears_the_cookie(site: Site):
    client = site.client
    token = sign_in(client, site.keys["review"])
    assert client.post("/signout", follow_redirects=False).status_code == 403  # no CSRF token
    r = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert COOKIE not in client.cookies
    assert client.get("/review", follow_redirects=False).status_code == 303


def test_unclear_is_a_discarded_review_with_its_note_and_skip_records_nothing(site: Site):
    stuck, second, third = site.queued
    client = site.client
    token = sign_in(client, site.keys["review"])
    r = client.post(
        "/review/decide",
        data={"message_id": stuck.id, "action": "skip", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with site.sessions() as session:
        item = session.get(QueueItemRecord, stuck.id)
        assert item is not None and item.claimed_by is None and item.completed_at is None
    page = client.get("/review").text
    assert second.text in page and "Skipped." not in page  # no `done` in this request
    body = {"message_id": second.id, "action": "unclear", "note": "  which order? ", "csrf_token": token}
    assert client.post("/review/decide", data=body, follow_redirects=False).status_code == 303
    body = {"message_id": third.id, "action": "unclear", "csrf_token": token}
    assert client.post("/review/decide", data=body, follow_redirects=False).status_code == 303
    empty = client.get("/review").text
    assert "The queue is empty" in empty and "You skipped 1 message." in empty
    again = client.post("/review/skipped/clear", data={"csrf_token": token})
    assert stuck.text.replace("'", "&#39;") in again.text
    with site.sessions() as session:
        reviews = {r.message_id: r for r in session.scalars(select(ReviewRecord))}
    assert set(reviews) == {second.id, third.id}
    assert (reviews[second.id].status, reviews[second.id].note) == ("discarded", "unclear: which order?")
    assert (reviews[third.id].status, reviews[third.id].note) == ("discarded", "unclear")


def test_a_submission_without_labels_is_refused_on_a_page(site: Site):
    client = site.client
    token = sign_in(client, site.keys["review"])
    body = {"message_id": site.queued[0].id, "action": "submit", "csrf_token": token}
    r = client.post("/review/decide", data=body)
    assert r.status_code == 422 and "Not saved" in r.text and "at least one" in r.text
    body = {"message_id": "nope", "action": "submit", "intent": "spam", "csrf_token": token}
    r = client.post("/review/decide", data=body)
    assert r.status_code == 404 and "no message is stored" in r.text
    body = {"message_id": site.queued[0].id, "action": "submit", "intent": "not-a-label", "csrf_token": token}
    assert client.post("/review/decide", data=body).status_code == 422


def test_progress_today_counts_submitted_messages_once(site: Site):
    stuck = site.queued[0]
    client = site.client
    token = sign_in(client, site.keys["review"])
    for intent in ("spam", "feedback"):
        body = {"message_id": stuck.id, "action": "submit", "intent": intent, "csrf_token": token}
        page = client.post("/review/decide", data=body)
    assert re.search(r'id="today-count">1<', page.text)
    assert "Review saved." in page.text


def test_development_mode_needs_no_signin(site: Site, monkeypatch: pytest.MonkeyPatch):
    site.settings(monkeypatch, auth_disabled=True)
    client = site.client
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 200 and "development mode" in page.text


def test_label_keys_cover_the_taxonomy_one_key_each():
    keys = label_keys(default_taxonomy())
    assert set(keys) == set(default_taxonomy().heads)
    for name, head in default_taxonomy().heads.items():
        assert set(keys[name]) == set(head.labels)
    flat = [k for per_head in keys.values() for k in per_head.values()]
    assert len(flat) == len(set(flat))
    assert not set(flat) & {"a", "s", "u"}
    too_many = Taxonomy({"x": Head("x", tuple(f"l{i}" for i in range(len(KEY_ROWS[0]) + 1)), {})})
    with pytest.raises(ValueError, match="has 11 labels"):
        label_keys(too_many)
