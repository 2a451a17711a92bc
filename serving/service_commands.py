"""The commands that run the service: `serve`, `keys`, `db` and `bench serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from data.settings import get_settings, printable_url

out = Console()
err = Console(stderr=True)

keys = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
db = typer.Typer(help="The message store's schema.", no_args_is_help=True)
bench = typer.Typer(help="Performance benchmarks that print numbers.", no_args_is_help=True)


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the message store's tables to the current schema."""
    from serving.store.db import upgrade

    url = get_settings().store_url
    upgrade(url)
    out.print(f"store migrated: {printable_url(url)}")


@keys.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="classify, review, lead or admin.")],
    name: Annotated[str | None, typer.Option(help="Who or what the key is for.")] = None,
) -> None:
    """Create a key; it is printed once, as the last line, and stored only as a hash."""
    from serving.store.db import make_engine, make_sessionmaker, upgrade
    from serving.store.keys import Role, create_key

    try:
        chosen = Role(role)
    except ValueError as e:
        raise typer.BadParameter(f"role must be one of {', '.join(r.value for r in Role)}", param_hint="--role") from e
    url = get_settings().store_url
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        record, plaintext = create_key(session, chosen, name)
        session.commit()
        err.print(f"created {chosen.value} key {record.prefix}… (id {record.id}); it is shown once:")
    engine.dispose()
    print(plaintext)


@keys.command("list")
def keys_list() -> None:
    """List keys by prefix, role and use; never the keys themselves."""
    from serving.store.db import make_engine, make_sessionmaker
    from serving.store.keys import list_keys

    engine = make_engine(get_settings().store_url)
    table = Table(title="API keys")
    for col in ("id", "prefix", "role", "name", "created", "last used", "revoked"):
        # Ids and prefixes are what `keys revoke` takes: never cut them short.
        table.add_column(col, no_wrap=col in ("id", "prefix"), min_width=12 if col == "prefix" else None)
    with make_sessionmaker(engine)() as session:
        for k in list_keys(session):
            table.add_row(
                str(k.id),
                k.prefix,
                k.role,
                k.name or "",
                f"{k.created_at:%Y-%m-%d %H:%M}",
                f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "",
                f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
            )
    engine.dispose()
    Console(width=max(out.width, 140)).print(table)


@keys.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id or prefix.")]) -> None:
    """Revoke a key; the API stops accepting it within 30 seconds."""
    from serving.store.db import make_engine, make_sessionmaker
    from serving.store.keys import revoke_key

    engine = make_engine(get_settings().store_url)
    with make_sessionmaker(engine)() as session:
        try:
            done = revoke_key(session, key)
        except ValueError as e:
            err.print(f"[red]{e}")
            raise typer.Exit(1) from e
        session.commit()
    engine.dispose()
    if not done:
        err.print(f"[red]no active key {key!r}")
        raise typer.Exit(1)
    out.print(f"revoked {key}")


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes; each loads the champion.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the HTTP API (migrates the store first; the champion loads in the background)."""
    import uvicorn

    from serving.store.db import upgrade

    settings = get_settings()
    upgrade(settings.store_url)
    err.print(f"store {printable_url(settings.store_url)}; registry {printable_url(settings.tracking_uri)}")
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        timeout_graceful_shutdown=30,
    )


@bench.command("serve")
def bench_serve(
    calls: Annotated[int, typer.Option(help="Single-message calls per measurement.")] = 300,
    messages: Annotated[int, typer.Option(help="Messages for the throughput measurements.")] = 2000,
    http: Annotated[bool, typer.Option(help="Also measure over HTTP on loopback (starts `tidings serve`).")] = True,
) -> None:
    """Latency p50/p99, batch throughput and peak RSS for the ONNX int8 and torch paths."""
    from serving.bench import run_serving_bench, write_figures
    from serving.store.db import make_engine, make_sessionmaker, upgrade
    from serving.store.keys import Role, create_key, revoke_key

    settings = get_settings()
    from training.bootstrap import ensure_champion

    ref = ensure_champion()
    key = prefix = None
    if http:
        upgrade(settings.store_url)
        engine = make_engine(settings.store_url)
        with make_sessionmaker(engine)() as session:
            record, key = create_key(session, Role.CLASSIFY, "tidings bench serve")
            prefix = record.prefix
            session.commit()
    try:
        with err.status("benchmarking the serving paths"):
            results = run_serving_bench(ref, settings, key, n=calls, messages=messages)
    finally:
        if prefix:
            with make_sessionmaker(engine)() as session:
                revoke_key(session, prefix)
                session.commit()
            engine.dispose()
    table = Table(title=f"serving — {ref.name} v{ref.version}, {settings.threads} threads")
    columns = (
        "backend",
        "in-process p50 ms",
        "p99 ms",
        "batch msg/s",
        "HTTP p50 ms",
        "HTTP p99 ms",
        "HTTP batch msg/s",
        "peak RSS MiB",
    )
    for col in columns:
        table.add_column(col, no_wrap=True)

    def fmt(v: float | None, digits: int = 1) -> str:
        return "" if v is None else f"{v:.{digits}f}"

    for r in results:
        table.add_row(
            r.backend,
            fmt(r.inproc_p50_ms, 2),
            fmt(r.inproc_p99_ms, 2),
            fmt(r.batch_msgs_per_s, 0),
            fmt(r.http_p50_ms, 2),
            fmt(r.http_p99_ms, 2),
            fmt(r.http_batch_msgs_per_s, 0),
            fmt(r.peak_rss_mib, 0),
        )
    out.print(table)
    for r in results:
        out.print(f"{r.backend}: {r.reason}")
    path = write_figures(
        results, {"model": f"{ref.name} v{ref.version}", "command": "tidings bench serve"}, Path("evaluation/reports")
    )
    out.print(f"figures: {path}")
