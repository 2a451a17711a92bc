"""Engines and sessions for the store, and its schema version: SQLite embedded, PostgreSQL in production."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 15.0


def make_engine(url: str) -> Engine:
    """An engine for the store at `url`.

    SQLite gets WAL journaling, foreign keys and cross-thread use, and its file's directory is
    created when missing; PostgreSQL gets pre-ping so connections dropped by the server are replaced.
    """
    parsed = _with_installed_driver(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    # sqlite3's own transaction handling is kept on purpose: reads run outside a transaction, so a
    # session that reads and then writes waits for the write lock instead of failing at once with
    # SQLITE_BUSY_SNAPSHOT. Savepoints are unreliable in that mode; the store never needs one.
    engine = _sqlite_engine(parsed)
    event.listen(engine, "connect", _enable_foreign_keys)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine` whose records stay readable after commit (handy for building responses)."""
    return sessionmaker(engine, expire_on_commit=False)


def ping(engine: Engine) -> bool:
    """True when the database answers `SELECT 1`; never raises."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # a health check reports any failure, whatever the driver raises
        return False
    return True


def migration_config(url: str) -> Config:
    """Alembic's configuration for the store at `url`, built in code: no alembic.ini is needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Attributes, not a main option: configparser would choke on '%' in an escaped password.
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the store at `url` to `revision`, creating a SQLite file (and its directory) if needed."""
    engine = migration_engine(url)
    try:
        with engine.begin() as connection:
            config = migration_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The migration the database at `engine` is at; None before the first one."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@cache
def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found under {MIGRATIONS_DIR}")
    return head


def is_up_to_date(engine: Engine) -> bool:
    """True when the database at `engine` is migrated to `head_revision()`; raises if it cannot be reached."""
    return current_revision(engine) == head_revision()


def migration_engine(url: str) -> Engine:
    """A single-use engine for running migrations.

    On SQLite every migration runs inside one real transaction, so a failed one leaves nothing
    half-applied, and foreign keys stay off so batch table rebuilds cannot cascade deletes.
    """
    parsed = _with_installed_driver(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, poolclass=NullPool)
    engine = _sqlite_engine(parsed, poolclass=NullPool)
    event.listen(engine, "connect", _leave_transactions_to_sqlalchemy)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    return engine


def _with_installed_driver(url: str) -> URL:
    parsed = make_url(url)
    # A bare postgresql:// means psycopg2 to SQLAlchemy; psycopg 3 is the driver Tidings ships.
    return parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" else parsed


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    database = url.database
    in_memory = not database or database == ":memory:" or url.query.get("mode") == "memory"
    if in_memory:
        # One shared connection, or each pooled connection would see its own empty database.
        kwargs.setdefault("poolclass", StaticPool)
    elif not url.query.get("uri"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        hide_parameters=True,
        **kwargs,
    )
    event.listen(engine, "connect", _use_write_ahead_log)
    return engine


def _use_write_ahead_log(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _enable_foreign_keys(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _leave_transactions_to_sqlalchemy(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None
