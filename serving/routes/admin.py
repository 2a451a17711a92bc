"""`/v1/admin`: retraining from reviews (role admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from data.settings import Settings
from serving.deps import AdminCaller, StateDep
from serving.errors import ApiError, documented
from serving.retraining import RETRAIN_LOCK, retrain_from_store
from training.retrain import NoReviews, RetrainResult

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        **documented(422)[422],
        "description": "Nothing to retrain on (no submitted reviews), or a retrain is already running",
    }
}
router = APIRouter(
    prefix="/v1/admin", tags=["admin"], responses={**documented(400, 401, 403, 413, 422, 429), **CONFLICT}
)
# One retrain per process at a time (shared with the review trigger): a second would train on the same reviews.
_running = RETRAIN_LOCK


class RetrainIn(BaseModel):
    """Options for a retrain; both have defaults."""

    model_config = ConfigDict(extra="forbid")

    holdout_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Share of reviewed messages frozen as the holdout."
    )
    review_weight: float = Field(default=2.0, gt=0, le=100, description="Training weight of a reviewed message.")


class RetrainOut(BaseModel):
    """What a retrain did: the run, the version it registered, whether the gate promoted it and why."""

    run_id: str | None
    version: str | None
    parent_version: str | None = Field(description="The champion the challenger was compared with.")
    promoted: bool
    reason: str
    rows: dict[str, int] = Field(description="Reviewed messages, those trained on and those in the holdout.")
    snapshot_digest: str


def _retrain(settings: Settings, body: RetrainIn) -> RetrainResult:
    if not _running.acquire(blocking=False):
        raise ApiError(409, "a retrain is already running in this process")
    try:
        return retrain_from_store(settings, body.holdout_fraction, body.review_weight)
    finally:
        _running.release()


@router.post("/retrain", response_model=RetrainOut)
async def retrain(caller: AdminCaller, state: StateDep, body: Annotated[RetrainIn | None, Body()] = None) -> RetrainOut:
    """Retrain on the base data plus submitted reviews; the gate promotes only a measurably better model (admin)."""
    try:
        result = await run_in_threadpool(_retrain, state.settings, body or RetrainIn())
    except NoReviews as e:
        raise ApiError(409, str(e)) from e
    if result.promoted:
        await state.host.refresh_async()
    return RetrainOut(
        run_id=result.run_id,
        version=result.version,
        parent_version=result.parent_version,
        promoted=result.promoted,
        reason=result.reason,
        rows=result.rows,
        snapshot_digest=result.digest,
    )
