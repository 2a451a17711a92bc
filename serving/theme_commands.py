"""`tidings themes`: theme a month from the shell and show what leads see."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from data.settings import get_settings

themes = typer.Typer(help="Monthly themes: run and show.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
MonthOption = Annotated[str, typer.Option("--month", help="The month, as YYYY-MM.")]


@themes.command("run")
def themes_run(
    month: MonthOption,
    include_spam: Annotated[bool, typer.Option(help="Theme messages predicted as spam too.")] = False,
) -> None:
    """Theme a month's stored messages (their stored embeddings; no re-encoding) and record the run."""
    from models.themes import ThemeParams
    from serving.store.db import make_engine, make_sessionmaker, upgrade
    from serving.theme_runs import NotEnoughMessages, log_run, month_summary, run_month
    from serving.theme_schemas import MonthThemesOut

    settings = get_settings()
    upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    with make_sessionmaker(engine)() as session, err.status(f"theming {month}"):
        try:
            run = run_month(session, month, ThemeParams(word_encoder=settings.themes_word_encoder), include_spam)
        except (NotEnoughMessages, ValueError) as e:
            err.print(f"[red]{e}")
            raise typer.Exit(1) from e
        session.commit()
        summary = MonthThemesOut.model_validate(month_summary(session, month)).model_dump(mode="json")
        run.mlflow_run_id = log_run(run, summary, settings)
        session.commit()
    engine.dispose()
    _print(summary)
    out.print(f"run {summary['run_id']}; MLflow run {run.mlflow_run_id}")


@themes.command("show")
def themes_show(month: MonthOption) -> None:
    """Print a month's themes as the API returns them."""
    from serving.store.db import make_engine, make_sessionmaker
    from serving.theme_runs import month_summary
    from serving.theme_schemas import MonthThemesOut

    engine = make_engine(get_settings().store_url)
    with make_sessionmaker(engine)() as session:
        found = month_summary(session, month)
    engine.dispose()
    if found is None:
        err.print(f"[red]no themes run for {month}: run `tidings themes run --month {month}`")
        raise typer.Exit(1)
    _print(MonthThemesOut.model_validate(found).model_dump(mode="json"))


def _print(summary: dict[str, Any]) -> None:
    table = Table(
        title=f"themes {summary['month']}: {summary['n_messages']} messages, {summary['outlier_share']:.0%} in no theme"
    )
    for col in ("theme", "status", "share", "sentiment", "intent", "quote"):
        table.add_column(col, overflow="fold")
    for t in summary["themes"]:
        quote = t["quotes"][0]["text"][:80] if t["quotes"] else ""
        top = lambda mix: ", ".join(f"{k} {v}" for k, v in list(mix.items())[:2])  # noqa: E731
        table.add_row(t["label"], t["status"], f"{t['share']:.0%}", top(t["sentiment"]), top(t["intent"]), quote)
    for t in summary["gone"]:
        table.add_row(t["label"], "gone", "", "", "", "")
    out.print(table)
