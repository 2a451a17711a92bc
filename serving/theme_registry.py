"""Themes that persist across months: matching a month's themes to known ones, and their status.

Matching: a new theme continues a known theme when the cosine similarity of their centroids
(L2-normalised mean embeddings of members) is at least `MATCH_THRESHOLD`; pairs are taken
greedily from the most similar down, one to one. A theme left over then continues its nearest
known theme when that one is still free, has this theme as its own nearest, and the similarity
is at least `MUTUAL_MATCH_THRESHOLD`: a subject split into parts one month and whole the next
matches none of its parts at 0.8 (measured 0.64-0.75 on the planted test month).
A known theme is compared through its most recent month, and a merged theme through the theme it
was merged into: each theme of that month that resolves to it lends a centroid, so both halves of a
merge can still be recognised, and a run writes every new theme matched to the same survivor as one
theme.

Leads name and merge themes (`rename`, `merge`): a name belongs to the theme's identity, so a
continuing theme keeps it; a merged theme points at the one that absorbed it (`merged_into`) and its
months are shown, and later matched, under the survivor's id.

Status, from the theme's share of the month's messages:
- `new`: no earlier month has it;
- `rising` / `fading`: its share moved by at least `TREND_CHANGE` (relative) against the
  trailing baseline (mean share over the previous three months, counting months it was absent as
  zero), or against the previous month when there is no longer history;
- `steady`: otherwise;
- `gone`: a theme of the previous month that this month does not have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.store.theme_tables import ThemeMonthRecord, ThemeRecord, ThemeRunRecord

MATCH_THRESHOLD = 0.8
MUTUAL_MATCH_THRESHOLD = 0.6
TREND_CHANGE = 0.25
BASELINE_MONTHS = 3


@dataclass(frozen=True)
class KnownTheme:
    """A theme's latest appearance before the month being themed."""

    theme_id: str
    month: str
    centroid: np.ndarray


@dataclass(frozen=True)
class Trend:
    """A theme's status this month and its relative change in share."""

    status: str
    change_previous: float | None
    change_baseline: float | None


def previous_months(month: str, n: int) -> list[str]:
    """The n months before `month` ('YYYY-MM'), most recent first."""
    year, mon = (int(p) for p in month.split("-"))
    out = []
    for _ in range(n):
        year, mon = (year, mon - 1) if mon > 1 else (year - 1, 12)
        out.append(f"{year:04d}-{mon:02d}")
    return out


def current_runs(session: Session, months: Sequence[str]) -> dict[str, ThemeRunRecord]:
    """The newest run of each month that has one."""
    runs: dict[str, ThemeRunRecord] = {}
    query = select(ThemeRunRecord).where(ThemeRunRecord.month.in_(list(months))).order_by(ThemeRunRecord.created_at)
    for run in session.scalars(query):
        runs[run.month] = run
    return runs


def surviving_id(session: Session, theme_id: str) -> str:
    """Follow merges to the theme that absorbed this one."""
    seen = set()
    while theme_id not in seen:
        seen.add(theme_id)
        theme = session.get(ThemeRecord, theme_id)
        if theme is None or theme.merged_into is None:
            return theme_id
        theme_id = theme.merged_into
    return theme_id


def known_themes(session: Session, before: str) -> list[KnownTheme]:
    """Every surviving theme's most recent appearance before `before`: one entry per row of that month.

    A theme has two entries when a lead merged two themes of that month; both carry the survivor's id.
    """
    months = sorted({m for (m,) in session.execute(select(ThemeRunRecord.month).where(ThemeRunRecord.month < before))})
    latest: dict[str, list[KnownTheme]] = {}
    for month, run in sorted(current_runs(session, months).items()):
        found: dict[str, list[KnownTheme]] = {}
        for row in session.scalars(select(ThemeMonthRecord).where(ThemeMonthRecord.run_id == run.id)):
            theme_id = surviving_id(session, row.theme_id)
            found.setdefault(theme_id, []).append(KnownTheme(theme_id, month, np.frombuffer(row.centroid, dtype="<f4")))
        latest.update(found)
    return [known for entries in latest.values() for known in entries]


def match(centroids: np.ndarray, known: Sequence[KnownTheme]) -> list[tuple[str | None, float | None]]:
    """For each new centroid, the known theme it continues and the similarity, or (None, best similarity).

    One to one between centroids and `known` entries; a merged theme's several entries may each take one.
    """
    out: list[tuple[str | None, float | None]] = [(None, None)] * len(centroids)
    if not len(centroids) or not known:
        return out
    sims = np.asarray(centroids, dtype=np.float32) @ np.stack([k.centroid for k in known]).T
    best = sims.max(axis=1)
    out = [(None, float(b)) for b in best]
    taken_new, taken_known = set(), set()
    for flat in np.argsort(-sims, axis=None):
        i, j = divmod(int(flat), sims.shape[1])
        if sims[i, j] < MATCH_THRESHOLD:
            break
        if i in taken_new or j in taken_known:
            continue
        taken_new.add(i)
        taken_known.add(j)
        out[i] = (known[j].theme_id, float(sims[i, j]))
    # A subject split into parts one month and whole the next matches none of its parts closely;
    # it continues the part it is nearest to when that part is nearest to it too.
    for i in range(len(centroids)):
        j = int(np.argmax(sims[i]))
        mutual = int(np.argmax(sims[:, j])) == i
        if i not in taken_new and j not in taken_known and mutual and sims[i, j] >= MUTUAL_MATCH_THRESHOLD:
            taken_new.add(i)
            taken_known.add(j)
            out[i] = (known[j].theme_id, float(sims[i, j]))
    return out


def share_history(session: Session, theme_id: str, months: Sequence[str]) -> dict[str, float]:
    """The theme's share in each of `months` that has a run (0.0 where the run lacks it)."""
    runs = current_runs(session, months)
    out = {}
    for month, run in runs.items():
        rows = session.scalars(select(ThemeMonthRecord).where(ThemeMonthRecord.run_id == run.id))
        out[month] = sum(r.share for r in rows if surviving_id(session, r.theme_id) == theme_id)
    return out


def trend(share: float, history: dict[str, float], month: str, is_new: bool) -> Trend:
    """Status from this month's share and the shares of earlier months (see the module docstring)."""
    if is_new:
        return Trend("new", None, None)
    earlier = previous_months(month, BASELINE_MONTHS)
    previous = history.get(earlier[0])
    window = [history[m] for m in earlier if m in history]
    baseline = float(np.mean(window)) if window else None
    change_previous = share / previous - 1 if previous else None
    change_baseline = share / baseline - 1 if baseline else None
    change = change_baseline if change_baseline is not None and len(window) > 1 else change_previous
    if change is None:
        status = "steady"
    elif change >= TREND_CHANGE:
        status = "rising"
    elif change <= -TREND_CHANGE:
        status = "fading"
    else:
        status = "steady"
    return Trend(status, change_previous, change_baseline)


class UnknownTheme(LookupError):
    """No theme is stored under the id."""


class ThemeMerged(ValueError):
    """The theme was merged into another; act on the survivor instead."""


def _theme(session: Session, theme_id: str) -> ThemeRecord:
    theme = session.get(ThemeRecord, theme_id)
    if theme is None:
        raise UnknownTheme(f"no theme {theme_id!r}")
    return theme


def _unmerged(session: Session, theme_id: str, doing: str) -> ThemeRecord:
    theme = _theme(session, theme_id)
    if theme.merged_into is not None:
        survivor = surviving_id(session, theme_id)
        raise ThemeMerged(f"theme {theme_id} was merged into {survivor}; {doing} {survivor} instead")
    return theme


def absorbed_ids(session: Session, theme_id: str) -> list[str]:
    """The themes merged, directly or through others, into `theme_id`."""
    out: list[str] = []
    frontier = [theme_id]
    while frontier:
        children = list(session.scalars(select(ThemeRecord.id).where(ThemeRecord.merged_into.in_(frontier))))
        out += children
        frontier = children
    return sorted(out)


def rename(session: Session, theme_id: str, name: str | None) -> ThemeRecord:
    """Give a theme the lead's name (None restores the key-phrase label); flushes, never commits.

    Raises UnknownTheme, or ThemeMerged for a theme that lives on under another id.
    """
    theme = _unmerged(session, theme_id, "rename")
    theme.name = name.strip() if name is not None else None
    session.flush()
    return theme


def merge(session: Session, into: str, from_: str) -> ThemeRecord:
    """Merge theme `from_` into `into`: its months and later matches count as `into`'s; flushes, never commits.

    `into` keeps its name, or takes `from_`'s when it has none. Raises UnknownTheme, ThemeMerged when
    either was already merged away, and ValueError when they are the same theme.
    """
    survivor = _theme(session, into)
    absorbed = _theme(session, from_)
    if into == from_:
        raise ValueError(f"theme {into} cannot be merged into itself")
    _unmerged(session, into, "merge into")
    _unmerged(session, from_, "merge")
    absorbed.merged_into = survivor.id
    survivor.first_month = min(survivor.first_month, absorbed.first_month)
    survivor.last_month = max(survivor.last_month, absorbed.last_month)
    survivor.name = survivor.name or absorbed.name
    session.flush()
    return survivor
