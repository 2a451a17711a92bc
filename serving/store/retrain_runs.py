"""When retrains ran, what started them and how they ended; the review trigger counts from the last one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from serving.store.review_tables import ReviewRecord
from serving.store.tables import AutoId, Base, utcnow

RETRAIN_TRIGGERS = ("reviews", "admin", "cli")
RETRAIN_STATUSES = ("running", "finished", "failed")


class RetrainRunRecord(Base):
    """One retrain from the store: what started it, when, the reviews behind it, the version and the verdict.

    `submitted_reviews` counts submitted reviews added since the previous retrain, `submitted_total`
    all of them at the start.
    """

    __tablename__ = "retrain_runs"
    __table_args__ = (
        CheckConstraint(f"started_by IN ({', '.join(repr(t) for t in RETRAIN_TRIGGERS)})", name="started_by"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in RETRAIN_STATUSES)})", name="status"),
        Index(None, "started_at"),
    )

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    started_by: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    submitted_reviews: Mapped[int] = mapped_column(Integer)
    submitted_total: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    version: Mapped[str | None] = mapped_column(String)
    promoted: Mapped[bool | None]
    detail: Mapped[str | None] = mapped_column(Text)


def last_retrain(session: Session) -> RetrainRunRecord | None:
    """The most recently started retrain, whatever its outcome."""
    r = RetrainRunRecord
    return session.scalars(select(r).order_by(r.started_at.desc(), r.id.desc()).limit(1)).first()


def submitted_total(session: Session) -> int:
    """Submitted review revisions in the store."""
    query = select(func.count()).select_from(ReviewRecord).where(ReviewRecord.status == "submitted")
    return session.scalar(query) or 0


def submitted_since_last_retrain(session: Session) -> int:
    """Submitted review revisions added since the last retrain started (all of them before the first).

    A difference of totals rather than a time window, so a review committed while a retrain was
    starting is counted towards the next one exactly once. Reviews are append-only; should message
    deletion shrink the total, the count restarts from zero.
    """
    return _added_since(last_retrain(session), submitted_total(session))


def _added_since(last: RetrainRunRecord | None, total: int) -> int:
    return total if last is None else max(total - last.submitted_total, 0)


def start_run(session: Session, trigger: str, now: datetime | None = None) -> RetrainRunRecord:
    """Record a retrain as running, with the review counts it starts from; flushes, never commits."""
    if trigger not in RETRAIN_TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(RETRAIN_TRIGGERS)}, not {trigger!r}")
    # One count serves both fields: a review committed between two counts would belong to no run.
    total = submitted_total(session)
    run = RetrainRunRecord(
        started_by=trigger,
        status="running",
        submitted_reviews=_added_since(last_retrain(session), total),
        submitted_total=total,
        started_at=now or utcnow(),
    )
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session,
    run_id: int,
    *,
    failed: bool = False,
    version: str | None = None,
    promoted: bool | None = None,
    detail: str | None = None,
) -> None:
    """Record how a retrain ended; flushes, never commits."""
    run = session.get(RetrainRunRecord, run_id)
    if run is None:
        raise LookupError(f"no retrain run {run_id}")
    run.status = "failed" if failed else "finished"
    run.finished_at = utcnow()
    run.version, run.promoted, run.detail = version, promoted, detail
    session.flush()
