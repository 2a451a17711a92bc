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
review = typer.Typer(help="Checks on the human reviews.", no_args_is_help=True)


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
        result = retrain_from_store(
            get_settings(), holdout_fraction, review_weight, reviews_file=file, started_by="cli"
        )
    except NoReviews as e:
        err.print(f"[red]{e}")
        raise typer.Exit(1) from e
    rows = ", ".join(f"{k} {v}" for k, v in result.rows.items())
    out.print(f"run {result.run_id} → version {result.version} (parent v{result.parent_version}); reviews: {rows}")
    out.print(f"snapshot {result.snapshot} (digest {result.digest[:12]})")
    if result.flagged is not None:
        out.print(f"label check: {result.flagged} reviewed labels newly flagged for a second look")
    if result.verdict is not None:
        out.print(result.verdict.table())
    out.print(f"gate: {'promoted to champion' if result.promoted else 'champion kept'} — {result.reason}")


@review.command("flag")
def flag(
    show: Annotated[int, typer.Option(min=0, help="List at most this many open flags.")] = 20,
) -> None:
    """Flag submitted labels that are likely mistakes, and queue them for a second reviewer.

    Per head, a logistic regression on the messages' stored embeddings gives each reviewed message
    out-of-fold class probabilities; cleanlab's confident learning picks the labels most likely to be
    wrong. Flagged messages go back to the review queue (`flagged` true) for a different reviewer,
    above everything but predicted-critical messages. Also runs before every retrain from the store.
    """
    from rich.table import Table

    from serving.review_flagging import flag_counts, flag_label_issues
    from serving.store.db import make_engine, make_sessionmaker
    from serving.store.review_flags import open_flags
    from serving.store.review_queue import QueueRules

    settings = get_settings()
    engine = make_engine(settings.store_url)
    try:
        with make_sessionmaker(engine)() as session:
            run = flag_label_issues(session, QueueRules.from_settings(settings))
            out.print(run.summary())
            for head, why in run.skipped.items():
                out.print(f"[yellow]{head} not checked: {why}")
            flags = open_flags(session)
            counts = flag_counts(session)
    finally:
        engine.dispose()
    if not flags:
        out.print("no open flags")
        return
    out.print("open flags per head: " + ", ".join(f"{h} {n}" for h, n in sorted(counts.items())))
    table = Table(title=f"open flags (showing {min(show, len(flags))} of {len(flags)})")
    for column in ("message", "head", "reviewed", "model says", "p(model)", "p(reviewed)", "reviewer"):
        table.add_column(column)
    for f in flags[:show]:
        table.add_row(
            f.message_id,
            f.head,
            f.reviewed_label,
            f.suggested_label,
            f"{f.suggested_probability:.2f}",
            f"{f.reviewed_probability:.2f}",
            f.reviewer_id,
        )
    out.print(table)


def benchmark_review(
    budgets: Annotated[
        list[int] | None, typer.Option("--budget", "-b", min=0, help="Corrections to add (repeatable).")
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Random orders to average.")] = 5,
    folds: Annotated[int, typer.Option(min=2, help="Cross-fitting parts of gold_dev.")] = 4,
    output_dir: Annotated[
        Path | None, typer.Option(help="Where the PNG and JSON go. Default: evaluation/reports.", file_okay=False)
    ] = None,
    review_weight: Annotated[
        float, typer.Option(min=0.01, help="Training weight of a reviewed message (as `tidings retrain`).")
    ] = 2.0,
    diagnostics: Annotated[
        bool,
        typer.Option(
            "--diagnostics",
            help="Also plot pure uncertainty orders: smallest margin over all heads, and intent margin alone.",
        ),
    ] = False,
) -> None:
    """Learning curves on gold_dev: reviewing in queue order vs at random, macro-F1 per head.

    Starts from heads fitted on the default config's data (the seed corpus) over its frozen encoder's
    embeddings; gold_dev's labelled messages stand in for reviewers. gold_dev is split by a hash of
    the message id into FOLDS parts: each in turn is the test set and the rest the review pool. The
    first B pool messages in queue priority order (the queue's own `priority`, applied to the
    starting model's predictions) or in a random order get their gold labels as reviews, the heads
    are refitted, and the test part is predicted. Writes <date>-review-curve.png and .json.
    """
    from datetime import UTC, datetime

    from rich.table import Table
    from threadpoolctl import threadpool_limits

    from data.corpora import load_corpus
    from data.taxonomy import default_taxonomy, load_taxonomy
    from evaluation.report import REPORTS_DIR
    from evaluation.review_benchmark import (
        RANDOM,
        LabelledSet,
        PriorityKey,
        ReviewBenchmarkSpec,
        curve_png,
        curve_table,
        run_review_benchmark,
    )
    from models.prediction import Prediction
    from serving.store.review_queue import QueueRules, margin, priority
    from training.config import TrainingConfig
    from training.trainer import assemble, build_encoder

    settings = get_settings()
    config = TrainingConfig.from_yaml(settings.default_config)
    taxonomy = load_taxonomy(config.taxonomy) if config.taxonomy else default_taxonomy()
    heads = list(taxonomy.head_names)
    try:
        gold = load_corpus("gold_dev", "dev", settings.corpora_dir).items
    except FileNotFoundError as e:
        err.print(f"[red]{e}")
        raise typer.Exit(1) from e
    data = assemble(config, taxonomy)
    gold_texts = {i.message.text.strip().lower() for i in gold}
    base_items = [i for i in data.train + data.validation if i.message.text.strip().lower() not in gold_texts]
    encoder = build_encoder(config, settings)
    with err.status(f"embedding {len(base_items)} base and {len(gold)} gold messages with {encoder.name}"):
        base_x = encoder.encode([i.message.text for i in base_items])
        gold_x = encoder.encode([i.message.text for i in gold])
    base = LabelledSet(base_x, {h: [i.labels.get(h) for i in base_items] for h in heads})
    reviewed = LabelledSet(gold_x, {h: [i.labels.get(h) for i in gold] for h in heads}, [i.message.id for i in gold])
    rules = QueueRules.from_settings(settings)

    def queue_priority(message_id: str, prediction: Prediction) -> float:
        # Messages the rules would not queue rank as the sample tier would.
        return priority(rules.reason(message_id, prediction) or "sample", prediction)

    orders: dict[str, PriorityKey] = {"queue priority": queue_priority}
    if diagnostics:
        orders["smallest margin"] = lambda _, p: -min(margin(h) for h in p.heads.values())
        orders["intent margin"] = lambda _, p: -margin(p.heads["intent"])
    spec = ReviewBenchmarkSpec(
        budgets=tuple(budgets or (0, 25, 50, 100, 150)), folds=folds, random_seeds=seeds, review_weight=review_weight
    )
    # Hundreds of small dense fits: one BLAS thread each is fastest and never oversubscribes the CPU.
    with err.status("fitting heads") as status, threadpool_limits(limits=1, user_api="blas"):
        result = run_review_benchmark(
            base,
            reviewed,
            {h: taxonomy[h].labels for h in heads},
            orders,
            spec,
            progress=status.update,
        )
    table = Table(title=f"macro-F1 on gold_dev ({len(gold)} messages, {folds}-part cross-fitting) after B corrections")
    for column in ("head", "B", *result.orders()):
        table.add_column(column)
    for head, budget, cells in curve_table(result):
        table.add_row(head, str(budget), *cells)
    out.print(table)
    found = Table(title="share of reviews that corrected the starting model's label (corrections found)")
    for column in ("head", "B", *result.orders()):
        found.add_column(column)
    for head in heads:
        for budget in spec.budgets[1:] if spec.budgets and spec.budgets[0] == 0 else spec.budgets:
            cells = [
                f"{p.corrected.get(head, 0.0):.2f}"
                for o in result.orders()
                for p in result.points
                if p.order == o and p.budget == budget
            ]
            found.add_row(head, str(budget), *cells)
    out.print(found)
    for order in result.orders():
        if order != RANDOM:
            gains = ", ".join(f"{h} {g:+.3f}" for h, g in result.gains(order).items())
            out.print(f"{order} minus random, mean over B > 0: {gains}")
    directory = output_dir or REPORTS_DIR
    stem = directory / f"{datetime.now(UTC):%Y-%m-%d}-review-curve"
    report = {
        **result.to_dict(),
        "encoder": encoder.name,
        "config": config.name,
        "command": "tidings benchmark-review"
        + (" --diagnostics" if diagnostics else "")
        + (f" --review-weight {review_weight:g}" if review_weight != 2.0 else ""),
        "queue_rules": vars(rules),
    }
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    curve_png(result, stem.with_suffix(".png"), title=f"Review order on gold_dev ({encoder.name} + LR heads)")
    out.print(f"wrote {stem.with_suffix('.png')} and {stem.with_suffix('.json')}")
