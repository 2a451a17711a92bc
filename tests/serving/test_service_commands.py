"""`tidings keys` and `tidings db` from the shell, on a fresh SQLite store."""

from __future__ import annotations

from typer.testing import CliRunner

from serving.cli import app
from serving.store.db import is_up_to_date, make_engine, make_sessionmaker
from serving.store.keys import authenticate

runner = CliRunner()


def test_db_upgrade_migrates_the_configured_store(settings):
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = make_engine(settings.store_url)
    assert is_up_to_date(engine)
    engine.dispose()


def test_keys_create_prints_the_key_last_and_only_once(settings):
    result = runner.invoke(app, ["keys", "create", "--role", "review", "--name", "ana"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("tid_")
    engine = make_engine(settings.store_url)
    with make_sessionmaker(engine)() as session:
        record = authenticate(session, key)
        assert record is not None and record.role == "review" and record.name == "ana"
    listing = runner.invoke(app, ["keys", "list"])
    assert listing.exit_code == 0 and record.prefix in listing.stdout and key not in listing.stdout
    revoked = runner.invoke(app, ["keys", "revoke", record.id])
    assert revoked.exit_code == 0, revoked.output
    with make_sessionmaker(engine)() as session:
        assert authenticate(session, key) is None
    engine.dispose()


def test_keys_create_refuses_an_unknown_role(settings):
    result = runner.invoke(app, ["keys", "create", "--role", "superuser"])
    assert result.exit_code != 0
    assert "classify, review, lead, admin" in result.output


def test_revoking_an_unknown_key_fails_clearly(settings):
    runner.invoke(app, ["db", "upgrade"])
    result = runner.invoke(app, ["keys", "revoke", "tid_nothing"])
    assert result.exit_code == 1
    assert "no active key" in result.output
