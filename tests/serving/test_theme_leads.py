"""What leads see and do: rename and merge themes, FAQ candidates, the monthly report (store, API, CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from data.settings import Settings
from serving import theme_commands, theme_digest, theme_registry, theme_report
from serving.app import create_app
from serving.auth import KeyVerifier
from serving.classification import Classifier
from serving.cli import app as cli
from serving.deps import AppState
from serving.metrics import ServiceMetrics
from serving.model_host import ModelHost
from serving.store.db import make_engine, make_sessionmaker, upgrade
from serving.store.keys import Role, create_key
from serving.store.review_queue import QueueRules
from serving.store.theme_tables import ThemeAssignmentRecord, ThemeRecord
from serving.theme_runs import month_summary
from tests.serving.conftest import MigratedStore
from tests.serving.theme_leads_data import theme_month

TWO_MONTHS = {
    "2026-09": {"refund": 14, "money back": 8, "canada": 10, "dark mode": 6, "thank": 6},
    "2026-10": {"refund": 16, "money back": 8, "canada": 12, "dark mode": 3, "thank": 9},
}


def theme_id(summary: dict, auto_label: str) -> str:
    (found,) = [t["id"] for t in summary["themes"] if t["auto_label"] == auto_label]
    return found


@pytest.fixture
def session(migrated_store: MigratedStore) -> Iterator[Session]:
    with migrated_store.sessions() as s:
        yield s


def test_a_renamed_theme_keeps_its_id_and_name_next_month(session, monkeypatch):
    theme_month(session, monkeypatch, "2026-09", TWO_MONTHS["2026-09"])
    refund = theme_id(month_summary(session, "2026-09"), "refund")
    theme_registry.rename(session, refund, "Refund delays")
    session.commit()

    theme_month(session, monkeypatch, "2026-10", TWO_MONTHS["2026-10"])
    october = month_summary(session, "2026-10")
    (theme,) = [t for t in october["themes"] if t["id"] == refund]
    assert (theme["label"], theme["name"], theme["auto_label"]) == ("Refund delays", "Refund delays", "refund")
    assert theme["status"] != "new"
    theme_registry.rename(session, refund, None)
    assert month_summary(session, "2026-10")["themes"][0]["label"] == "refund"


def test_merged_themes_show_as_one_and_later_matches_resolve_to_the_survivor(session, monkeypatch):
    theme_month(session, monkeypatch, "2026-09", TWO_MONTHS["2026-09"])
    september = month_summary(session, "2026-09")
    refund, money = theme_id(september, "refund"), theme_id(september, "money back")
    theme_registry.rename(session, money, "Money back")
    survivor = theme_registry.merge(session, into=refund, from_=money)
    session.commit()
    assert survivor.name == "Money back"  # the survivor had no name, so it takes the absorbed one's
    assert theme_registry.absorbed_ids(session, refund) == [money]

    merged = month_summary(session, "2026-09")
    ids = [t["id"] for t in merged["themes"]]
    assert len(ids) == len(set(ids)) == len(september["themes"]) - 1
    (whole,) = [t for t in merged["themes"] if t["id"] == refund]
    assert whole["size"] == 22 and whole["status"] == "new"
    assert whole["sentiment"] == {"negative": 22}
    assert whole["share"] == pytest.approx(22 / 44, abs=1e-4)
    assert {q["text"] for q in whole["quotes"]} & {"I want my money back"}

    run_id = theme_month(session, monkeypatch, "2026-10", TWO_MONTHS["2026-10"])
    october = month_summary(session, "2026-10")
    assert money not in {t["id"] for t in october["themes"]}
    (whole,) = [t for t in october["themes"] if t["id"] == refund]
    assert whole["size"] == 24 and whole["label"] == "Money back" and whole["status"] != "new"
    assigned = session.scalars(select(ThemeAssignmentRecord.theme_id).where(ThemeAssignmentRecord.run_id == run_id))
    assert money not in set(assigned)
    # The merged months lend the survivor one centroid each; after October it has one again.
    assert [k.theme_id for k in theme_registry.known_themes(session, "2026-10")].count(refund) == 2
    assert [k.theme_id for k in theme_registry.known_themes(session, "2026-11")].count(refund) == 1


def test_merge_and_rename_refuse_what_cannot_be_done(session, monkeypatch):
    theme_month(session, monkeypatch, "2026-09", TWO_MONTHS["2026-09"])
    september = month_summary(session, "2026-09")
    refund, money, canada = (theme_id(september, k) for k in ("refund", "money back", "canada"))
    with pytest.raises(theme_registry.UnknownTheme):
        theme_registry.merge(session, into=refund, from_="nope")
    with pytest.raises(ValueError, match="itself"):
        theme_registry.merge(session, into=refund, from_=refund)
    theme_registry.merge(session, into=refund, from_=money)
    with pytest.raises(theme_registry.ThemeMerged, match=f"merged into {refund}"):
        theme_registry.merge(session, into=canada, from_=money)
    with pytest.raises(theme_registry.ThemeMerged):
        theme_registry.merge(session, into=money, from_=canada)
    with pytest.raises(theme_registry.ThemeMerged):
        theme_registry.rename(session, money, "x")
    # A chain of merges resolves to the last survivor.
    theme_registry.merge(session, into=canada, from_=refund)
    assert theme_registry.surviving_id(session, money) == canada
    assert theme_registry.absorbed_ids(session, canada) == sorted([refund, money])


@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], Session]]:
    upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        keys = {role.value: create_key(s, role, role.value)[1] for role in Role}
        s.commit()
    # No lifespan: these routes need the store and keys only, not a champion from the registry.
    app = create_app(settings)
    app.state.tidings = AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        host=ModelHost(settings),
        metrics=ServiceMetrics(),
        keys=KeyVerifier(sessions),
        classifier=Classifier(sessions, ServiceMetrics(), QueueRules.from_settings(settings)),
    )
    with sessions() as s:
        yield TestClient(app), keys, s
    engine.dispose()


def test_rename_and_merge_through_the_api(served, monkeypatch):
    client, keys, session = served
    theme_month(session, monkeypatch, "2026-09", TWO_MONTHS["2026-09"])
    september = month_summary(session, "2026-09")
    refund, money = theme_id(september, "refund"), theme_id(september, "money back")
    lead = {"Authorization": f"Bearer {keys['lead']}"}

    r = client.patch(f"/v1/themes/{refund}", json={"name": "  Refunds  "}, headers=lead)
    assert r.status_code == 200, r.text
    assert r.json() | {"absorbed": []} == {
        "id": refund,
        "label": "Refunds",
        "name": "Refunds",
        "auto_label": "refund",
        "first_month": "2026-09",
        "last_month": "2026-09",
        "merged_into": None,
        "absorbed": [],
    }
    r = client.post("/v1/themes/merge", json={"into": refund, "from": money}, headers=lead)
    assert r.status_code == 200, r.text
    assert r.json()["absorbed"] == [money] and r.json()["name"] == "Refunds"
    shown = client.get("/v1/themes/2026-09", headers=lead).json()
    assert shown["themes"][0]["label"] == "Refunds"
    assert money not in {t["id"] for t in shown["themes"]}

    def problem(response, status: int) -> dict:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        return response.json()

    assert (
        "no theme" in problem(client.patch(f"/v1/themes/{'0' * 32}", json={"name": "x"}, headers=lead), 404)["detail"]
    )
    problem(client.patch("/v1/themes/abc", json={"name": "x"}, headers=lead), 422)
    again = client.post("/v1/themes/merge", json={"into": refund, "from": money}, headers=lead)
    assert f"merged into {refund}" in problem(again, 409)["detail"]
    assert problem(client.patch(f"/v1/themes/{money}", json={"name": "x"}, headers=lead), 409)
    itself = client.post("/v1/themes/merge", json={"into": refund, "from": refund}, headers=lead)
    assert "into itself" in problem(itself, 409)["detail"]
    unknown = client.post("/v1/themes/merge", json={"into": refund, "from": "f" * 32}, headers=lead)
    problem(unknown, 404)
    for body in ({"name": "   "}, {"name": "x" * 201}, {}, {"name": "x", "extra": 1}, {"name": "a\x00b"}):
        problem(client.patch(f"/v1/themes/{refund}", json=body, headers=lead), 422)
    for body in (
        {"into": refund},
        {"into": refund, "from_": money},
        {"into": refund, "from": "x\x00"},
    ):
        problem(client.post("/v1/themes/merge", json=body, headers=lead), 422)
    review = {"Authorization": f"Bearer {keys['review']}"}
    problem(client.patch(f"/v1/themes/{refund}", json={"name": "x"}, headers=review), 403)
    problem(client.post("/v1/themes/merge", json={"into": refund, "from": money}), 401)
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    assert client.patch(f"/v1/themes/{refund}", json={"name": None}, headers=admin).json()["label"] == "refund"


def test_rename_and_merge_from_the_cli(settings: Settings, monkeypatch, tmp_path: Path):
    upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    with make_sessionmaker(engine)() as session:
        theme_month(session, monkeypatch, "2026-09", TWO_MONTHS["2026-09"])
        september = month_summary(session, "2026-09")
    refund, money = theme_id(september, "refund"), theme_id(september, "money back")
    runner = CliRunner()

    result = runner.invoke(cli, ["themes", "rename", refund, "Refund delays"])
    assert result.exit_code == 0, result.output
    assert "Refund delays" in result.output
    result = runner.invoke(cli, ["themes", "merge", "--into", refund, "--from", money])
    assert result.exit_code == 0, result.output
    assert f"absorbed: {money}" in result.output
    result = runner.invoke(cli, ["themes", "merge", "--into", money, "--from", refund])
    assert result.exit_code == 1 and "was merged into" in result.output
    assert runner.invoke(cli, ["themes", "rename", "nope", "x"]).exit_code == 1
    assert runner.invoke(cli, ["themes", "rename", refund]).exit_code == 2
    assert runner.invoke(cli, ["themes", "rename", refund, " "]).exit_code == 2
    monkeypatch.setattr(theme_commands.out, "width", 240)
    shown = runner.invoke(cli, ["themes", "show", "--month", "2026-09"])
    assert shown.exit_code == 0 and "Refund delays" in shown.output and refund in shown.output
    result = runner.invoke(cli, ["themes", "rename", refund, "--clear"])
    assert result.exit_code == 0, result.output
    with make_sessionmaker(engine)() as session:
        theme = session.get(ThemeRecord, refund)
        assert theme is not None and theme.name is None
    engine.dispose()


def test_the_month_lists_repeated_questions_of_support_and_sales_themes(session, monkeypatch):
    theme_month(session, monkeypatch, "2026-09", TWO_MONTHS["2026-09"])
    september = month_summary(session, "2026-09")
    labels = {t["id"]: t["auto_label"] for t in september["themes"]}
    asked = [(labels[q["theme_id"]], q["text"], q["count"]) for q in september["questions"]]
    assert asked == [
        ("canada", "do you ship to canada?", 6),
        ("refund", "where is my refund?", 6),
        ("refund", "how long does a refund take", 4),
        ("money back", "can I get my money back?", 2),
        ("canada", "is canada delivery free over 50 dollars", 2),
    ]  # dark mode (feedback) and thanks (advocacy) ask nothing; one-off questions are not repeated
    top = september["questions"][1]
    assert len(top["message_ids"]) == 5 and top["message_ids"][0] == top["message_id"]
    texts = {q["text"] for q in september["themes"][0]["quotes"]}
    assert texts  # quotes are unchanged by the questions

    refund, money = theme_id(september, "refund"), theme_id(september, "money back")
    theme_registry.merge(session, into=refund, from_=money)
    merged = month_summary(session, "2026-09")
    assert [q["count"] for q in merged["questions"] if q["theme_id"] == refund] == [6, 4, 2]


def planted_theme(theme_id: str, **fields) -> dict:
    base = {
        "id": theme_id,
        "label": theme_id,
        "size": 10,
        "share": 0.1,
        "status": "steady",
        "change_previous": 0.0,
        "change_baseline": 0.0,
        "sentiment": {"neutral": 10},
        "intent": {"other": 10},
        "quotes": [],
    }
    return base | fields


def test_digest_sections_pick_pain_points_wins_and_emerging_themes():
    themes = [
        planted_theme("outage", size=30, sentiment={"negative": 20, "neutral": 10}, intent={"support_request": 30}),
        planted_theme("layout", sentiment={"negative": 4, "neutral": 6}, intent={"feedback": 6, "other": 4}),
        planted_theme("mild", sentiment={"negative": 3, "neutral": 7}, intent={"support_request": 10}),
        planted_theme("rants", sentiment={"negative": 10}, intent={"other": 6, "feedback": 4}),
        planted_theme("praise", size=12, sentiment={"positive": 12}, intent={"advocacy": 7, "other": 5}),
        planted_theme("launch", status="new", change_previous=None, change_baseline=None),
        planted_theme("surge", status="rising", change_baseline=0.6, size=20),
        planted_theme("creep", status="rising", change_baseline=0.3),
        planted_theme("jump", status="rising", change_previous=0.9, change_baseline=None),
    ]
    assert [t["id"] for t in theme_digest.pain_points(themes)] == ["outage", "layout"]
    assert [t["id"] for t in theme_digest.wins(themes)] == ["praise"]
    assert [t["id"] for t in theme_digest.emerging(themes)] == ["surge", "launch", "jump"]

    before = [planted_theme("outage", sentiment={"negative": 5, "positive": 5}), planted_theme("gone-now")]
    shifts = {s.theme_id: s for s in theme_digest.sentiment_shifts(themes, before)}
    assert shifts["outage"].net == pytest.approx(-2 / 3) and shifts["outage"].change == pytest.approx(-2 / 3)
    assert shifts["praise"].net == 1.0 and shifts["praise"].change is None

    sizes = {"2026-08": {"outage": 5, "x": 2}, "2026-10": {"outage": 30, "praise": 12, "launch": 10, "y": 1}}
    months = ["2026-08", "2026-09", "2026-10"]
    series = theme_digest.volume_series(months, sizes, themes[:1] + themes[4:6])
    assert [(s.label, s.sizes) for s in series] == [
        ("outage", [5, 0, 30]),
        ("praise", [0, 0, 12]),
        ("launch", [0, 0, 10]),
        ("other", [2, 0, 1]),
    ]


THREE_MONTHS = {
    "2026-08": {"refund": 10, "canada": 8, "dark mode": 8, "thank": 4},
    **TWO_MONTHS,
}


def seed_three_months(session: Session, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for month, sizes in THREE_MONTHS.items():
        theme_month(session, monkeypatch, month, sizes)
    october = month_summary(session, "2026-10")
    return {t["auto_label"]: t["id"] for t in october["themes"]}


def test_the_report_is_self_contained_html_and_markdown(session, monkeypatch, tmp_path: Path):
    ids = seed_three_months(session, monkeypatch)
    theme_registry.rename(session, ids["refund"], "<b>Refunds</b> | late")
    digest = theme_digest.build_digest(session, "2026-10")
    assert digest is not None and theme_digest.build_digest(session, "2026-11") is None
    assert digest.months == ["2026-08", "2026-09", "2026-10"]
    refund_series = next(s for s in digest.volume if s.theme_id == ids["refund"])
    assert refund_series.sizes == [10, 14, 16]
    assert [t["auto_label"] for t in digest.pain_points] == ["refund", "money back", "dark mode"]
    assert [t["auto_label"] for t in digest.wins] == ["thank"]

    html_path, md_path = theme_report.write_report(digest, tmp_path / "out")
    html = html_path.read_text(encoding="utf-8")
    assert html_path.name == "themes-2026-10.html" and html.startswith("<!DOCTYPE html>")
    for absent in ("<script", "<link", "src=", "url(", "@import", "http://cdn", "https://"):
        assert absent not in html, absent
    assert "<style>" in html and html.count("<svg") == 1 and html.count("<rect") > 10
    assert "&lt;b&gt;Refunds&lt;/b&gt;" in html and "<b>Refunds</b>" not in html
    for heading in ("Top pain points", "Top wins", "Emerging", "Volume by month", "All themes"):
        assert f"<h2>{heading}</h2>" in html
    assert "Questions people keep asking" in html and "do you ship to canada?" in html
    assert 'class="badge badge-rising"' in html and "where is my refund?" in html

    markdown = md_path.read_text(encoding="utf-8")
    assert markdown.startswith("# Themes for 2026-10")
    assert "| 2026-08 | 2026-09 | 2026-10 |" in markdown
    assert "\\<b\\>Refunds\\</b\\> \\| late | 10 | 14 | 16 |" in markdown
    assert "- do you ship to canada? (canada, asked 8 times)" in markdown


def test_the_report_command(settings: Settings, monkeypatch, tmp_path: Path):
    upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    with make_sessionmaker(engine)() as session:
        seed_three_months(session, monkeypatch)
    engine.dispose()
    runner = CliRunner()
    result = runner.invoke(cli, ["themes", "report", "--month", "2026-10", "--out", str(tmp_path / "mail")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mail" / "themes-2026-10.html").is_file() and (tmp_path / "mail" / "themes-2026-10.md").is_file()
    result = runner.invoke(cli, ["themes", "report", "--month", "2026-09"])
    assert result.exit_code == 0 and (settings.data_dir / "reports" / "themes-2026-09.md").is_file()
    assert runner.invoke(cli, ["themes", "report", "--month", "2027-01"]).exit_code == 1
    assert runner.invoke(cli, ["themes", "report", "--month", "2027-1"]).exit_code == 2
