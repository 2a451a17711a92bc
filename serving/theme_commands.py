"""`tidings themes`: theme a month from the shell and show what leads see."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from data.settings import get_settings
from serving.theme_schemas import MONTH_PATTERN

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from serving.store.theme_tables import ThemeRecord

themes = typer.Typer(help="Monthly themes: run, show, rename, merge, report.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
MONTH = re.compile(MONTH_PATTERN)
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


@themes.command("report")
def themes_report(
    month: MonthOption,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the files; default: <data dir>/reports.")
    ] = None,
) -> None:
    """Write the month's report for leads: one self-contained HTML file and a Markdown file, for email."""
    from serving.store.db import make_engine, make_sessionmaker
    from serving.theme_digest import build_digest
    from serving.theme_report import write_report

    if not MONTH.match(month):
        err.print(f"[red]--month must look like 2026-10, not {month!r}")
        raise typer.Exit(2)
    settings = get_settings()
    engine = make_engine(settings.store_url)
    try:
        with make_sessionmaker(engine)() as session:
            digest = build_digest(session, month)
    finally:
        engine.dispose()
    if digest is None:
        err.print(f"[red]no themes run for {month}: run `tidings themes run --month {month}`")
        raise typer.Exit(1)
    html, markdown = write_report(digest, out_dir or settings.data_dir / "reports")
    out.print(f"{len(digest.summary['themes'])} themes; wrote {html} and {markdown}")


@themes.command("rename")
def themes_rename(
    theme_id: Annotated[str, typer.Argument(help="The theme's id, as `tidings themes show` prints it.")],
    name: Annotated[str | None, typer.Argument(help="The new name; leave out with --clear.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Drop the name and show the key-phrase label.")] = False,
) -> None:
    """Name a theme; the name stays with it in later months."""
    from serving import theme_registry
    from serving.theme_schemas import ThemeRenameIn

    if (name is None) != clear:
        err.print("[red]give a NAME, or --clear to drop the name")
        raise typer.Exit(2)
    try:
        body = ThemeRenameIn.model_validate({"name": name})
    except ValidationError as e:
        err.print(f"[red]{e.errors(include_url=False)[0]['msg']}")
        raise typer.Exit(2) from e
    _edit(lambda session: theme_registry.rename(session, theme_id, body.name))


@themes.command("merge")
def themes_merge(
    into: Annotated[str, typer.Option("--into", help="The theme that survives.")],
    from_: Annotated[str, typer.Option("--from", help="The theme merged into it.")],
) -> None:
    """Merge one theme into another; its months and later matches count as the survivor's."""
    from serving import theme_registry

    if into == from_:
        err.print("[red]--into and --from must be two different themes")
        raise typer.Exit(2)
    _edit(lambda session: theme_registry.merge(session, into, from_))


def _edit(change: Callable[[Session], ThemeRecord]) -> None:
    """Apply a rename or merge to the store, commit it and print the theme."""
    from serving import theme_registry
    from serving.store.db import make_engine, make_sessionmaker, upgrade

    settings = get_settings()
    upgrade(settings.store_url)
    engine = make_engine(settings.store_url)
    try:
        with make_sessionmaker(engine)() as session:
            try:
                theme = change(session)
            except (theme_registry.UnknownTheme, theme_registry.ThemeMerged) as e:
                err.print(f"[red]{e}")
                raise typer.Exit(1) from e
            session.commit()
            absorbed = theme_registry.absorbed_ids(session, theme.id)
            out.print(f"{theme.id}  {theme.name or theme.label}  ({theme.first_month} to {theme.last_month})")
            if absorbed:
                out.print(f"absorbed: {', '.join(absorbed)}")
    finally:
        engine.dispose()


def _print(summary: dict[str, Any]) -> None:
    table = Table(
        title=f"themes {summary['month']}: {summary['n_messages']} messages, {summary['outlier_share']:.0%} in no theme"
    )
    for col in ("id", "theme", "status", "share", "sentiment", "intent", "quote"):
        table.add_column(col, overflow="fold")
    for t in summary["themes"]:
        quote = t["quotes"][0]["text"][:80] if t["quotes"] else ""
        top = lambda mix: ", ".join(f"{k} {v}" for k, v in list(mix.items())[:2])  # noqa: E731
        table.add_row(
            t["id"], t["label"], t["status"], f"{t['share']:.0%}", top(t["sentiment"]), top(t["intent"]), quote
        )
    for t in summary["gone"]:
        table.add_row(t["id"], t["label"], "gone", "", "", "", "")
    out.print(table)
