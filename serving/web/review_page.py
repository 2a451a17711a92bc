"""`/review`: the reviewer's page, one queued message at a time, driven from the keyboard (role review).

Decisions are plain form posts to `/review/decide`, recorded by the same function as `POST /v1/reviews`
(`serving.reviewing.submit_one`, append-only revisions):

- accept or correct: status `submitted` with the labels shown (the model's, unless changed);
- unclear: status `discarded` with the note `unclear: <the reviewer's note>`. A message the reviewer
  cannot label is not usable as training data, which is what `discarded` means; it leaves the queue
  like any finished review, and the note tells the lead why;
- skip: nothing is recorded; the claim is released for someone else and the message is not offered to
  this browser again until the reviewer asks to see skipped messages.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from data.taxonomy import default_taxonomy
from serving import reviewing
from serving.deps import SessionDep, StateDep
from serving.errors import ApiError, validation_problem
from serving.review_schemas import ReviewIn
from serving.store.keys import Role
from serving.store.review_queue import release_claim
from serving.web.pages import PAGE_HEADERS, page
from serving.web.review_desk import label_keys, next_item, submitted_today
from serving.web.session import WebSession, cookie_secure, web_caller

router = APIRouter(include_in_schema=False)
ReviewPage = Annotated[WebSession, Depends(web_caller(Role.REVIEW))]
SKIPPED_COOKIE = "tidings_review_skipped"
# Enough to skip through a long run of hard messages; a cookie holds about 4 KB.
MAX_SKIPPED = 40
MAX_SKIPPED_BYTES = 3000
DONE = {"submitted": "Review saved.", "unclear": "Marked unclear (discarded with your note).", "skipped": "Skipped."}


def _skipped(request: Request) -> list[str]:
    raw = request.cookies.get(SKIPPED_COOKIE, "")
    try:
        ids = json.loads(base64.urlsafe_b64decode(raw.encode("ascii"))) if raw else []
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return []
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _skipped_cookie(ids: list[str]) -> str:
    ids = ids[-MAX_SKIPPED:]
    while True:
        value = base64.urlsafe_b64encode(json.dumps(ids).encode()).decode("ascii")
        if len(value) <= MAX_SKIPPED_BYTES or not ids:
            return value
        ids = ids[1:]


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, web: ReviewPage, session: SessionDep, state: StateDep) -> HTMLResponse:
    """The next message to review, the reviewer's progress today and the review statistics."""
    skipped = _skipped(request)
    taxonomy = default_taxonomy()
    hold = timedelta(seconds=state.settings.review_claim_seconds)
    item = next_item(session, web.caller.key_id, taxonomy, skipped=skipped, hold=hold)
    session.commit()
    context = {
        "web": web,
        "item": item,
        "done": DONE.get(request.query_params.get("done", "")),
        "skipped": len(skipped),
        "today": submitted_today(session, web.caller.key_id),
        "stats": reviewing.stats(session),
        "heads": list(taxonomy.heads),
        "keys": label_keys(taxonomy),
    }
    return page(request, "review.html", context)


def _problem(request: Request, web: WebSession, title: str, detail: str, status_code: int) -> HTMLResponse:
    context = {"web": web, "title": title, "detail": detail, "back": "/review"}
    return page(request, "problem.html", context, status_code=status_code)


@router.post("/review/decide")
def decide(
    request: Request,
    web: ReviewPage,
    session: SessionDep,
    state: StateDep,
    message_id: Annotated[str, Form(max_length=256)],
    action: Annotated[Literal["submit", "unclear", "skip"], Form()],
    intent: Annotated[str, Form(max_length=64)] = "",
    urgency: Annotated[str, Form(max_length=64)] = "",
    sentiment: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=1900)] = "",
) -> Response:
    """Record the reviewer's decision on one message (submit, unclear or skip) and show the next one."""
    if action == "skip":
        release_claim(session, message_id, web.caller.key_id)
        session.commit()
        response = RedirectResponse("/review?done=skipped", status_code=303, headers=PAGE_HEADERS)
        secure = cookie_secure(request, state.settings)
        value = _skipped_cookie([*_skipped(request), message_id])
        response.set_cookie(SKIPPED_COOKIE, value, path="/review", httponly=True, samesite="lax", secure=secure)
        return response
    try:
        if action == "unclear":
            said = note.strip()
            review = ReviewIn(message_id=message_id, status="discarded", note=f"unclear: {said}" if said else "unclear")
        else:
            labels = {"intent": intent or None, "urgency": urgency or None, "sentiment": sentiment or None}
            review = ReviewIn(message_id=message_id, status="submitted", note=note.strip() or None, **labels)
    except ValidationError as e:
        return _problem(request, web, "Not saved", validation_problem(e).detail or "invalid review", 422)
    try:
        reviewing.submit_one(session, review, web.caller)
    except ApiError as e:
        return _problem(request, web, "Not saved", e.detail, e.status)
    done = "unclear" if action == "unclear" else "submitted"
    return RedirectResponse(f"/review?done={done}", status_code=303, headers=PAGE_HEADERS)


@router.post("/review/skipped/clear")
def clear_skipped(request: Request, web: ReviewPage) -> Response:
    """Offer the messages this browser skipped again."""
    response = RedirectResponse("/review", status_code=303, headers=PAGE_HEADERS)
    response.delete_cookie(SKIPPED_COOKIE, path="/review", httponly=True, samesite="lax")
    return response
