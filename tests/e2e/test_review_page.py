"""The review page in a real browser: sign in through the form, then review from the keyboard only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from data.taxonomy import default_taxonomy
from serving.store.db import make_engine, make_sessionmaker
from serving.store.review_tables import QueueItemRecord, ReviewRecord
from serving.web.review_desk import label_keys
from tests.e2e.conftest import SCREENSHOTS, LiveSite

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
NOTE = "two questions in one: shipping and a broken order page"


def test_reviewer_signs_in_accepts_marks_unclear_and_corrects(browser_page: Page, live_site: LiveSite):
    page, base = browser_page, live_site.base
    stuck, shipping, sarcastic = live_site.queued
    keys = label_keys(default_taxonomy())

    page.goto(f"{base}/review")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Freview$"))
    page.fill("#key", "tid_not-a-real-key")
    page.press("#key", "Enter")
    expect(page.locator(".error")).to_contain_text("unknown or has been revoked")
    page.fill("#key", live_site.keys["review"])
    page.press("#key", "Enter")
    expect(page).to_have_url(f"{base}/review")

    # The critical message comes first, with its thread and the model's confidence per head.
    expect(page.locator("#message-text")).to_have_text(stuck.text)
    expect(page.locator(".meta")).to_contain_text("twitter")
    expect(page.locator(".meta")).to_contain_text("Acme Air")
    expect(page.locator(".thread li")).to_have_count(2)
    expect(page.locator(".thread li.current")).to_contain_text("stuck at the gate")
    expect(page.locator("fieldset[data-head=urgency] .suggestion")).to_contain_text("critical")
    expect(page.locator("fieldset[data-head=urgency] .suggestion")).to_contain_text("55%")
    expect(page.locator("#today-count")).to_have_text("0")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "review-page.png"
    page.screenshot(path=str(shot), full_page=True)
    page.keyboard.press("a")
    expect(page.locator(".flash")).to_have_text("Review saved.")
    expect(page.locator("#today-count")).to_have_text("1")

    # A message with two asks is unclear: `u`, a note, Enter.
    expect(page.locator("#message-text")).to_have_text(shipping.text)
    page.keyboard.press("u")
    expect(page.locator("#note")).to_be_focused()
    page.keyboard.type(NOTE)
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("unclear")
    expect(page.locator("#today-count")).to_have_text("1")

    # Last, the sarcastic one: the model abstained on intent; correct two axes with their label keys.
    expect(page.locator("#message-text")).to_have_text(sarcastic.text)
    expect(page.locator("fieldset[data-head=intent] .abstained")).to_be_visible()
    page.keyboard.press(keys["intent"]["feedback"])
    page.keyboard.press(keys["sentiment"]["negative"])
    expect(page.locator("fieldset[data-head=intent]")).to_have_class(re.compile(r"\bcorrected\b"))
    expect(page.locator("fieldset[data-head=urgency]")).not_to_have_class(re.compile(r"\bcorrected\b"))
    page.screenshot(path=str(SCREENSHOTS / "review-page-corrected.png"), full_page=True)
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_have_text("Review saved.")

    expect(page.locator(".empty h1")).to_have_text("The queue is empty")
    expect(page.locator("#today-count")).to_have_text("2")
    expect(page.locator(".counts div", has_text="done").locator("dd")).to_have_text("3")
    page.screenshot(path=str(SCREENSHOTS / "review-page-empty.png"), full_page=True)

    assert shot.stat().st_size > 20_000, "the screenshot is too small to show the page"
    engine = make_engine(live_site.settings.store_url)
    try:
        with make_sessionmaker(engine)() as session:
            reviews = {r.message_id: r for r in session.scalars(select(ReviewRecord))}
            queue = {q.message_id: q for q in session.scalars(select(QueueItemRecord))}
    finally:
        engine.dispose()
    assert set(reviews) == {stuck.id, sarcastic.id, shipping.id}
    reviewer = live_site.key_ids["review"]
    assert {r.reviewer_id for r in reviews.values()} == {reviewer}
    accepted, corrected, unclear = reviews[stuck.id], reviews[sarcastic.id], reviews[shipping.id]
    assert (accepted.status, accepted.intent, accepted.urgency, accepted.sentiment) == (
        "submitted",
        stuck.intent,
        stuck.urgency,
        stuck.sentiment,
    )
    assert (corrected.status, corrected.intent, corrected.urgency, corrected.sentiment) == (
        "submitted",
        "feedback",
        sarcastic.urgency,
        "negative",
    )
    assert (unclear.status, unclear.note, unclear.intent) == ("discarded", f"unclear: {NOTE}", None)
    assert all(r.revision == 1 and r.model_version == "1" for r in reviews.values())
    assert all(q.completed_at is not None and q.claimed_by is None for q in queue.values())
