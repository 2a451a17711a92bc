"""The message every channel is normalised to, and the labels a message can carry."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TEXT_CHARS = 5000


class Channel(StrEnum):
    """Where a message was posted."""

    TWITTER = "twitter"
    INSTAGRAM = "instagram"
    FACEBOOK = "facebook"
    YOUTUBE = "youtube"
    TIKTOK = "tiktok"
    REDDIT = "reddit"
    FORUM = "forum"
    REVIEW = "review"
    EMAIL = "email"
    CHAT = "chat"
    TICKET = "ticket"
    OTHER = "other"


class Message(BaseModel):
    """One message reaching a community inbox, whatever platform it came from."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: uuid4().hex, description="Tidings' own id.")
    external_id: str | None = Field(default=None, description="The platform's own id.")
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="The message body.")
    channel: Channel = Field(default=Channel.OTHER)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    author: str | None = Field(default=None, description="Author handle, if known.")
    space: str | None = Field(default=None, description="Brand, product or community it was sent to.")
    thread_id: str | None = Field(default=None, description="Thread or reply-to id.")
    language: str | None = Field(default=None, description="BCP-47 language tag, if known.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free source metadata.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty or whitespace only")
        return value


class Labels(BaseModel):
    """A message's labels on the three axes; an axis a source does not label stays None."""

    model_config = ConfigDict(extra="forbid")

    intent: str | None = None
    urgency: str | None = None
    sentiment: str | None = None

    def get(self, head: str) -> str | None:
        """The label on one axis by head name."""
        value = getattr(self, head, None)
        return value if isinstance(value, str) else None

    def is_empty(self) -> bool:
        """True when no axis is labelled."""
        return self.intent is None and self.urgency is None and self.sentiment is None


class LabelledMessage(BaseModel):
    """A message with whatever labels its source gives, plus where it came from."""

    message: Message
    labels: Labels
    source: str = Field(description="Corpus or file the row came from, e.g. 'seed' or 'semeval2017'.")
    weight: float = Field(default=1.0, gt=0, description="Relative training weight.")
