"""Benchmark reports: a Markdown table, the same rows as JSON, and a bar chart per suite."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from evaluation.benchmark import BenchmarkRow

REPORTS_DIR = Path(__file__).with_name("reports")


def score_grid(rows: Sequence[BenchmarkRow]) -> tuple[list[str], list[tuple[str, str, int, list[str]]]]:
    """Systems as columns and one line per (suite, metric): `(suite, metric, n, formatted values)`."""
    systems = list(dict.fromkeys(r.system for r in rows))
    grid: dict[tuple[str, str], dict[str, BenchmarkRow]] = defaultdict(dict)
    for r in rows:
        grid[(r.suite, r.metric)][r.system] = r
    lines = []
    for (suite, metric), cells in grid.items():
        values = [f"{cells[s].value:.3f}" if s in cells else "–" for s in systems]
        lines.append((suite, metric, max(c.n for c in cells.values()), values))
    return systems, lines


def markdown_table(rows: Sequence[BenchmarkRow]) -> str:
    """Suites as rows, systems as columns, one line per (suite, metric)."""
    systems, lines = score_grid(rows)
    out = ["| suite | metric | n | " + " | ".join(systems) + " |", "|---|---|---|" + "---|" * len(systems)]
    out += [f"| {suite} | {metric} | {n} | " + " | ".join(values) + " |" for suite, metric, n, values in lines]
    return "\n".join(out)


def write_report(
    rows: Sequence[BenchmarkRow], meta: dict[str, Any], directory: Path | None = None, run: str = "local"
) -> Path:
    """Write `<date>-<run>.md`, `.json` and `.png` (under evaluation/reports by default); returns the Markdown path."""
    directory = directory or REPORTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.now(UTC):%Y-%m-%d}-{run}"
    png = directory / f"{stem}.png"
    _bar_chart(rows, png)
    notes = [f"- {r.suite} {r.metric} {r.system}: {r.note}" for r in rows if r.note]
    body = [
        f"# Benchmark {stem}",
        "",
        f"Model: {meta.get('model', '?')}; command: `{meta.get('command', 'tidings benchmark')}`.",
        "",
        markdown_table(rows),
        "",
        f"![scores]({png.name})",
        "",
        "Notes:",
        *notes,
        "",
    ]
    md = directory / f"{stem}.md"
    md.write_text("\n".join(body), encoding="utf-8")
    (directory / f"{stem}.json").write_text(
        json.dumps({"meta": meta, "rows": [r.to_dict() for r in rows]}, indent=2, default=str), encoding="utf-8"
    )
    return md


def _bar_chart(rows: Sequence[BenchmarkRow], path: Path) -> None:
    shown = [r for r in rows if not r.metric.endswith(("ece", "coverage_at_90_precision"))]
    groups = list(dict.fromkeys((r.suite, r.metric) for r in shown))
    systems = list(dict.fromkeys(r.system for r in shown))
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups)), 4))
    width = 0.8 / max(len(systems), 1)
    for k, system in enumerate(systems):
        values = [
            next((r.value for r in shown if (r.suite, r.metric) == g and r.system == system), np.nan) for g in groups
        ]
        ax.bar([i + k * width for i in range(len(groups))], values, width=width, label=system)
    ax.set_xticks(
        [i + width * (len(systems) - 1) / 2 for i in range(len(groups))], [f"{s}\n{m}" for s, m in groups], fontsize=7
    )
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
