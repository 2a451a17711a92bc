"""`tidings classify-archive` and `tidings bench archive`: a brand's history through Ray, and how fast."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from data.settings import get_settings

if TYPE_CHECKING:
    from rich.progress import TaskID

    from serving.archive import ArchiveReport

out = Console()
err = Console(stderr=True)


@contextmanager
def _row_progress(label: str) -> Iterator[tuple[Progress, TaskID]]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        yield progress, progress.add_task(label, total=None)


def run_archive(
    source: Path, output: Path, *, workers: int, batch_size: int, block_rows: int, address: str | None, keep_parts: bool
) -> ArchiveReport:
    """Classify an archive with the champion, showing rows done against rows planned."""
    from serving.archive import RayOptions, classify_archive
    from training.bootstrap import ensure_champion

    settings = get_settings()
    ref = ensure_champion(settings)
    with _row_progress(f"{source.name} → {output.name}") as (progress, task):

        def planned(total: int, done: int) -> None:
            progress.update(task, total=total, completed=done)

        return classify_archive(
            source,
            output,
            ref,
            settings,
            workers=workers,
            batch_size=batch_size,
            block_rows=block_rows,
            ray_options=RayOptions(address=address),
            keep_parts=keep_parts,
            on_plan=planned,
            on_rows=lambda n: progress.advance(task, n),
        )


def classify_archive(
    source: Annotated[
        Path,
        typer.Argument(
            help="JSONL or Parquet archive with a `text` field per row.",
            metavar="INPUT",
            exists=True,
            dir_okay=False,
        ),
    ],
    output: Annotated[Path, typer.Argument(help="Parquet file to write: one row per input row, in input order.")],
    address: Annotated[
        str | None, typer.Option(help="A running Ray cluster's address (e.g. `auto`); default: local Ray.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Model workers (Ray actors, one model each).")] = 1,
    batch_size: Annotated[int, typer.Option(min=1, help="Messages per model call.")] = 256,
    block_rows: Annotated[int, typer.Option(min=1, help="Rows per resumable block (one part file each).")] = 10_000,
    keep_parts: Annotated[bool, typer.Option(help="Keep the work folder OUTPUT.parts/ after assembling.")] = False,
) -> None:
    """Classify a whole archive with the champion through Ray; a rerun resumes from finished blocks."""
    from serving.archive import input_format

    if output.is_dir():
        raise typer.BadParameter("OUTPUT is a folder; give a file path such as out.parquet", param_hint="OUTPUT")
    try:
        input_format(source)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="INPUT") from e
    try:
        report = run_archive(
            source,
            output,
            workers=workers,
            batch_size=batch_size,
            block_rows=block_rows,
            address=address,
            keep_parts=keep_parts,
        )
    except ValueError as e:
        err.print(f"[red]{e}")
        raise typer.Exit(1) from e
    if report.already_done:
        out.print(f"{output} already holds this archive classified by {report.model}: nothing to do")
        return
    out.print(
        f"{report.rows} rows → {output} ({report.errors} with an error) in {report.seconds:.1f} s "
        f"({report.rows_per_second:.0f} rows/s); {report.model} on {report.backend}, {report.workers} worker(s); "
        f"{report.blocks_reused} of {report.blocks} blocks reused"
    )


def bench_archive(
    rows: Annotated[int, typer.Option(min=1, help="Synthetic messages to classify.")] = 100_000,
    workers: Annotated[
        list[int] | None, typer.Option("--workers", "-w", help="Ray worker counts (repeatable).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Messages per model call in the Ray workers.")] = 256,
    api: Annotated[bool, typer.Option(help="Also time POST /v1/classify/batch on a live local server.")] = True,
) -> None:
    """Throughput of `classify-archive` (1 and 2 Ray workers) beside the API's batch endpoint, same messages."""
    from evaluation.archive_bench import api_batch_throughput, write_synthetic_archive
    from evaluation.load_test import LiveServer

    counts = workers or [1, 2]
    model = ""
    lines: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="tidings-bench-archive-") as tmp:
        source = write_synthetic_archive(Path(tmp) / "archive.jsonl", rows)
        err.print(f"{rows} synthetic messages in {source}")
        for n in counts:
            report = run_archive(
                source,
                Path(tmp) / f"out-{n}.parquet",
                workers=n,
                batch_size=batch_size,
                block_rows=max(1000, rows // 20),
                address=None,
                keep_parts=False,
            )
            model = report.model
            lines.append(
                {
                    "path": f"classify-archive, {n} worker(s)",
                    "rows": report.rows,
                    "seconds": report.seconds,
                    "msgs_per_s": report.rows_per_second,
                    "steady_msgs_per_s": report.steady_rows_per_second,
                    "note": f"end to end (Ray start {report.ray_start_seconds:.1f} s); {report.backend}",
                }
            )
        if api:
            texts = [json.loads(line)["text"] for line in source.read_text(encoding="utf-8").splitlines()]
            with err.status("timing POST /v1/classify/batch on a live server"), LiveServer(workers=1) as server:
                seconds = api_batch_throughput(server.base_url, server.key, texts)
            lines.append(
                {
                    "path": "POST /v1/classify/batch (512 per request, store=false), 1 uvicorn worker",
                    "rows": len(texts),
                    "seconds": seconds,
                    "msgs_per_s": len(texts) / seconds,
                    "steady_msgs_per_s": len(texts) / seconds,
                    "note": "requests only (server start excluded)",
                }
            )
    settings = get_settings()
    table = Table(title=f"archive throughput, {rows} messages, {model}")
    for col in ("path", "rows", "seconds", "msg/s", "steady msg/s", "note"):
        table.add_column(col)
    for line in lines:
        table.add_row(
            str(line["path"]),
            str(line["rows"]),
            f"{line['seconds']:.1f}",
            f"{line['msgs_per_s']:.0f}",
            "" if line["steady_msgs_per_s"] is None else f"{line['steady_msgs_per_s']:.0f}",
            str(line["note"]),
        )
    out.print(table)
    reports = Path("evaluation/reports")
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"{time.strftime('%Y-%m-%d')}-archive.json"
    meta = {
        "command": f"tidings bench archive --rows {rows}",
        "model": model,
        "cpus": os.cpu_count(),
        "threads": settings.threads,
        "results": lines,
    }
    path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    out.print(f"figures: {path}")
