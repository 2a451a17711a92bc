"""`tidings doctor`: is this deployment's configuration sound, its store migrated, its champion servable?

Each check returns one `Check` line: ok, warn (works, but worth a look) or FAIL (something a
deployment needs is broken), with what is wrong in plain words and what to do. Checks that depend
on an earlier one (the champion on the registry, the migrations on the store) are left out when
that one FAILs, so one cause is reported once. Nothing is created or migrated: a missing SQLite
file is reported, not made.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy import func, make_url, select

from data.settings import Settings, printable_url
from training.registry import CHAMPION, ModelRef

# Values that show a secret was copied from an example and never set.
PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "change_me", "changethis", "secret", "password", "passwd", "pass", "admin", "test"}
    | {"example", "placeholder", "xxx", "todo", "default", "postgres", "mlflow", "tidings", "123456", "letmein"}
)
PLACEHOLDER_MARKERS = ("changeme", "change-me", "change_me", "changethis", "replace-me", "replace_me", "your-", "<")
MIN_RETENTION_FOR_THEMES = 62


class Status(StrEnum):
    """How a check came out."""

    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it came out, and what to do about it."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def line(self) -> str:
        """The check as one printed line."""
        fix = f" → {self.fix}" if self.fix else ""
        return f"{self.status.value:<4}  {self.name:<18} {self.detail}{fix}"

    def to_dict(self) -> dict[str, str | None]:
        """The check as JSON-ready values."""
        return {**asdict(self), "status": self.status.value}


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order: settings, store, registry, champion."""
    checks = [check_secrets(settings), check_auth(settings), check_paths(settings), *check_policies(settings)]
    checks.extend(check_store(settings))
    registry = check_registry(settings)
    checks.append(registry)
    if registry.status is not Status.FAIL:
        champion, ref = check_champion(settings)
        checks.append(champion)
        if ref is not None:
            checks.append(check_serving(settings, ref))
    return checks


def failed(checks: list[Check]) -> bool:
    """True when any check FAILed."""
    return any(c.status is Status.FAIL for c in checks)


def is_placeholder(secret: str) -> bool:
    """True when a secret looks copied from an example (`changeme`, `password`, `<your key>` ...)."""
    lowered = secret.strip().lower()
    return lowered in PLACEHOLDER_SECRETS or any(marker in lowered for marker in PLACEHOLDER_MARKERS)


def check_secrets(settings: Settings) -> Check:
    """No placeholder passwords or secrets; FAIL outside development (keys on), warn in development."""
    found = []
    for name in ("database_url", "mlflow_uri", "registry_uri"):
        uri = getattr(settings, name)
        password = urlsplit(uri).password if uri else None
        if password is not None and is_placeholder(password):
            found.append(f"TIDINGS_{name.upper()} has the placeholder password {password!r}")
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and is_placeholder(value.get_secret_value()):
            found.append(f"TIDINGS_{name.upper()} is a placeholder")
    if not found:
        return Check("settings.secrets", Status.OK, "no placeholder secrets")
    status = Status.WARN if settings.auth_disabled else Status.FAIL
    return Check("settings.secrets", status, "; ".join(found), "set real secrets before serving real traffic")


def check_auth(settings: Settings) -> Check:
    """API keys are on."""
    if settings.auth_disabled:
        return Check(
            "settings.auth",
            Status.WARN,
            "API keys are OFF: every caller is admin (development mode)",
            "unset TIDINGS_AUTH_DISABLED for anything but a laptop",
        )
    return Check("settings.auth", Status.OK, "API keys required")


def check_paths(settings: Settings) -> Check:
    """The data directory and the SQLite files in it can be written."""
    paths = [settings.data_dir, settings.artifact_root, settings.cache_dir]
    paths += [p for p in (_sqlite_path(settings.store_url), _sqlite_path(settings.tracking_uri)) if p is not None]
    blocked = [str(p) for p in paths if not _writable(p)]
    if blocked:
        return Check(
            "settings.paths",
            Status.FAIL,
            f"cannot write to {', '.join(blocked)}",
            "give this user write access, or point TIDINGS_DATA_DIR somewhere writable",
        )
    return Check("settings.paths", Status.OK, f"{settings.data_dir} is writable")


def check_policies(settings: Settings) -> list[Check]:
    """Privacy and abuse settings that are allowed but worth knowing about."""
    out = []
    if not settings.redact_stored_text:
        out.append(
            Check(
                "settings.privacy",
                Status.WARN,
                "message text is stored unredacted (e-mails, phones, cards, addresses)",
                "set TIDINGS_REDACT_STORED_TEXT=true unless you need the raw text",
            )
        )
    if 0 < settings.retention_days < MIN_RETENTION_FOR_THEMES:
        out.append(
            Check(
                "settings.retention",
                Status.WARN,
                f"text expires after {settings.retention_days} days: a month may lose its text before it is themed",
                f"theme each month promptly, or keep text at least {MIN_RETENTION_FOR_THEMES} days",
            )
        )
    if settings.rate_limit_per_minute == 0 and not settings.rate_limits:
        out.append(
            Check(
                "settings.limits",
                Status.WARN,
                "rate limiting is off: one key can use every core",
                "set TIDINGS_RATE_LIMIT_PER_MINUTE",
            )
        )
    return out


def check_store(settings: Settings) -> list[Check]:
    """The store answers, is migrated to the code's head, and has keys to let callers in."""
    from serving.store.db import current_revision, head_revision, make_engine, make_sessionmaker, ping
    from serving.store.tables import ApiKeyRecord

    url = settings.store_url
    shown = make_url(url).render_as_string(hide_password=True)
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        return [Check("store", Status.FAIL, f"no store at {path}", "run `tidings db upgrade` (or `tidings serve`)")]
    engine = make_engine(url)
    try:
        if not ping(engine):
            return [
                Check(
                    "store",
                    Status.FAIL,
                    f"cannot connect to {shown}",
                    "check TIDINGS_DATABASE_URL and that the database server is running",
                )
            ]
        checks = [Check("store", Status.OK, f"{shown} answers")]
        current, head = current_revision(engine), head_revision()
        if current == head:
            checks.append(Check("store.migrations", Status.OK, f"at head ({head})"))
        elif current is None:
            fix = "run `tidings db upgrade`"
            checks.append(Check("store.migrations", Status.FAIL, "the store has no tables yet", fix))
            return checks
        else:
            checks.append(
                Check(
                    "store.migrations",
                    Status.FAIL,
                    f"the store is at revision {current}, this code needs {head}",
                    "run `tidings db upgrade` (if the store is newer than the code, upgrade Tidings instead)",
                )
            )
            return checks
        with make_sessionmaker(engine)() as session:
            live = session.scalar(
                select(func.count()).select_from(ApiKeyRecord).where(ApiKeyRecord.revoked_at.is_(None))
            )
        if live or settings.auth_disabled:
            checks.append(Check("store.keys", Status.OK, f"{live} active API key(s)"))
        else:
            checks.append(
                Check(
                    "store.keys",
                    Status.WARN,
                    "no active API keys: every call will get 401",
                    "create one with `tidings keys create --role classify`",
                )
            )
        return checks
    finally:
        engine.dispose()


def check_registry(settings: Settings) -> Check:
    """The MLflow tracking store and registry answer."""
    shown = printable_url(settings.tracking_uri)
    for uri in {settings.tracking_uri, settings.registry_uri or settings.tracking_uri}:
        path = _sqlite_path(uri)
        if path is not None and not path.exists():
            return Check(
                "registry", Status.FAIL, f"no MLflow store at {path}", "run `tidings bootstrap` to train a champion"
            )
    try:
        with _fail_fast():
            _client(settings).search_registered_models(max_results=1)
    except Exception as e:  # any failure to answer is the finding
        return Check(
            "registry",
            Status.FAIL,
            f"MLflow at {shown} did not answer: {_first_line(e)}",
            "check TIDINGS_MLFLOW_URI / TIDINGS_REGISTRY_URI and that the tracking server is running",
        )
    return Check("registry", Status.OK, f"MLflow at {shown} answers")


def check_champion(settings: Settings) -> tuple[Check, ModelRef | None]:
    """The registered model has a champion alias."""
    from mlflow.exceptions import MlflowException

    try:
        with _fail_fast():
            version = _client(settings).get_model_version_by_alias(settings.model_name, CHAMPION)
    except MlflowException:
        check = Check(
            "registry.champion",
            Status.FAIL,
            f"model {settings.model_name!r} has no @{CHAMPION} alias",
            "run `tidings bootstrap`, or `tidings train` and let the gate promote a version",
        )
        return check, None
    ref = ModelRef.from_mlflow(version)
    return Check("registry.champion", Status.OK, f"{ref.name} v{ref.version} is @{CHAMPION}"), ref


def check_serving(settings: Settings, ref: ModelRef) -> Check:
    """The champion loads, and which backend would serve it."""
    from serving.model_host import load_serving_model
    from training.registry import configure_mlflow

    try:
        configure_mlflow(settings)
        served = load_serving_model(ref, settings)
    except Exception as e:  # a champion that cannot load is the finding
        return Check(
            "champion",
            Status.FAIL,
            f"{ref.name} v{ref.version} does not load: {_first_line(e)}",
            "roll back with `tidings rollback`, or train and promote a new version",
        )
    asyncio.run(served.close())
    detail = f"v{ref.version} loads; serves on {served.backend} ({served.backend_reason})"
    if served.backend == "torch" and settings.serving_backend == "auto":
        return Check("champion", Status.WARN, detail, "torch serving is slower; see the reason above")
    return Check("champion", Status.OK, detail)


def _client(settings: Settings) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.registry_uri or settings.tracking_uri)


@contextlib.contextmanager
def _fail_fast() -> Iterator[None]:
    """Ask MLflow's HTTP client for one try with a short timeout (its defaults retry for minutes)."""
    wanted = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update({name: value for name, value in wanted.items() if saved[name] is None})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:"):
        return None
    database = make_url(uri).database
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser()


def _writable(path: Path) -> bool:
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            return False
        existing = existing.parent
    target = existing if existing.is_dir() else existing.parent
    return os.access(target, os.W_OK | os.X_OK) and (existing.is_dir() or os.access(existing, os.W_OK))


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]
