"""`tidings doctor` on a tiny deployment: passes when sound, names the broken part when not."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data.settings import Settings, get_settings, printable_url
from serving.cli import app
from serving.doctor import Status, check_auth, check_policies, check_secrets, is_placeholder, run_checks
from serving.store.db import head_revision, upgrade
from tests.serving.service import Deployment, deployment

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(tmp_path_factory.mktemp("doctor")) as d:
        yield d


@pytest.fixture
def env(tiny: Deployment, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change the deployment's environment for one test; settings are re-read before and after."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def statuses(output: str) -> dict[str, str]:
    return {line.split()[1]: line.split()[0] for line in output.splitlines() if line.strip()}


@pytest.mark.slow
def test_a_sound_deployment_passes_with_one_line_per_check(env):
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    found = statuses(result.stdout)
    expected = ("settings.secrets", "settings.auth", "settings.paths", "store", "store.migrations", "store.keys")
    assert {name: found[name] for name in expected} == dict.fromkeys(expected, "ok")
    assert found["registry"] == "ok" and found["registry.champion"] == "ok"
    # The tiny model's hashing encoder has no ONNX export: it serves on torch, which is worth a warning.
    assert found["champion"] == "warn"
    assert "serves on torch" in result.stdout and "FAIL" not in result.stdout


@pytest.mark.slow
def test_json_output_says_ok_and_lists_every_check(env):
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert {c["status"] for c in report["checks"]} <= {"ok", "warn"}
    champion = next(c for c in report["checks"] if c["name"] == "registry.champion")
    assert champion["detail"].startswith("tidings-classifier v1")


@pytest.mark.slow
def test_an_unmigrated_store_fails_and_says_to_upgrade(env, tmp_path: Path):
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    env.setenv("TIDINGS_DATABASE_URL", f"sqlite:///{empty}")
    get_settings.cache_clear()
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    line = next(line for line in result.stdout.splitlines() if "store.migrations" in line)
    assert line.startswith("FAIL") and "no tables yet" in line and "tidings db upgrade" in line
    # The later checks still run: one broken part does not hide the others.
    assert statuses(result.stdout)["registry.champion"] == "ok"


@pytest.mark.slow
def test_a_store_behind_the_code_names_both_revisions(env, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    env.setenv("TIDINGS_DATABASE_URL", url)
    get_settings.cache_clear()
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "store.migrations")
    assert check["status"] == "FAIL"
    assert check["detail"] == f"the store is at revision 0001, this code needs {head_revision()}"


@pytest.mark.slow
def test_a_missing_store_file_is_reported_not_created(env, tmp_path: Path):
    missing = tmp_path / "nowhere" / "tidings.db"
    env.setenv("TIDINGS_DATABASE_URL", f"sqlite:///{missing}")
    get_settings.cache_clear()
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert statuses(result.stdout)["store"] == "FAIL" and "store.migrations" not in result.stdout
    assert not missing.exists()


@pytest.mark.slow
def test_no_champion_fails(env):
    env.setenv("TIDINGS_MODEL_NAME", "not-registered")
    get_settings.cache_clear()
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    line = next(line for line in result.stdout.splitlines() if "registry.champion" in line)
    assert line.startswith("FAIL") and "no @champion alias" in line and "tidings bootstrap" in line
    assert "  champion " not in result.stdout


def test_a_fresh_data_dir_fails_on_the_registry_without_creating_it(settings: Settings):
    checks = {c.name: c for c in run_checks(settings)}
    assert checks["registry"].status is Status.FAIL and "tidings bootstrap" in (checks["registry"].fix or "")
    assert checks["store"].status is Status.FAIL
    assert "registry.champion" not in checks
    assert not (settings.data_dir / "mlflow.db").exists() and not (settings.data_dir / "tidings.db").exists()


@pytest.mark.parametrize("secret", ["changeme", "Password", "<your password>", "change-me-please", "postgres"])
def test_placeholder_secrets_are_recognised(secret):
    assert is_placeholder(secret)


@pytest.mark.parametrize("secret", ["k9$Lw2!vQz", "correct horse battery staple"])
def test_real_secrets_are_not_placeholders(secret):
    assert not is_placeholder(secret)


def test_a_placeholder_database_password_fails_outside_development_and_warns_inside(tmp_path: Path):
    url = "postgresql+psycopg://tidings:changeme@db.internal/tidings"
    production = check_secrets(Settings(data_dir=tmp_path, database_url=url))
    assert production.status is Status.FAIL and "TIDINGS_DATABASE_URL" in production.detail
    assert check_secrets(Settings(data_dir=tmp_path, database_url=url, auth_disabled=True)).status is Status.WARN
    fine = "postgresql+psycopg://tidings:k9$Lw2vQz@db.internal/tidings"
    assert check_secrets(Settings(data_dir=tmp_path, database_url=fine)).status is Status.OK


def test_passwords_never_reach_the_report():
    assert printable_url("postgresql://u:hunter2@host:5432/db") == "postgresql://u:***@host:5432/db"
    assert printable_url("http://mlflow.internal:5000") == "http://mlflow.internal:5000"


def test_development_mode_and_lax_policies_are_warnings(tmp_path: Path):
    lax = Settings(
        data_dir=tmp_path, auth_disabled=True, redact_stored_text=False, retention_days=7, rate_limit_per_minute=0
    )
    assert check_auth(lax).status is Status.WARN
    assert {c.name: c.status for c in check_policies(lax)} == {
        "settings.privacy": Status.WARN,
        "settings.retention": Status.WARN,
        "settings.limits": Status.WARN,
    }
    assert check_policies(Settings(data_dir=tmp_path)) == []
