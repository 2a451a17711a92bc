"""`/v1/classify`: what inbox tools call for every incoming message."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import ClassifyCaller, HostDep, StateDep
from serving.errors import documented
from serving.schemas import BatchIn, BatchResult, ClassifyResult, MessageIn

router = APIRouter(prefix="/v1", tags=["classify"], responses=documented(400, 401, 403, 413, 422, 503, 429))


@router.post("/classify", response_model=ClassifyResult)
async def classify(body: MessageIn, caller: ClassifyCaller, state: StateDep, host: HostDep) -> ClassifyResult:
    """Classify one message on intent, urgency and sentiment, and store it unless `store` is false."""
    async with host.lease() as model:
        return await state.classifier.one(body, model)


@router.post("/classify/batch", response_model=BatchResult)
async def classify_batch(body: BatchIn, caller: ClassifyCaller, state: StateDep, host: HostDep) -> BatchResult:
    """Classify up to 512 messages in one pass; a bad item fails alone, order is kept."""
    async with host.lease() as model:
        return await state.classifier.batch(body.messages, model)
