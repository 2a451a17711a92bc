"""Retention: deleting the text of old messages while keeping what was learned from them.

A message older than the retention period keeps its row, its suggestions, the reviews' labels,
its queue entries, its embeddings and the themes it fed; only its text is blanked (an empty
string). Embeddings are kept because monthly themes cluster them; they are vectors from which the
text cannot be read back. Theme key phrases are drawn from text, so theme a month before its text
expires (a retention period of at least 62 days covers the month just ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from serving.store.tables import MessageRecord, utcnow

EXPIRED_TEXT = ""


@dataclass(frozen=True)
class RetentionResult:
    """What a retention pass did: the cutoff it used and how many messages lost their text."""

    cutoff: datetime
    expired: int
    dry_run: bool = False


def cutoff_for(days: int, now: datetime | None = None) -> datetime:
    """The creation time before which a message's text is deleted, `days` before `now`."""
    if days < 1:
        raise ValueError(f"a retention period is at least 1 day, got {days}")
    return (now or utcnow()) - timedelta(days=days)


def expire_text(session: Session, days: int, *, now: datetime | None = None, dry_run: bool = False) -> RetentionResult:
    """Blank the text of messages created more than `days` ago; flushes, never commits.

    Messages already blanked are not counted again. With `dry_run` nothing is changed and the
    result says how many messages would lose their text.
    """
    cutoff = cutoff_for(days, now)
    due = (MessageRecord.created_at < cutoff) & (MessageRecord.text != EXPIRED_TEXT)
    if dry_run:
        count = session.scalar(select(func.count()).select_from(MessageRecord).where(due)) or 0
        return RetentionResult(cutoff, count, dry_run=True)
    result = session.execute(update(MessageRecord).where(due).values(text=EXPIRED_TEXT))
    session.flush()
    return RetentionResult(cutoff, int(getattr(result, "rowcount", 0) or 0))
