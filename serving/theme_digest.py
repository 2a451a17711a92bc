"""What a month's themes tell leads, picked once for both the emailed report and the web page.

Sections, from `theme_runs.month_summary` (a theme's mixes count its classified messages):
- pain points: at least `PAIN_NEGATIVE_SHARE` of the theme is negative and at least `HEAVY_SHARE`
  is support requests or feedback; most negative messages first;
- wins: at least `HEAVY_SHARE` advocacy; most advocacy messages first;
- emerging: new this month, or rising with a relative change in share of at least `RISING_FAST`
  (against the trailing baseline when there is one, else the previous month); largest first;
- sentiment: each theme's net sentiment (positive share minus negative share) and its change in
  points against the previous month's run, when the theme was there;
- volume: each theme's size in every month the registry has a run for, up to `HISTORY_MONTHS`
  ending with this month; the `CHART_THEMES` largest themes of this month, the rest as "other".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving import theme_registry
from serving.store.theme_tables import ThemeMonthRecord, ThemeRunRecord
from serving.theme_runs import month_summary

PAIN_NEGATIVE_SHARE = 0.4
HEAVY_SHARE = 0.5
RISING_FAST = 0.5
HISTORY_MONTHS = 12
CHART_THEMES = 6
PAIN_INTENTS = ("support_request", "feedback")
WIN_INTENTS = ("advocacy",)


@dataclass(frozen=True)
class SentimentShift:
    """A theme's net sentiment this month and last (positive share minus negative share)."""

    theme_id: str
    label: str
    negative: float
    positive: float
    net: float
    previous_net: float | None

    @property
    def change(self) -> float | None:
        """Change in net sentiment since last month, or None when the theme is new to it."""
        return None if self.previous_net is None else self.net - self.previous_net


@dataclass(frozen=True)
class VolumeSeries:
    """One theme's messages per month, aligned with `MonthDigest.months` (None id for "other")."""

    theme_id: str | None
    label: str
    sizes: list[int]


@dataclass(frozen=True)
class MonthDigest:
    """A month's themes and the sections leads read first."""

    summary: dict[str, Any]
    pain_points: list[dict[str, Any]]
    wins: list[dict[str, Any]]
    emerging: list[dict[str, Any]]
    sentiment: list[SentimentShift]
    months: list[str]
    volume: list[VolumeSeries]
    questions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def month(self) -> str:
        """The month, as YYYY-MM."""
        return str(self.summary["month"])


def share_of(mix: Mapping[str, int], labels: Sequence[str]) -> float:
    """The share of a mix's messages that carry one of `labels` (0 for an empty mix)."""
    total = sum(mix.values())
    return sum(mix.get(label, 0) for label in labels) / total if total else 0.0


def pain_points(themes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Negative themes that are mostly support requests or feedback, most negative messages first."""
    found = [
        t
        for t in themes
        if share_of(t["sentiment"], ["negative"]) >= PAIN_NEGATIVE_SHARE
        and share_of(t["intent"], PAIN_INTENTS) >= HEAVY_SHARE
    ]
    return sorted(found, key=lambda t: (-t["sentiment"].get("negative", 0), -t["size"]))


def wins(themes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Themes that are mostly advocacy, most advocacy messages first."""
    found = [t for t in themes if share_of(t["intent"], WIN_INTENTS) >= HEAVY_SHARE]
    return sorted(found, key=lambda t: (-sum(t["intent"].get(i, 0) for i in WIN_INTENTS), -t["size"]))


def emerging(themes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """New themes, and themes rising by at least `RISING_FAST`, largest first."""

    def fast(t: dict[str, Any]) -> bool:
        change = t["change_baseline"] if t["change_baseline"] is not None else t["change_previous"]
        return t["status"] == "rising" and change is not None and change >= RISING_FAST

    return sorted((t for t in themes if t["status"] == "new" or fast(t)), key=lambda t: -t["size"])


def net_sentiment(mix: Mapping[str, int]) -> float:
    """Positive share minus negative share."""
    return share_of(mix, ["positive"]) - share_of(mix, ["negative"])


def sentiment_shifts(themes: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]] = ()) -> list[SentimentShift]:
    """Each theme's net sentiment against last month's, in this month's order."""
    before = {t["id"]: net_sentiment(t["sentiment"]) for t in previous if sum(t["sentiment"].values())}
    return [
        SentimentShift(
            theme_id=t["id"],
            label=t["label"],
            negative=share_of(t["sentiment"], ["negative"]),
            positive=share_of(t["sentiment"], ["positive"]),
            net=net_sentiment(t["sentiment"]),
            previous_net=before.get(t["id"]),
        )
        for t in themes
        if sum(t["sentiment"].values())
    ]


def volume_series(
    months: Sequence[str], sizes: Mapping[str, Mapping[str, int]], themes: Sequence[dict[str, Any]]
) -> list[VolumeSeries]:
    """The `CHART_THEMES` largest of `themes` over `months`, then every other theme as "other".

    `sizes[month][theme_id]` is the theme's size that month (surviving ids).
    """
    shown = list(themes[:CHART_THEMES])
    ids = {t["id"] for t in shown}
    series = [VolumeSeries(t["id"], t["label"], [sizes.get(m, {}).get(t["id"], 0) for m in months]) for t in shown]
    other = [sum(n for theme_id, n in sizes.get(m, {}).items() if theme_id not in ids) for m in months]
    if any(other):
        series.append(VolumeSeries(None, "other", other))
    return series


def sizes_by_month(session: Session, months: Sequence[str]) -> dict[str, dict[str, int]]:
    """Each month's theme sizes from its current run, keyed by surviving theme id."""
    out: dict[str, dict[str, int]] = {}
    for month, run in theme_registry.current_runs(session, months).items():
        sizes = out.setdefault(month, {})
        for row in session.scalars(select(ThemeMonthRecord).where(ThemeMonthRecord.run_id == run.id)):
            theme_id = theme_registry.surviving_id(session, row.theme_id)
            sizes[theme_id] = sizes.get(theme_id, 0) + row.size
    return out


def build_digest(session: Session, month: str) -> MonthDigest | None:
    """The month's digest, or None when the month has no themes run."""
    summary = month_summary(session, month)
    if summary is None:
        return None
    previous_month = theme_registry.previous_months(month, 1)[0]
    previous = month_summary(session, previous_month, questions=False)
    known = session.scalars(select(ThemeRunRecord.month).where(ThemeRunRecord.month <= month).distinct())
    months = sorted(set(known))[-HISTORY_MONTHS:]
    themes = summary["themes"]
    labels = {t["id"]: t["label"] for t in themes}
    return MonthDigest(
        summary=summary,
        pain_points=pain_points(themes),
        wins=wins(themes),
        emerging=emerging(themes),
        sentiment=sentiment_shifts(themes, previous["themes"] if previous else ()),
        months=months,
        volume=volume_series(months, sizes_by_month(session, months), themes),
        questions=[{**q, "theme_label": labels.get(q["theme_id"], "")} for q in summary["questions"]],
    )
