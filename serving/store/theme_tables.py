"""The theme registry's tables: themes that persist across months, each month's runs and summaries.

A `ThemeRecord` is a theme's identity (and the name a lead gave it); a `ThemeMonthRecord` is what
one run found for it in one month; `ThemeAssignmentRecord` says which theme each message of a
run joined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from serving.store.tables import Base, JSONDocument, utcnow


class ThemeRecord(Base):
    """A theme's identity across months; a merged theme points at the one it was merged into."""

    __tablename__ = "themes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(Text)
    first_month: Mapped[str] = mapped_column(String(7))
    last_month: Mapped[str] = mapped_column(String(7))
    merged_into: Mapped[str | None] = mapped_column(ForeignKey("themes.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThemeRunRecord(Base):
    """One themes run over one month's messages; the newest run of a month is the one shown."""

    __tablename__ = "theme_runs"
    __table_args__ = (Index(None, "month", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    n_messages: Mapped[int] = mapped_column(Integer)
    n_excluded: Mapped[int] = mapped_column(Integer)
    outlier_share: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThemeMonthRecord(Base):
    """A theme as one run found it: label, size, status against earlier months, mixes and quotes."""

    __tablename__ = "theme_months"
    __table_args__ = (Index(None, "theme_id", "month"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("theme_runs.id", ondelete="CASCADE"), primary_key=True)
    theme_id: Mapped[str] = mapped_column(ForeignKey("themes.id"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7))
    label: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[str]] = mapped_column(JSONDocument)
    size: Mapped[int] = mapped_column(Integer)
    share: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    change_previous: Mapped[float | None] = mapped_column(Float)
    change_baseline: Mapped[float | None] = mapped_column(Float)
    similarity: Mapped[float | None] = mapped_column(Float)
    centroid: Mapped[bytes] = mapped_column(LargeBinary)
    mix: Mapped[dict[str, Any]]
    quotes: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument)


class ThemeAssignmentRecord(Base):
    """Which theme a message joined in a run (none for an outlier)."""

    __tablename__ = "theme_assignments"

    run_id: Mapped[str] = mapped_column(ForeignKey("theme_runs.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    theme_id: Mapped[str | None] = mapped_column(ForeignKey("themes.id"))
