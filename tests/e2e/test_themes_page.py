"""The themes page in a real browser: a lead signs in and reads a month's digest; other roles are refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from serving import theme_registry
from serving.store.db import make_engine, make_sessionmaker
from serving.theme_runs import month_summary
from tests.e2e.conftest import SCREENSHOTS, LiveSite
from tests.serving.theme_leads_data import theme_month

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MONTHS = {
    "2026-08": {"refund": 10, "canada": 8, "dark mode": 8, "thank": 4},
    "2026-09": {"refund": 14, "money back": 8, "canada": 10, "dark mode": 6, "thank": 6},
    "2026-10": {"refund": 16, "money back": 8, "canada": 12, "dark mode": 3, "thank": 9},
}


@pytest.fixture(scope="module")
def themed_site(live_site: LiveSite) -> Iterator[LiveSite]:
    """The live site with three themed months; the lead named the refund theme."""
    engine = make_engine(live_site.settings.store_url)
    with make_sessionmaker(engine)() as session, pytest.MonkeyPatch.context() as mp:
        for month, sizes in MONTHS.items():
            theme_month(session, mp, month, sizes)
        october = month_summary(session, "2026-10")
        assert october is not None
        refund = next(t["id"] for t in october["themes"] if t["auto_label"] == "refund")
        theme_registry.rename(session, refund, "Refund delays")
        session.commit()
    engine.dispose()
    yield live_site


def sign_in(page: Page, key: str) -> None:
    page.fill("#key", key)
    page.press("#key", "Enter")


def test_a_lead_reads_the_month_and_moves_between_months(browser_page: Page, themed_site: LiveSite):
    page, base = browser_page, themed_site.base
    page.goto(f"{base}/themes/2026-10")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fthemes%2F2026-10$"))
    sign_in(page, themed_site.keys["lead"])
    expect(page).to_have_url(f"{base}/themes/2026-10")

    expect(page.locator("h1")).to_have_text("Themes for 2026-10")
    pains = page.locator(".card.pain h3")
    expect(pains).to_have_count(3)
    expect(pains.first).to_contain_text("Refund delays")
    expect(pains.first.locator(".badge")).to_have_text("steady")
    expect(page.locator(".card.win h3")).to_contain_text("thank")
    expect(page.locator(".card.emerging h3")).to_contain_text("money back")
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    expect(chart.locator("text", has_text="2026-08")).to_have_count(1)
    assert chart.bounding_box()["height"] > 150
    faq = page.locator("table").nth(1)
    expect(faq.locator("tbody tr").first).to_contain_text("do you ship to canada?")
    expect(page.locator("[aria-current=page]")).to_have_text("2026-10")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "themes-page.png"), full_page=True)

    report = page.request.get(f"{base}/themes/2026-10/report.md")
    assert report.status == 200 and report.text().startswith("# Themes for 2026-10")
    assert "attachment" in report.headers["content-disposition"]

    page.click("a[rel=prev]")
    expect(page).to_have_url(f"{base}/themes/2026-09")
    expect(page.locator("h1")).to_have_text("Themes for 2026-09")
    page.goto(f"{base}/themes")
    expect(page).to_have_url(f"{base}/themes/2026-10")
    page.goto(f"{base}/themes/2025-01")
    expect(page.locator(".error")).to_contain_text("Themed months: 2026-08, 2026-09, 2026-10")


def test_a_reviewer_may_not_read_themes(browser_page: Page, themed_site: LiveSite):
    page, base = browser_page, themed_site.base
    page.goto(f"{base}/signin")
    sign_in(page, themed_site.keys["review"])
    expect(page).to_have_url(f"{base}/review")
    response = page.goto(f"{base}/themes/2026-10")
    assert response is not None and response.status == 403
    expect(page.locator(".error")).to_be_visible()
    expect(page.locator(".card.pain")).to_have_count(0)
