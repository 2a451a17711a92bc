"""The `tidings` command: train, predict, evaluate and benchmark from the shell."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer
from rich.console import Console
from rich.table import Table

from data.settings import get_settings, printable_url
from serving import (
    archive_commands,
    ops_commands,
    review_commands,
    service_commands,
    theme_bench_commands,
    theme_commands,
)

if TYPE_CHECKING:
    from models.classifier import MessageClassifier
    from training.registry import ModelRef

app = typer.Typer(
    help="Tidings: intent, urgency and sentiment for community inboxes.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
# Piped or captured output gets room for the tables' intervals instead of Rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)


def _champion() -> tuple[ModelRef, MessageClassifier]:
    from training.bootstrap import ensure_champion
    from training.registry import load_version

    ref = ensure_champion()
    return ref, load_version(ref)


def _aliased(alias: str) -> tuple[ModelRef, MessageClassifier]:
    from training.registry import load_version, model_by_alias

    ref = model_by_alias(alias)
    if ref is None:
        err.print(f"[red]no version of {get_settings().model_name} holds the alias {alias!r}")
        raise typer.Exit(1)
    return ref, load_version(ref)


@app.command()
def train(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Training config YAML (default: the default config).", exists=True, dir_okay=False
        ),
    ] = None,
    register: Annotated[bool, typer.Option(help="Register the model and run the promotion gate.")] = True,
    seed: Annotated[
        int | None,
        typer.Option(help="Train with this seed instead of the config's (to see how much a config varies by seed)."),
    ] = None,
) -> None:
    """Train a classifier from a config, track it in MLflow, register it and gate promotion."""
    from training.config import TrainingConfig
    from training.trainer import Trainer

    training_config = TrainingConfig.from_yaml(config or get_settings().default_config)
    if seed is not None:
        training_config.seed = seed
    result = Trainer(training_config).run(register=register)
    table = Table(
        title=f"run {result.run_id}" + (f" → version {result.version}" if result.version else ""),
        caption=_INTERVAL_CAPTION,
    )
    for col in ("set", "head", "macro-F1", "accuracy", "ECE", "QWK", "n"):
        table.add_column(col)
    for set_name, heads in result.metrics.items():
        for head, m in heads.items():
            table.add_row(
                set_name,
                head,
                _with_interval(m, "macro_f1"),
                f"{m['accuracy']:.3f}",
                _ece_with_floor(m),
                _with_interval(m, "qwk") if "qwk" in m else "",
                str(m["n"]),
            )
    out.print(table)
    if result.verdict:
        out.print(
            f"gate: {'promoted to champion' if result.verdict.promote else 'champion kept'} — {result.verdict.reason}"
        )


@app.command()
def bootstrap() -> None:
    """Train and register the default model if the registry has no champion yet; prepare its fast path."""
    from serving.model_host import load_serving_model
    from training.bootstrap import ensure_champion

    ref = ensure_champion()
    out.print(f"champion: {ref.name} v{ref.version} (tracking store {printable_url(get_settings().tracking_uri)})")
    with err.status("preparing the serving backend"):
        served = load_serving_model(ref, get_settings())
    out.print(f"serving backend: {served.backend} ({served.backend_reason})")


@app.command()
def models() -> None:
    """List registered model versions, their aliases and headline metrics."""
    import mlflow

    from training.registry import list_versions

    table = Table(title=f"{get_settings().model_name} ({printable_url(get_settings().tracking_uri)})")
    for col in ("version", "aliases", "config", "created", "gate"):
        table.add_column(col)
    for ref in list_versions():
        run = mlflow.get_run(ref.run_id) if ref.run_id else None
        tags = run.data.tags if run else {}
        created = datetime.fromtimestamp(ref.created / 1000, UTC).strftime("%Y-%m-%d %H:%M") if ref.created else ""
        table.add_row(ref.version, ", ".join(ref.aliases), tags.get("config", ""), created, tags.get("gate.reason", ""))
    out.print(table)


@app.command()
def predict(
    text: Annotated[str | None, typer.Argument(help="A message to classify.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="JSONL file with a `text` field per line.", exists=True)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
) -> None:
    """Classify one message, or every line of a JSONL file, with the champion."""
    if (text is None) == (file is None):
        raise typer.BadParameter("give either a message or --file, not both")
    if file is not None:
        from data.loaders import load_table

        result = load_table(file)
        for r in result.rejected:
            err.print(f"[yellow]skipped {r}")
        texts = [i.message.text for i in result.items]
        ids = [i.message.id for i in result.items]
    else:
        texts, ids = [text or ""], ["-"]
    ref, model = _champion()
    predictions = model.predict(texts)
    if as_json:
        for mid, t, p in zip(ids, texts, predictions, strict=True):
            out.print_json(
                json.dumps({"id": mid, "text": t, **p.to_dict(), "model": {"name": ref.name, "version": ref.version}})
            )
        return
    table = Table(title=f"{ref.name} v{ref.version}")
    table.add_column("message", overflow="fold", max_width=60)
    for head in model.head_names:
        table.add_column(head)
    for t, p in zip(texts, predictions, strict=True):
        cells = []
        for head in model.head_names:
            h = p[head]
            cells.append(f"{h.label} {h.probability:.2f}" + (f" [yellow](abstain: {h.reason})" if h.abstained else ""))
        table.add_row(t, *cells)
    out.print(table)


_INTERVAL_CAPTION = (
    "Under each figure: its 95% bootstrap interval over the messages. "
    "ECE floor: the ECE a perfectly calibrated model would show on this many messages."
)


def _with_interval(metrics: dict[str, Any], key: str) -> str:
    """A figure with its bootstrap interval on the line below, where there is one."""
    low_high = metrics.get("interval_95", {}).get(key)
    figure = f"{metrics[key]:.3f}"
    return f"{figure}\n{low_high[0]:.3f}–{low_high[1]:.3f}" if low_high else figure


def _ece_with_floor(metrics: dict[str, Any]) -> str:
    """ECE with, below it, the ECE a perfectly calibrated model would show on as many messages."""
    floor = metrics.get("ece_if_calibrated")
    return f"{metrics['ece']:.3f}" + (f"\nfloor {floor:.3f}" if floor is not None else "")


@app.command()
def evaluate(
    file: Annotated[
        Path, typer.Argument(help="Labelled JSONL: `text` plus any of intent, urgency, sentiment.", exists=True)
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics here as JSON.")] = None,
    alias: Annotated[
        str, typer.Option(help="Registry alias of the version to score, e.g. challenger before a promotion.")
    ] = "champion",
) -> None:
    """Score the champion (or the version holding `--alias`) on a labelled file; unlabelled heads are left out."""
    from data.loaders import load_table
    from evaluation.scoring import evaluate_items

    result = load_table(file)
    err.print(f"{file}: {result.summary()}")
    for r in result.rejected[:10]:
        err.print(f"[yellow]rejected {r}")
    if not result.items:
        err.print("[red]no usable rows")
        raise typer.Exit(1)
    ref, model = _champion() if alias == "champion" else _aliased(alias)
    from training.trainer import progress_bar

    texts = [i.message.text for i in result.items]
    with progress_bar("encoding", len(texts)) as advance:
        embeddings = model.embed(texts, progress=advance)
    metrics = evaluate_items(model, result.items, embeddings)
    report = {
        **metrics,
        "model": {"name": ref.name, "version": ref.version},
        "file": str(file),
        "rows": result.summary(),
    }
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    table = Table(title=f"{file.name} — {ref.name} v{ref.version}", caption=_INTERVAL_CAPTION)
    for col in ("head", "n", "macro-F1", "macro-recall", "accuracy", "ECE", "QWK", "coverage@90%P"):
        table.add_column(col)
    for head, m in metrics.items():
        table.add_row(
            head,
            str(m["n"]),
            _with_interval(m, "macro_f1"),
            _with_interval(m, "macro_recall"),
            f"{m['accuracy']:.3f}",
            _ece_with_floor(m),
            _with_interval(m, "qwk") if "qwk" in m else "",
            f"{m['coverage_at_90_precision']:.3f}",
        )
    out.print(table)


@app.command()
def benchmark(
    suites: Annotated[
        list[str] | None, typer.Option("--suite", "-s", help="Suites to run (repeatable); default all.")
    ] = None,
    run_name: Annotated[str, typer.Option("--name", help="Report file suffix.")] = "champion",
) -> None:
    """Score the champion beside VADER and TF-IDF + LR on public suites and gold_dev; write a report."""
    import mlflow

    from evaluation.benchmark import SUITES, run_benchmark
    from evaluation.report import markdown_table, score_grid, write_report
    from training.config import TrainingConfig
    from training.registry import configure_mlflow, download_classifier
    from training.trainer import assemble

    ref, model = _champion()
    saved = json.loads((download_classifier(ref) / "config.json").read_text(encoding="utf-8"))
    train_items = []
    if "training_config" in saved:
        config = TrainingConfig.from_dict(saved["training_config"])
        data = assemble(config, model.taxonomy)
        train_items = data.train + data.validation
        err.print(f"baselines train on the champion's training data: {len(train_items)} rows ({config.name})")
    chosen = suites or list(SUITES)
    with err.status("benchmarking") as status:
        rows, details = run_benchmark(model, train_items, chosen, progress=lambda s: status.update(f"suite {s}"))
    table = Table(title=f"benchmark — {ref.name} v{ref.version}")
    systems, lines = score_grid(rows)
    for col in ("suite", "metric", "n", *systems):
        table.add_column(col)
    for suite, metric, n, values in lines:
        table.add_row(suite, metric, str(n), *values)
    out.print(table)
    meta = {
        "model": f"{ref.name} v{ref.version}",
        "command": "tidings benchmark " + " ".join(f"-s {s}" for s in suites or []),
    }
    report = write_report(rows, meta, run=run_name)
    configure_mlflow()
    with mlflow.start_run(run_name=f"benchmark-v{ref.version}"):
        mlflow.set_tags({"kind": "benchmark", "model.version": ref.version})
        mlflow.log_metrics(
            {f"{r.suite}.{r.metric}.{r.system}".replace(" ", "_").replace("+", "plus"): r.value for r in rows}
        )
        for suffix in (".md", ".json", ".png"):
            mlflow.log_artifact(str(report.with_suffix(suffix)), "benchmark")
        mlflow.log_text(markdown_table(rows), "benchmark/table.md")
        if details:
            mlflow.log_dict(details, "benchmark/gold_dev_metrics.json")
    out.print(f"report: {report}")


app.add_typer(service_commands.keys, name="keys")
app.add_typer(service_commands.db, name="db")
app.add_typer(service_commands.bench, name="bench")
app.command()(service_commands.serve)
app.add_typer(review_commands.export, name="export")
app.command()(review_commands.rollback)
app.command()(review_commands.retrain)
app.add_typer(review_commands.review, name="review")
app.command("benchmark-review")(review_commands.benchmark_review)
app.add_typer(theme_commands.themes, name="themes")
app.command("benchmark-themes")(theme_bench_commands.benchmark_themes)
app.command("classify-archive")(archive_commands.classify_archive)
service_commands.bench.command("archive")(archive_commands.bench_archive)
app.command()(ops_commands.doctor)
app.command()(ops_commands.retention)


def main() -> None:
    """Entry point for `python -m serving.cli`."""
    app(prog_name="tidings")


if __name__ == "__main__":
    main()
