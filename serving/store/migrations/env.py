"""Alembic environment for the store; configured in code by `serving.store.db.migration_config`.

The database comes from `config.attributes["connection"]` (an open connection, as `upgrade` passes),
else `config.attributes["url"]`, else the `sqlalchemy.url` main option.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from serving.store.db import migration_engine
from serving.store.tables import Base

config = context.config


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: build the config with serving.store.db.migration_config(url)")
    return str(url)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Write the migration SQL instead of running it (`alembic upgrade --sql`)."""
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a fresh one to the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = migration_engine(_url())
    try:
        with engine.begin() as fresh:
            _run(fresh)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
