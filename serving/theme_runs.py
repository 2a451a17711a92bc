"""A monthly themes run: the month's stored messages and embeddings in, persistent themes out.

No message is re-encoded: the run uses the embeddings stored at classification time, from the
encoder that embedded most of the month (messages embedded by another model version are left
out and counted).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.settings import Settings
from models.themes import Theme, ThemeModel, ThemeParams
from serving import theme_questions, theme_registry
from serving.store.embeddings import load_embeddings
from serving.store.tables import EmbeddingRecord, MessageRecord, SuggestionRecord
from serving.store.theme_tables import ThemeAssignmentRecord, ThemeMonthRecord, ThemeRecord, ThemeRunRecord
from serving.theme_schemas import MONTH_PATTERN

MONTH = re.compile(MONTH_PATTERN)
HEADS = ("intent", "urgency", "sentiment")


class NotEnoughMessages(ValueError):
    """The month has too few usable (distinct, worded) messages to theme."""


@dataclass(frozen=True)
class MonthMessages:
    """The month's messages to theme, their labels per head and embeddings."""

    ids: list[str]
    texts: list[str]
    labels: dict[str, list[str | None]]
    embeddings: np.ndarray
    encoder: str | None
    excluded: dict[str, int]


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a 'YYYY-MM' month in UTC."""
    if not MONTH.match(month):
        raise ValueError(f"month must look like 2026-10 (years 1970-2999), not {month!r}")
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=UTC)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)
    return start, end


def latest_labels(session: Session, message_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """Each message's labels from the newest model version that classified it."""
    out: dict[str, dict[str, str]] = {}
    newest: dict[str, tuple[datetime, int]] = {}
    ids = list(message_ids)
    for start in range(0, len(ids), 1000):
        rows = session.scalars(
            select(SuggestionRecord).where(SuggestionRecord.message_id.in_(ids[start : start + 1000]))
        )
        for row in rows:
            key = (row.created_at, int(row.model_version) if row.model_version.isdigit() else 0)
            if row.message_id not in newest or key > newest[row.message_id]:
                newest[row.message_id] = key
                out[row.message_id] = {}
            if key == newest[row.message_id]:
                out[row.message_id][row.head] = row.label
    return out


def load_month(session: Session, month: str, include_spam: bool = False) -> MonthMessages:
    """The month's messages with labels and embeddings under the month's dominant encoder."""
    start, end = month_bounds(month)
    rows = session.execute(
        select(MessageRecord.id, MessageRecord.text)
        .where(MessageRecord.created_at >= start, MessageRecord.created_at < end)
        # Fitting depends on row order; ids are random, so order by what the sender chose first.
        .order_by(MessageRecord.created_at, MessageRecord.channel, MessageRecord.external_id, MessageRecord.id)
    ).all()
    ids = [r.id for r in rows]
    encoder = session.execute(
        select(EmbeddingRecord.encoder, func.count())
        .join(MessageRecord, MessageRecord.id == EmbeddingRecord.message_id)
        .where(MessageRecord.created_at >= start, MessageRecord.created_at < end)
        .group_by(EmbeddingRecord.encoder)
        .order_by(func.count().desc(), EmbeddingRecord.encoder)
    ).first()
    encoder_name = encoder[0] if encoder else None
    embedded = set()
    if encoder_name:
        embedded = set(
            session.scalars(
                select(EmbeddingRecord.message_id).where(
                    EmbeddingRecord.encoder == encoder_name, EmbeddingRecord.message_id.in_(ids)
                )
            )
        )
    labels = latest_labels(session, ids)
    excluded: Counter[str] = Counter()
    keep = []
    for r in rows:
        if r.id not in embedded:
            excluded["other_encoder_or_unembedded"] += 1
        elif not include_spam and labels.get(r.id, {}).get("intent") == "spam":
            excluded["spam"] += 1
        else:
            keep.append(r)
    kept_ids = [r.id for r in keep]
    vectors = load_embeddings(session, kept_ids, encoder_name) if keep and encoder_name else np.empty((0, 0))
    return MonthMessages(
        ids=kept_ids,
        texts=[r.text for r in keep],
        labels={h: [labels.get(i, {}).get(h) for i in kept_ids] for h in HEADS},
        embeddings=vectors,
        encoder=encoder_name,
        excluded=dict(excluded),
    )


def mix(values: Sequence[str | None]) -> dict[str, int]:
    """Counts of each label, most common first."""
    return dict(Counter(v for v in values if v is not None).most_common())


def run_month(
    session: Session, month: str, params: ThemeParams, include_spam: bool = False, mlflow_run_id: str | None = None
) -> ThemeRunRecord:
    """Theme one month and record the run, matching its themes to earlier months'; flushes, never commits."""
    data = load_month(session, month, include_spam)
    if len(data.ids) < 10:
        raise NotEnoughMessages(f"{month} has {len(data.ids)} messages to theme; at least 10 are needed")
    try:
        model = ThemeModel(params).fit(data.texts, data.embeddings)
    except ValueError as e:  # e.g. fewer than 10 distinct texts, or no keywords at all
        raise NotEnoughMessages(f"{month} cannot be themed: {e}") from e
    n = len(data.ids)
    run = ThemeRunRecord(
        id=uuid4().hex,
        month=month,
        mlflow_run_id=mlflow_run_id,
        params={**params.to_dict(), "include_spam": include_spam, "encoder": data.encoder},
        metrics={k: float(v) for k, v in model.metrics_.items()},
        n_messages=n,
        n_excluded=sum(data.excluded.values()),
        outlier_share=float(model.outlier_share_),
    )
    session.add(run)
    session.flush()
    known = theme_registry.known_themes(session, before=month)
    matches = theme_registry.match(
        np.stack([t.centroid for t in model.themes_]) if model.themes_ else np.empty((0, 0)), known
    )
    history_months = theme_registry.previous_months(month, theme_registry.BASELINE_MONTHS)
    theme_of_index: dict[int, str] = {}
    for group, theme_id, similarity in _by_known_theme(model.themes_, matches):
        size = sum(t.size for t in group)
        members = np.flatnonzero(np.isin(model.labels_, [t.index for t in group]))
        share = size / n
        record: ThemeRecord
        if theme_id is None:
            record = ThemeRecord(id=uuid4().hex, label=group[0].label, first_month=month, last_month=month)
            session.add(record)
            # No relationship() links these tables, so write the theme before rows that refer to it.
            session.flush()
            history: dict[str, float] = {}
        else:
            found = session.get(ThemeRecord, theme_id)
            if found is None:
                raise LookupError(f"theme {theme_id} matched but is not in the registry")
            record = found
            record.label, record.last_month = group[0].label, max(record.last_month, month)
            history = theme_registry.share_history(session, record.id, history_months)
        trend = theme_registry.trend(share, history, month, is_new=theme_id is None)
        theme_of_index.update((t.index, record.id) for t in group)
        session.add(
            ThemeMonthRecord(
                run_id=run.id,
                theme_id=record.id,
                month=month,
                label=group[0].label,
                keywords=list(group[0].keywords),
                size=size,
                share=share,
                status=trend.status,
                change_previous=trend.change_previous,
                change_baseline=trend.change_baseline,
                similarity=similarity,
                centroid=np.asarray(_centroid(group), dtype="<f4").tobytes(),
                mix={h: mix([data.labels[h][i] for i in members]) for h in HEADS},
                quotes=[
                    {"message_id": data.ids[i], "text": data.texts[i]} for i in _quotes(group, params.representatives)
                ],
            )
        )
    session.flush()
    for i, message_id in enumerate(data.ids):
        label = int(model.labels_[i])
        session.add(ThemeAssignmentRecord(run_id=run.id, message_id=message_id, theme_id=theme_of_index.get(label)))
    session.flush()
    return run


def _by_known_theme(
    themes: Sequence[Theme], matches: Sequence[tuple[str | None, float | None]]
) -> list[tuple[list[Theme], str | None, float | None]]:
    """Group the fit's themes by the known theme they continue (several only after a lead's merge)."""
    groups: list[tuple[list[Theme], str | None, float | None]] = []
    at: dict[str, int] = {}
    for theme, (theme_id, similarity) in zip(themes, matches, strict=True):
        if theme_id is not None and theme_id in at:
            members, _, best = groups[at[theme_id]]
            members.append(theme)
            groups[at[theme_id]] = (members, theme_id, max(best or 0.0, similarity or 0.0))
            continue
        if theme_id is not None:
            at[theme_id] = len(groups)
        groups.append(([theme], theme_id, similarity))
    return groups


def _centroid(group: Sequence[Theme]) -> np.ndarray:
    """The group's centroid: the theme's own, or the unit size-weighted mean of several."""
    if len(group) == 1:
        return group[0].centroid
    mean = np.average(np.stack([t.centroid for t in group]), axis=0, weights=[t.size for t in group])
    return mean / (np.linalg.norm(mean) or 1.0)


def _quotes(group: Sequence[Theme], limit: int) -> list[int]:
    """Representatives taken in turn from each theme of the group, largest first."""
    if len(group) == 1:
        return list(group[0].representatives)
    turns = itertools.zip_longest(*(t.representatives for t in group))
    return [i for i in itertools.chain.from_iterable(turns) if i is not None][:limit]


def month_summary(session: Session, month: str, questions: bool = True) -> dict[str, Any] | None:
    """What leads see for a month: its newest run's themes by size, and the themes gone since last month.

    Rows of themes a lead merged are shown as one theme under the survivor's id and name. `questions`
    are the FAQ candidates of the support- and sales-heavy themes (`serving.theme_questions`), left
    empty when `questions` is false.
    """
    previous_month = theme_registry.previous_months(month, 1)[0]
    runs = theme_registry.current_runs(session, [month, previous_month])
    run = runs.get(month)
    if run is None:
        return None
    grouped = _rows_by_theme(session, run)
    themes = sorted(
        (_theme_out(session, month, theme_id, rows) for theme_id, rows in grouped.items()), key=lambda t: -t["size"]
    )
    gone = []
    previous = runs.get(previous_month)
    if previous is not None:
        for theme_id, rows in _rows_by_theme(session, previous).items():
            if theme_id not in grouped:
                last = _theme_out(session, previous_month, theme_id, rows)
                gone.append({**last, "status": "gone", "size": 0, "share": 0.0, "quotes": []})
    return {
        "month": month,
        "run_id": run.id,
        "created_at": run.created_at,
        "n_messages": run.n_messages,
        "n_excluded": run.n_excluded,
        "outlier_share": run.outlier_share,
        "metrics": run.metrics,
        "themes": themes,
        "gone": gone,
        "questions": theme_questions.month_questions(
            session, run, [t["id"] for t in themes if theme_questions.asks_questions(t["intent"])]
        )
        if questions
        else [],
    }


def _rows_by_theme(session: Session, run: ThemeRunRecord) -> dict[str, list[ThemeMonthRecord]]:
    """A run's rows keyed by surviving theme id, largest row first."""
    out: dict[str, list[ThemeMonthRecord]] = {}
    rows = session.scalars(select(ThemeMonthRecord).where(ThemeMonthRecord.run_id == run.id))
    for row in sorted(rows, key=lambda r: -r.size):
        out.setdefault(theme_registry.surviving_id(session, row.theme_id), []).append(row)
    return out


def _theme_out(session: Session, month: str, theme_id: str, rows: Sequence[ThemeMonthRecord]) -> dict[str, Any]:
    theme = session.get(ThemeRecord, theme_id)
    name = theme.name if theme is not None else None
    top = rows[0]
    if len(rows) == 1:
        status, change_previous, change_baseline = top.status, top.change_previous, top.change_baseline
        share = top.share
    else:
        # Themes merged after this run: the stored statuses describe the halves, so recompute for the whole.
        share = sum(r.share for r in rows)
        history = theme_registry.share_history(
            session, theme_id, theme_registry.previous_months(month, theme_registry.BASELINE_MONTHS)
        )
        is_new = all(r.status == "new" for r in rows)
        trend = theme_registry.trend(share, history, month, is_new=is_new)
        status, change_previous, change_baseline = trend.status, trend.change_previous, trend.change_baseline
    return {
        "id": theme_id,
        "label": name or top.label,
        "auto_label": top.label,
        "name": name,
        "keywords": top.keywords,
        "size": sum(r.size for r in rows),
        "share": round(share, 4),
        "status": status,
        "change_previous": change_previous,
        "change_baseline": change_baseline,
        **{head: _summed([r.mix.get(head, {}) for r in rows]) for head in HEADS},
        "quotes": [q for r in rows for q in r.quotes],
    }


def _summed(mixes: Sequence[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for m in mixes:
        total.update(m)
    return dict(total.most_common())


def log_run(run: ThemeRunRecord, summary: dict[str, Any], settings: Settings) -> str | None:
    """Record the run in MLflow: parameters, theme count, outlier share, diversity, NPMI, the summary."""
    import mlflow

    from training.registry import configure_mlflow

    configure_mlflow(settings)
    with mlflow.start_run(run_name=f"themes-{run.month}") as active:
        mlflow.set_tags({"kind": "themes", "month": run.month, "themes.run_id": run.id})
        mlflow.log_params({k: str(v)[:500] for k, v in run.params.items()})
        mlflow.log_metrics(
            {
                **{k: v for k, v in run.metrics.items() if isinstance(v, int | float)},
                "n_messages": run.n_messages,
                "n_excluded": run.n_excluded,
                "outlier_share": run.outlier_share,
            }
        )
        mlflow.log_dict(summary, "themes/summary.json")
        return str(active.info.run_id)
