"""Classify-and-store: the steps behind `POST /v1/classify` and `/v1/classify/batch`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from data.schema import Message
from models.prediction import Prediction
from serving.errors import validation_problem
from serving.metrics import ServiceMetrics
from serving.model_host import Classified, ServingModel
from serving.schemas import BatchItem, BatchResult, ClassifyResult, MessageIn, ModelVersion, head_results
from serving.store.messages import ClassifiedMessage, find_by_external_id, save_classified_many
from serving.store.review_queue import QueueRules, enqueue_for_review
from serving.store.suggestions import stored_prediction


@dataclass(frozen=True)
class Outcome:
    """A prediction, who made it, and where it is stored."""

    prediction: Prediction
    model: ModelVersion
    message_id: str | None
    duplicate: bool = False

    def to_result(self) -> ClassifyResult:
        """The public shape."""
        heads = head_results(self.prediction)
        return ClassifyResult(
            intent=heads["intent"],
            urgency=heads["urgency"],
            sentiment=heads["sentiment"],
            needs_review=self.prediction.needs_review,
            model=self.model,
            message_id=self.message_id,
            stored=self.message_id is not None,
            duplicate=self.duplicate,
        )


def to_message(item: MessageIn, received_at: datetime) -> Message:
    """The stored form of a request item; `created_at` defaults to the time of receipt."""
    fields = item.model_dump(exclude={"store", "created_at"})
    created = item.created_at or received_at
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return Message(**fields, created_at=created)


class Classifier:
    """Runs messages through the served model and the store, in as few passes as possible."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        metrics: ServiceMetrics,
        review_rules: QueueRules | None = None,
        redact_stored_text: bool = True,
    ) -> None:
        self.sessions = sessions
        self.metrics = metrics
        self.review_rules = review_rules or QueueRules()
        self.redact_stored_text = redact_stored_text

    async def one(self, item: MessageIn, model: ServingModel) -> ClassifyResult:
        """Classify (and store, unless `store` is false) one message."""
        [outcome] = await self._run([item], model)
        return outcome.to_result()

    async def batch(self, raw_items: Sequence[dict[str, Any]], model: ServingModel) -> BatchResult:
        """Validate each item alone, classify the valid ones in one pass, report per item."""
        results: list[BatchItem | None] = [None] * len(raw_items)
        valid: list[tuple[int, MessageIn]] = []
        for i, raw in enumerate(raw_items):
            try:
                valid.append((i, MessageIn.model_validate(raw)))
            except ValidationError as e:
                results[i] = BatchItem(index=i, ok=False, error=validation_problem(e, prefix=("messages", i)))
        outcomes = await self._run([item for _, item in valid], model)
        for (i, _), outcome in zip(valid, outcomes, strict=True):
            results[i] = BatchItem(index=i, ok=True, result=outcome.to_result())
        done = [r for r in results if r is not None]
        ok = sum(r.ok for r in done)
        return BatchResult(results=done, succeeded=ok, failed=len(done) - ok)

    async def _run(self, items: Sequence[MessageIn], model: ServingModel) -> list[Outcome]:
        received = datetime.now(UTC)
        version = ModelVersion(name=model.ref.name, version=model.ref.version)
        known = await run_in_threadpool(self._already_stored, items)
        todo = [i for i, item in enumerate(items) if i not in known]
        if len(todo) == 1:
            classified = [await model.classify(items[todo[0]].text)]
        elif todo:
            classified = await model.classify_many([items[i].text for i in todo])
        else:
            classified = []
        for c in classified:
            self.metrics.observe_prediction(c.prediction)
        fresh = dict(zip(todo, classified, strict=True))
        to_store = [(i, to_message(items[i], received), fresh[i]) for i in todo if items[i].store]
        stored_ids = await run_in_threadpool(self._store, to_store, model) if to_store else {}
        outcomes = []
        for i in range(len(items)):
            if i in known:
                outcomes.append(known[i])
            elif i in stored_ids and stored_ids[i][1]:
                # Another request stored the same message first: answer with what it stored.
                outcomes.append(await run_in_threadpool(self._stored_outcome, stored_ids[i][0]))
            else:
                outcomes.append(Outcome(fresh[i].prediction, version, stored_ids.get(i, (None, False))[0]))
        return outcomes

    def _already_stored(self, items: Sequence[MessageIn]) -> dict[int, Outcome]:
        keyed = [(i, it) for i, it in enumerate(items) if it.store and it.external_id is not None]
        if not keyed:
            return {}
        found = {}
        with self.sessions() as session:
            for i, item in keyed:
                record = find_by_external_id(session, item.channel, item.external_id or "")
                if record is not None:
                    outcome = self._outcome_in(session, record.id)
                    if outcome is not None:
                        found[i] = outcome
        return found

    def _store(
        self, rows: Sequence[tuple[int, Message, Classified]], model: ServingModel
    ) -> dict[int, tuple[str, bool]]:
        """Store new messages; returns each row's message id and whether it was already there."""
        items = [
            ClassifiedMessage(m, c.prediction, model.ref.name, model.ref.version, c.embedding, model.encoder_key)
            for _, m, c in rows
        ]
        with self.sessions() as session:
            records = save_classified_many(session, items, redact_text=self.redact_stored_text)
            fresh = [item for item, r in zip(items, records, strict=True) if r.id == item.message.id]
            enqueue_for_review(session, fresh, self.review_rules)
            session.commit()
            return {i: (r.id, r.id != m.id) for (i, m, _), r in zip(rows, records, strict=True)}

    def _stored_outcome(self, message_id: str) -> Outcome:
        with self.sessions() as session:
            outcome = self._outcome_in(session, message_id)
        if outcome is None:
            raise RuntimeError(f"message {message_id} is stored without suggestions")
        return outcome

    @staticmethod
    def _outcome_in(session: Session, message_id: str) -> Outcome | None:
        stored = stored_prediction(session, message_id)
        if stored is None:
            return None
        return Outcome(
            stored.prediction,
            ModelVersion(name=stored.model_name, version=stored.model_version),
            message_id,
            duplicate=True,
        )
