"""Store fixtures shared by the store and API tests: a store URL per backend, and a migrated store.

PostgreSQL tests run on a throwaway database created on the server at `TIDINGS_TEST_POSTGRES_URL`
(default: the local `test` database as user postgres). They are skipped when that server cannot be
reached, unless `TIDINGS_REQUIRE_POSTGRES` is set to a non-empty value, in which case they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from serving.store.db import make_engine, make_sessionmaker, upgrade

POSTGRES_ADMIN_URL = os.environ.get("TIDINGS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class MigratedStore:
    """A store migrated to head: its URL, an engine on it and a session factory."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the PostgreSQL server's admin database, checked once per test session."""
    engine = create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        engine.dispose()
        reason = f"PostgreSQL unreachable at {make_url(POSTGRES_ADMIN_URL)!r}: {error.orig}"
        if os.environ.get("TIDINGS_REQUIRE_POSTGRES"):
            pytest.fail(f"{reason} (TIDINGS_REQUIRE_POSTGRES is set)")
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store: a SQLite file in a not-yet-created folder, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'tidings.db'}"
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    name = f"tidings_test_{uuid4().hex[:16]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_store(store_url: str) -> Iterator[MigratedStore]:
    """The `store_url` store migrated to head, with an engine and sessions on it."""
    upgrade(store_url)
    engine = make_engine(store_url)
    yield MigratedStore(store_url, engine, make_sessionmaker(engine))
    engine.dispose()
