"""Operations commands: `tidings doctor` checks a deployment, `tidings retention` expires old message text."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from data.settings import get_settings

err = Console(stderr=True)


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as one JSON document.")] = False,
) -> None:
    """Check settings, store, registry and champion; one line per check; exit 1 when any FAILs."""
    from serving.doctor import failed, run_checks

    checks = run_checks(get_settings())
    if as_json:
        typer.echo(json.dumps({"ok": not failed(checks), "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        for check in checks:
            typer.echo(check.line())
    if failed(checks):
        raise typer.Exit(1)


def retention(
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Delete the text of messages older than this (default: TIDINGS_RETENTION_DAYS)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, change nothing.")] = False,
) -> None:
    """Delete the text of old messages; labels, suggestions, reviews, embeddings and themes are kept."""
    from serving.retention import expire_text
    from serving.store.db import is_up_to_date, make_engine, make_sessionmaker

    settings = get_settings()
    days = days or settings.retention_days
    if days <= 0:
        err.print("retention is off (TIDINGS_RETENTION_DAYS=0): pass --days N to expire text older than N days")
        raise typer.Exit(2)
    engine = make_engine(settings.store_url)
    try:
        if not is_up_to_date(engine):
            err.print("[red]the store is not migrated: run `tidings db upgrade` first")
            raise typer.Exit(1)
        with make_sessionmaker(engine)() as session:
            result = expire_text(session, days, dry_run=dry_run)
            session.commit()
    finally:
        engine.dispose()
    verb = "would blank" if dry_run else "blanked"
    typer.echo(f"{verb} the text of {result.expired} message(s) created before {result.cutoff:%Y-%m-%d %H:%M} UTC")
