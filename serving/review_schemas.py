"""Request and response bodies of the review API: the queue, claims, reviews and their statistics.

Labels are checked against the shipped taxonomy and listed as enums in the OpenAPI schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import JsonDict

from data.schema import Channel
from data.taxonomy import default_taxonomy
from serving.schemas import HeadResult, ModelVersion, Problem

HeadName = Literal["intent", "urgency", "sentiment"]
ReviewStatus = Literal["submitted", "draft", "discarded"]
QueueReason = Literal["critical", "abstained", "low_margin", "sample"]
QueueState = Literal["not_queued", "open", "awaiting_second_review", "completed"]
# PostgreSQL text cannot hold NUL: refuse it at the edge rather than fail in the store.
NO_NUL = r"^[^\x00]*$"


def _label(head: str, what: str) -> Any:
    """An optional label field whose schema lists the head's labels."""
    labels: list[JsonValue] = list(default_taxonomy()[head].labels)

    def listed(schema: JsonDict) -> None:
        for branch in schema.get("anyOf", []):  # type: ignore[union-attr]
            if isinstance(branch, dict) and branch.get("type") == "string":
                branch["enum"] = labels

    return Field(default=None, description=f"{what}: one of {', '.join(map(str, labels))}.", json_schema_extra=listed)


def _known_label(value: str | None, info: ValidationInfo) -> str | None:
    labels = default_taxonomy()[str(info.field_name)].labels
    if value is not None and value not in labels:
        raise ValueError(f"unknown {info.field_name} label {value!r}; expected one of {', '.join(labels)}")
    return value


class QueueFilters(BaseModel):
    """Which open queue items to list or claim; every filter narrows, none means all."""

    model_config = ConfigDict(extra="forbid")

    head: HeadName | None = Field(default=None, description="Only items where this head abstained or had a low margin.")
    intent: str | None = _label("intent", "Only items the model labelled with this intent")
    urgency: str | None = _label("urgency", "Only items the model labelled with this urgency")
    sentiment: str | None = _label("sentiment", "Only items the model labelled with this sentiment")
    channel: Channel | None = Field(default=None, description="Only messages from this channel.")
    space: str | None = Field(default=None, max_length=256, pattern=NO_NUL, description="Only this space.")
    reason: QueueReason | None = Field(default=None, description="Only items queued for this reason.")
    since: datetime | None = Field(default=None, description="Only messages posted at or after this time.")
    until: datetime | None = Field(default=None, description="Only messages posted before this time.")

    _labels_known = field_validator("intent", "urgency", "sentiment")(_known_label)


class QueuePage(QueueFilters):
    """Filters and a page of the queue."""

    limit: int = Field(default=50, ge=1, le=500, description="Items per page.")
    offset: int = Field(default=0, ge=0, le=1_000_000, description="Items to skip.")


class ClaimIn(QueueFilters):
    """How many items to claim, and which."""

    limit: int = Field(default=10, ge=1, le=100, description="Claim at most this many items.")


class Suggestion(BaseModel):
    """The model's suggestion under review: one answer per head and the version that made it."""

    intent: HeadResult | None
    urgency: HeadResult | None
    sentiment: HeadResult | None
    model: ModelVersion


class QueueItem(BaseModel):
    """A queued message with the model's suggestion, why it is queued and who holds it."""

    message_id: str
    text: str
    channel: str
    space: str | None
    thread_id: str | None
    author: str | None
    created_at: datetime
    suggestion: Suggestion | None
    reason: QueueReason = Field(description="Why it is queued: critical, abstained, low_margin or sample.")
    priority: float = Field(
        description="Higher first: tier + expected urgency weight × uncertainty; a flagged review's second look "
        "gets at least 9 + 0.99 × the held-out model's disagreement (see README)."
    )
    needed_reviews: int = Field(description="2 when routed to a second reviewer, else 1.")
    reviews_done: int = Field(description="Finished reviews counted so far.")
    claimed_by: str | None = Field(description="Key id holding the item, if claimed and not expired.")
    claim_expires_at: datetime | None
    flagged: bool = Field(
        default=False,
        description="A submitted label of this message looks like a mistake (confident learning on "
        "cross-validated model probabilities); a second reviewer should check it.",
    )
    flag_reason: str | None = Field(
        default=None, description="Per flagged head: the reviewed label and what the held-out model says instead."
    )


class QueueOut(BaseModel):
    """A page of the open queue in priority order."""

    items: list[QueueItem]
    total: int = Field(description="Open items matching the filters.")


class ClaimOut(BaseModel):
    """The items now held by the caller, in priority order."""

    items: list[QueueItem]
    claimed_by: str
    claim_expires_at: datetime | None = Field(description="When the claim lapses; null when nothing was claimed.")


# The schema states what `_submitted_says_something` checks: a draft or a discard may be empty, a submission may not.
_NEEDS_ONE: list[JsonValue] = [
    {"properties": {"status": {"enum": ["draft", "discarded"]}}},
    {"required": ["intent"], "properties": {"intent": {"type": "string"}}},
    {"required": ["urgency"], "properties": {"urgency": {"type": "string"}}},
    {"required": ["sentiment"], "properties": {"sentiment": {"type": "string"}}},
]
SUBMITTED_NEEDS_A_LABEL: JsonDict = {"anyOf": _NEEDS_ONE}


class ReviewIn(BaseModel):
    """A reviewer's verdict on one message. Omitted or null axes get no verdict; a submission needs at least one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=SUBMITTED_NEEDS_A_LABEL)

    message_id: str = Field(min_length=1, max_length=256, pattern=NO_NUL, description="A stored message's id.")
    intent: str | None = _label("intent", "The right intent")
    urgency: str | None = _label("urgency", "The right urgency")
    sentiment: str | None = _label("sentiment", "The right sentiment")
    status: ReviewStatus = Field(
        description="submitted (final; used for training), draft (work in progress) or discarded "
        "(not usable; leaves the queue, never used for training)."
    )
    note: str | None = Field(
        default=None, max_length=2000, pattern=NO_NUL, description="Free text for other reviewers."
    )

    _labels_known = field_validator("intent", "urgency", "sentiment")(_known_label)

    @model_validator(mode="after")
    def _submitted_says_something(self) -> ReviewIn:
        if self.status == "submitted" and self.intent is None and self.urgency is None and self.sentiment is None:
            raise ValueError("a submitted review needs a label on at least one of intent, urgency, sentiment")
        return self


class ReviewOut(BaseModel):
    """One stored review revision and where its message now stands in the queue."""

    id: int
    message_id: str
    reviewer_id: str
    reviewer_name: str | None
    revision: int = Field(description="1 for the reviewer's first review of this message, +1 for each change.")
    status: ReviewStatus
    intent: str | None
    urgency: str | None
    sentiment: str | None
    note: str | None
    model_version: str | None = Field(description="Version of the model whose suggestion was reviewed.")
    created_at: datetime
    queue: QueueState = Field(description="The message's queue state after this review.")


class ReviewItemResult(BaseModel):
    """One item of a list of reviews: the stored review, or the problem that kept it out."""

    index: int = Field(description="Position in the request.")
    ok: bool
    review: ReviewOut | None = None
    error: Problem | None = None


class ReviewBatchOut(BaseModel):
    """Results in request order."""

    results: list[ReviewItemResult]
    succeeded: int
    failed: int


class Corrections(BaseModel):
    """How often reviewers changed the model's label."""

    reviewed: int
    corrected: int
    correction_rate: float | None = Field(description="corrected / reviewed; null before any review.")


class ReviewerAgreement(BaseModel):
    """Agreement between two reviewers on messages both reviewed."""

    items: int
    agreement: float | None = Field(description="Share of those messages with the same label.")
    kappa: float | None = Field(description="Cohen's kappa; null with under two items or a single label used.")


class HeadStats(BaseModel):
    """One axis of the review statistics."""

    reviewed: int
    corrected: int
    correction_rate: float | None
    model_agreement: float | None = Field(description="1 − correction_rate: how often reviewers kept the label.")
    by_predicted_label: dict[str, Corrections] = Field(description="Where the model is most often wrong.")
    inter_reviewer: ReviewerAgreement


class QueueCounts(BaseModel):
    """Queue items by state."""

    open: int
    claimed: int = Field(description="Open items under a live claim.")
    awaiting_second_review: int
    completed: int


class ReviewStatsOut(BaseModel):
    """Review activity, corrections per axis and label, agreement, and the queue."""

    reviews_per_day: dict[str, dict[str, int]] = Field(
        description="Review records written per UTC day (YYYY-MM-DD), by status; revisions count."
    )
    heads: dict[str, HeadStats]
    queue: QueueCounts
