"""The API's request and response bodies: the contract inbox tools code against.

Changing a field here changes `/v1`: add fields, never rename or remove them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from data.schema import MAX_TEXT_CHARS, Channel
from models.prediction import Prediction

MAX_BATCH = 512
NOT_BLANK = r"[^\s\x1c-\x1f]"


class MessageIn(BaseModel):
    """A message to classify; only `text` is required."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        # Python counts \x1c-\x1f as whitespace and JSON Schema regexes may not: naming them keeps both agreeing.
        pattern=NOT_BLANK,
        description=f"The message body: 1 to {MAX_TEXT_CHARS} characters, not only whitespace.",
    )
    external_id: str | None = Field(
        default=None,
        max_length=256,
        description="The platform's own id. With `channel` it makes re-sending idempotent.",
    )
    channel: Channel = Field(default=Channel.OTHER, description="Where the message was posted.")
    created_at: datetime | None = Field(default=None, description="When it was posted; default: time of receipt.")
    author: str | None = Field(default=None, max_length=256, description="Author handle, if known.")
    space: str | None = Field(default=None, max_length=256, description="Brand, product or community it was sent to.")
    thread_id: str | None = Field(default=None, max_length=256, description="Thread or reply-to id.")
    language: str | None = Field(default=None, max_length=35, description="BCP-47 language tag, if known.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free source metadata, stored as given.")
    store: StrictBool = Field(default=True, description="Store the message and its suggestions (false: classify only).")

    @field_validator("created_at", mode="before")
    @classmethod
    def _date_time_string(cls, value: object) -> object:
        # Pydantic would read a number as a Unix time; the documented type is an ISO 8601 string.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError("created_at must be an ISO 8601 date-time string")
        return value

    @field_validator("text", mode="before")
    @classmethod
    def _not_blank(cls, value: object) -> object:
        if isinstance(value, str) and value and not value.strip():
            raise ValueError("text must contain something other than whitespace")
        return value


class HeadResult(BaseModel):
    """One axis of the answer: the best label and how sure the model is."""

    label: str = Field(description="The most probable label on this axis.")
    probability: float = Field(ge=0, le=1, description="Calibrated probability of `label`.")
    probabilities: dict[str, float] = Field(description="Calibrated probability of every label on this axis.")
    abstained: bool = Field(description="True when the model declines to commit: treat `label` as a guess.")
    reason: str | None = Field(
        description="Why it abstained: empty_text, out_of_scope, low_confidence or low_margin; null otherwise."
    )


def head_results(prediction: Prediction) -> dict[str, HeadResult]:
    """Each head of a prediction in its public shape."""
    return {name: HeadResult(**h.to_dict()) for name, h in prediction.heads.items()}


class ModelVersion(BaseModel):
    """The registered model version that produced a result."""

    name: str
    version: str


class ClassifyResult(BaseModel):
    """The classification of one message."""

    intent: HeadResult
    urgency: HeadResult
    sentiment: HeadResult
    needs_review: bool = Field(description="True when any axis abstained: a human should look.")
    model: ModelVersion
    message_id: str | None = Field(description="Id the message is stored under; null when `store` was false.")
    stored: bool = Field(description="True when this call stored the message or found it already stored.")
    duplicate: bool = Field(
        default=False, description="True when the same channel + external_id was already stored: this is that result."
    )


class BatchIn(BaseModel):
    """Up to 512 messages. Items are validated one by one so one bad item fails alone."""

    model_config = ConfigDict(extra="forbid")

    messages: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"1 to {MAX_BATCH} objects, each shaped like the body of POST /v1/classify.",
    )


class FieldError(BaseModel):
    """One problem with one field of the input."""

    field: str = Field(description="Dotted path of the offending field, e.g. `text` or `messages.3.text`.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem detail, served as `application/problem+json`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class BatchItem(BaseModel):
    """One message's outcome in a batch: a result, or the problem that kept it from one."""

    index: int = Field(description="Position of the message in the request.")
    ok: bool
    result: ClassifyResult | None = None
    error: Problem | None = None


class BatchResult(BaseModel):
    """Results in request order."""

    results: list[BatchItem]
    succeeded: int
    failed: int


class ServedModel(BaseModel):
    """A registered model version and how this process serves it."""

    name: str
    version: str
    aliases: list[str]
    trained_at: datetime | None
    run_id: str | None
    metrics: dict[str, Any] = Field(description="Validation and gate-set figures recorded at training.")
    serving: bool = Field(description="True for the version answering requests in this process.")
    backend: str | None = Field(default=None, description="onnx-int8 or torch, for the version being served.")
    backend_reason: str | None = Field(default=None, description="Why that backend was chosen, in plain words.")


class ModelsOut(BaseModel):
    """What the registry holds and what this process serves."""

    champion: ServedModel | None
    challenger: ServedModel | None
    serving: ServedModel | None
    registry_reachable: bool
    last_error: str | None = Field(description="The last failure to load or check a model, if any.")
