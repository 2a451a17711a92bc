"""Monthly themes through the API: planted themes come out, keep their ids, and a newcomer is `new`."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.serving.service import Deployment, deployment
from tests.serving.test_api import wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Three subjects in both months, a fourth only in the second; written for this test.
SUBJECTS = {
    "refund": (
        [
            "still waiting on my refund",
            "where is the refund for order",
            "refund never arrived for my cancelled order",
            "please process my refund",
            "refund taking forever after cancellation",
        ],
        ["#{n}", "it has been {n} days", "order {n}", "this is the {n}th email"],
    ),
    "password": (
        [
            "password reset email never comes",
            "cannot log in after password reset",
            "login fails with my password",
            "password reset link expired",
            "locked out, password not accepted",
        ],
        ["tried {n} times", "since {n} am", "account {n}", "attempt {n}"],
    ),
    "dark mode": (
        [
            "please add a dark mode",
            "dark mode would save my eyes",
            "any plans for dark mode",
            "dark mode for the desktop app please",
            "we need dark mode at night",
        ],
        ["vote {n}", "+{n}", "asked {n} times", "team of {n} wants it"],
    ),
    "canada shipping": (
        [
            "do you ship to canada",
            "shipping to canada cost",
            "canada shipping when",
            "can i order from canada",
            "is canada shipping available",
        ],
        ["postal code {n}", "in {n} provinces", "quote {n}", "for {n} items"],
    ),
}


def messages(month: str, subjects: list[str], per_subject: int) -> list[dict]:
    out = []
    for subject in subjects:
        bodies, tails = SUBJECTS[subject]
        combos = itertools.islice(itertools.cycle(itertools.product(bodies, tails)), per_subject)
        for n, (body, tail) in enumerate(combos):
            out.append(
                {
                    "text": f"{body} {tail.format(n=n + 2)}",
                    "created_at": f"{month}-{1 + n % 27:02d}T10:00:00Z",
                    "external_id": f"{month}-{subject}-{n}",
                    "channel": "forum",
                }
            )
    return out


@pytest.fixture(scope="module")
def themed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Deployment]]:
    env = {"TIDINGS_THEMES_WORD_ENCODER": "none"}
    with deployment(tmp_path_factory.mktemp("themes"), **env) as d, TestClient(create_app(d.settings)) as client:
        wait_ready(client)
        auth = {"Authorization": f"Bearer {d.keys['classify']}"}
        for month, subjects in (("2026-09", ["refund", "password", "dark mode"]), ("2026-10", list(SUBJECTS))):
            body = {"messages": messages(month, subjects, 40)}
            assert client.post("/v1/classify/batch", json=body, headers=auth).json()["failed"] == 0
        yield client, d


def lead(d: Deployment) -> dict[str, str]:
    return {"Authorization": f"Bearer {d.keys['lead']}"}


def subject_of(theme: dict) -> str | None:
    words = " ".join([theme["label"], *theme["keywords"]])
    found = [s for s in SUBJECTS if s.split()[0] in words]
    return found[0] if len(found) == 1 else None


def ids_by_subject(themes: list[dict]) -> dict[str, set[str]]:
    """A subject may come out as several themes on the hashing encoder; group their ids."""
    out: dict[str, set[str]] = {}
    for theme in themes:
        subject = subject_of(theme)
        if subject is not None:
            out.setdefault(subject, set()).add(theme["id"])
    return out


def test_planted_themes_persist_and_the_newcomer_is_new(themed):
    client, d = themed
    first = client.post("/v1/themes/runs", json={"month": "2026-09"}, headers=lead(d))
    assert first.status_code == 201, first.text
    assert first.json()["n_messages"] == 120 and first.json()["mlflow_run_id"]
    september = ids_by_subject(client.get("/v1/themes/2026-09", headers=lead(d)).json()["themes"])
    assert {"refund", "password", "dark mode"} <= set(september)
    assert all(t["status"] == "new" for t in client.get("/v1/themes/2026-09", headers=lead(d)).json()["themes"])

    assert client.post("/v1/themes/runs", json={"month": "2026-10"}, headers=lead(d)).status_code == 201
    october = client.get("/v1/themes/2026-10", headers=lead(d)).json()
    by_subject = ids_by_subject(october["themes"])
    statuses = {t["id"]: t["status"] for t in october["themes"]}
    for subject in ("refund", "password", "dark mode"):
        continuing = by_subject[subject] & september[subject]
        assert continuing, f"no {subject} theme kept its id"
        assert all(statuses[i] != "new" for i in continuing)
    assert by_subject["canada shipping"] and not by_subject["canada shipping"] & set().union(*september.values())
    assert all(statuses[i] == "new" for i in by_subject["canada shipping"])
    for theme in october["themes"]:
        assert theme["quotes"] and theme["label"] and theme["size"] > 0
        assert sum(theme["sentiment"].values()) == theme["size"]
    assert 0 <= october["outlier_share"] <= 1


def test_themes_need_a_lead_key_and_a_real_month(themed):
    client, d = themed
    classify_key = {"Authorization": f"Bearer {d.keys['classify']}"}
    assert client.get("/v1/themes/2026-09", headers=classify_key).status_code == 403
    assert client.post("/v1/themes/runs", json={"month": "2026-13"}, headers=lead(d)).status_code == 422
    assert client.get("/v1/themes/2026-9", headers=lead(d)).status_code == 422
    missing = client.get("/v1/themes/2025-01", headers=lead(d))
    assert missing.status_code == 404 and missing.json()["detail"].startswith("no themes run")
    empty = client.post("/v1/themes/runs", json={"month": "2025-01"}, headers=lead(d))
    assert empty.status_code == 409 and "at least 10" in empty.json()["detail"]
