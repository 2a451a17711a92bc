"""Migrations bring an empty store to head, and the migrated schema is exactly the ORM's."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from serving.store.db import (
    current_revision,
    head_revision,
    is_up_to_date,
    make_engine,
    migration_config,
    ping,
    upgrade,
)
from serving.store.tables import Base
from tests.serving.conftest import MigratedStore


def test_an_empty_store_has_no_revision_and_is_not_up_to_date(store_url: str):
    engine = make_engine(store_url)
    try:
        assert current_revision(engine) is None
        assert not is_up_to_date(engine)
        assert ping(engine)
    finally:
        engine.dispose()


def test_upgrade_reaches_head_and_can_run_again(migrated_store: MigratedStore):
    assert current_revision(migrated_store.engine) == head_revision() == "0004"
    upgrade(migrated_store.url)
    assert is_up_to_date(migrated_store.engine)


def test_migrated_schema_matches_the_orm_metadata(migrated_store: MigratedStore):
    with migrated_store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_alembic_commands_work_from_the_config_built_in_code(store_url: str):
    config = migration_config(store_url)
    command.upgrade(config, "head")
    command.check(config)  # raises when autogenerate would find anything to migrate
    command.downgrade(config, "base")
    engine = make_engine(store_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_sqlite_store_uses_write_ahead_log_and_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'tidings.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()
    assert (tmp_path / "deep" / "er" / "tidings.db").is_file()


def test_ping_is_false_when_the_database_is_unreachable():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    assert engine.dialect.driver == "psycopg"
    try:
        assert ping(engine) is False
    finally:
        engine.dispose()
