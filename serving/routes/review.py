"""`/v1/review` and `/v1/reviews`: the review queue, claims, reviews and their statistics (role review)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import Discriminator, Field, Tag

from serving import reviewing
from serving.deps import ReviewCaller, SessionDep, StateDep
from serving.errors import documented
from serving.review_schemas import (
    ClaimIn,
    ClaimOut,
    QueueOut,
    QueuePage,
    ReviewBatchOut,
    ReviewIn,
    ReviewOut,
    ReviewStatsOut,
)
from serving.schemas import MAX_BATCH

router = APIRouter(prefix="/v1", tags=["review"], responses=documented(400, 401, 403, 413, 422, 503, 429))


def _one_or_many(value: Any) -> str:
    return "reviews" if isinstance(value, list) else "body"


# Tags become the first part of an error's field path: "body" is dropped (so a single review's
# errors name its fields), and a list's errors read "reviews.<index>". List items are validated one
# by one in the handler, so a bad item fails alone.
ReviewsBody = Annotated[
    Annotated[ReviewIn, Tag("body")]
    | Annotated[
        list[Any],
        Tag("reviews"),
        Field(
            min_length=1,
            max_length=MAX_BATCH,
            description=f"1 to {MAX_BATCH} reviews, each shaped like a single review.",
        ),
    ],
    Discriminator(_one_or_many),
]


@router.get("/review/queue", response_model=QueueOut)
def review_queue(page: Annotated[QueuePage, Query()], caller: ReviewCaller, session: SessionDep) -> QueueOut:
    """Open queue items in priority order (predicted-critical, then abstained or low-margin, then sampled)."""
    return reviewing.queue_page(session, page)


@router.post("/review/claim", response_model=ClaimOut)
def claim_items(body: ClaimIn, caller: ReviewCaller, session: SessionDep, state: StateDep) -> ClaimOut:
    """Claim up to `limit` items for yourself until the claim expires; nobody else gets them meanwhile."""
    return reviewing.claim_for(session, caller, body, timedelta(seconds=state.settings.review_claim_seconds))


@router.post("/reviews", response_model=ReviewOut | ReviewBatchOut, responses=documented(404))
def submit_reviews(
    body: Annotated[ReviewsBody, Body()], caller: ReviewCaller, session: SessionDep
) -> ReviewOut | ReviewBatchOut:
    """Record one review (an object) or several (a list, reported per item); a change is a new revision."""
    if isinstance(body, list):
        return reviewing.submit_many(session, body, caller)
    return reviewing.submit_one(session, body, caller)


@router.get("/review/stats", response_model=ReviewStatsOut)
def review_stats(caller: ReviewCaller, session: SessionDep) -> ReviewStatsOut:
    """Reviews per day, correction rates per head and predicted label, model and inter-reviewer agreement."""
    return reviewing.stats(session)
