"""`tidings benchmark-themes`: the theme model on real airline-support tweets, beside k-means on TF-IDF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from data.settings import get_settings

out = Console()
err = Console(stderr=True)


def benchmark_themes(
    limit: Annotated[
        int | None, typer.Option("--limit", min=10, help="Theme a seeded sample of N messages (tagged ones first).")
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(
            "--size", min=10, help="Grow the month to N messages with untagged SemEval-2017 tweets (timing big months)."
        ),
    ] = None,
    umap_fit_rows: Annotated[
        int | None,
        typer.Option(min=0, help="Fit UMAP on a sample of this many messages (0: all); default ThemeParams'."),
    ] = None,
    encoder: Annotated[str, typer.Option(help="Encoder whose embeddings are themed.")] = "minilm-l6.v1",
    output: Annotated[
        Path | None, typer.Option("--output", dir_okay=False, help="Also write the figures as JSON here.")
    ] = None,
) -> None:
    """Theme the ASAPP airline tweets and score them against the 491 intent tags beside a k-means baseline."""
    from evaluation.theme_benchmark import airline_month, encode_month, padded_month, run_theme_benchmark
    from models.themes import ThemeParams

    settings = get_settings()
    try:
        texts, tags = airline_month(limit)
        if size:
            texts, tags = padded_month(texts, tags, size)
    except (FileNotFoundError, ValueError) as e:
        err.print(f"[red]{e}")
        raise typer.Exit(1) from e
    with err.status(f"encoding {len(texts):,} messages with {encoder} (cached under {settings.cache_dir})"):
        embeddings, encode_seconds = encode_month(texts, encoder, settings.cache_dir / "theme-benchmark")
    with err.status(f"theming {len(texts):,} messages"):
        result = run_theme_benchmark(
            texts,
            embeddings,
            tags,
            ThemeParams(
                word_encoder=settings.themes_word_encoder,
                **({} if umap_fit_rows is None else {"umap_fit_rows": umap_fit_rows}),
            ),
            encoder=encoder,
            encode_seconds=encode_seconds,
        )

    n_tagged = result.scores[0].n_labelled
    sample = result.params["umap_fit_rows"]
    fitted_on = f"UMAP fitted on {min(sample, result.n_messages) if sample else result.n_messages:,}"
    table = Table(title=f"themes on {result.n_messages:,} tweets ({n_tagged} with intent tags; {fitted_on})")
    for col in ("system", "clusters", "no theme", "diversity", "NPMI", "NMI", "ARI", "fit s"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for s in result.scores:
        table.add_row(
            s.system,
            str(s.n_clusters),
            f"{s.outlier_share:.1%}",
            f"{s.diversity:.3f}",
            f"{s.npmi:.3f}",
            f"{s.nmi:.3f}",
            f"{s.ari:.3f}",
            f"{s.fit_seconds:.1f}",
        )
    out.print(table)
    timing = Table(title=f"theme fit: where the time goes (encoding {result.encode_seconds:.1f} s, cached after)")
    timing.add_column("stage")
    timing.add_column("seconds", justify="right")
    timing.add_column("share", justify="right")
    total = result.timings["total"]
    for stage, seconds in result.timings.items():
        timing.add_row(stage, f"{seconds:.1f}", f"{seconds / total:.0%}" if total else "")
    out.print(timing)
    out.print("largest themes: " + "; ".join(result.labels[:15]))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result.to_dict(), indent=2))
        out.print(f"figures: {output}")
