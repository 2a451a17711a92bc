"""The commands behind the review loop: `export reviews`, `retrain` and `rollback`."""

from __future__ import annotations

import csv
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from data.settings import get_settings

out = Console()
err = Console(stderr=True)

export = typer.Typer(help="Write stored data out for training and audits.", no_args_is_help=True)


class ExportFormat(StrEnum):
    """File formats `export reviews` writes."""

    JSONL = "jsonl"
    CSV = "csv"


class StatusChoice(StrEnum):
    """Review statuses to export."""

    SUBMITTED = "submitted"
    DRAFT = "draft"
    DISCARDED = "discarded"


def csv_cell(value: Any) -> str:
    """How a row value is written in CSV: empty for null, true/false for booleans, as-is otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _format_of(output: Path, chosen: ExportFormat | None) -> ExportFormat:
    if chosen is not None:
        return chosen
    suffix = output.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson", "json"):
        return ExportFormat.JSONL
    if suffix == "csv":
        return ExportFormat.CSV
    raise typer.BadParameter(
        f"cannot tell the format from {output.name!r}: use --format jsonl|csv", param_hint="--format"
    )


@export.command("reviews")
def export_reviews(
    output: Annotated[Path, typer.Argument(help="File to write, e.g. reviews.jsonl or reviews.csv.", dir_okay=False)],
    file_format: Annotated[
        ExportFormat | None,
        typer.Option("--format", help="jsonl or csv; default: from OUTPUT's suffix."),
    ] = None,
    status: Annotated[
        StatusChoice | None,
        typer.Option(
            help="Only revisions with this status. Default: all. Training data: --current-only --status submitted."
        ),
    ] = None,
    current_only: Annotated[
        bool,
        typer.Option(
            "--current-only",
            help="Only each reviewer's current (latest) revision per message. By default every revision "
            "is written, with `current` true on the latest, so nothing is lost.",
        ),
    ] = False,
) -> None:
    """Export reviews with the message text, the model's suggestion under review and provenance.

    One row per review revision: message (id, external id, channel, space, thread, created_at,
    text), the suggestion reviewed (model name and version; label, probability, abstention and
    reason per head), and the review (reviewer id and name, revision, current, status, a label per
    axis, note, reviewed_at).
    """
    from serving.store.db import make_engine, make_sessionmaker
    from serving.store.review_export import COLUMNS, review_rows

    chosen = _format_of(output, file_format)
    engine = make_engine(get_settings().store_url)
    output.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with make_sessionmaker(engine)() as session, output.open("w", encoding="utf-8", newline="") as f:
        rows = review_rows(session, current_only=current_only, status=status.value if status else None)
        if chosen is ExportFormat.JSONL:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
        else:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: csv_cell(v) for k, v in row.items()})
                written += 1
    engine.dispose()
    out.print(f"wrote {written} review rows to {output} ({chosen.value})")


def rollback() -> None:
    """Make the previous champion champion again; the version rolled back from keeps a `rolled-back` alias.

    Running servers swap within TIDINGS_REGISTRY_POLL_SECONDS, or at once on POST /v1/models/reload.
    Refuses when there is no previous champion (also right after a rollback).
    """
    from training.registry import NoPreviousChampion
    from training.registry import rollback as rollback_champion

    try:
        restored, rolled_back = rollback_champion(get_settings())
    except NoPreviousChampion as e:
        err.print(f"[red]{e}")
        raise typer.Exit(1) from e
    out.print(
        f"champion: {restored.name} v{restored.version} (rolled back from v{rolled_back.version}, "
        "now alias 'rolled-back')"
    )


def retrain(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            help="A `tidings export reviews` JSONL file. Default: the store's current submitted reviews.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    holdout_fraction: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Share of reviewed messages frozen as the holdout.")
    ] = 0.2,
    review_weight: Annotated[float, typer.Option(min=0.01, help="Training weight of a reviewed message.")] = 2.0,
) -> None:
    """Retrain on the base data plus submitted reviews; promote only if no head drops and one improves.

    The champion's own training config is the base. Reviewed messages are split by a hash of their
    id into a frozen holdout (never trained on) and training rows; the gate compares with the
    champion on the gate sets and the holdout. Running servers pick up a promotion on their next
    registry check or POST /v1/models/reload.
    """
    from serving.retraining import retrain_from_store
    from training.retrain import NoReviews

    try:
        result = retrain_from_store(get_settings(), holdout_fraction, review_weight, reviews_file=file)
    except NoReviews as e:
        err.print(f"[red]{e}")
        raise typer.Exit(1) from e
    rows = ", ".join(f"{k} {v}" for k, v in result.rows.items())
    out.print(f"run {result.run_id} → version {result.version} (parent v{result.parent_version}); reviews: {rows}")
    out.print(f"snapshot {result.snapshot} (digest {result.digest[:12]})")
    if result.verdict is not None:
        out.print(result.verdict.table())
    out.print(f"gate: {'promoted to champion' if result.promoted else 'champion kept'} — {result.reason}")
