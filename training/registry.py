"""The MLflow tracking store and model registry: where runs go and which model is champion."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data.settings import Settings, get_settings
from models.classifier import MessageClassifier

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
ROLLED_BACK = "rolled-back"


def configure_mlflow(settings: Settings | None = None) -> str:
    """Point MLflow at the configured tracking store and make sure the experiment exists."""
    import mlflow

    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The embedded store logs alembic migrations at INFO; keep the CLI output readable.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.registry_uri or settings.tracking_uri)
    if mlflow.get_experiment_by_name(settings.experiment) is None:
        location = None if settings.mlflow_uri else settings.artifact_root.as_uri()
        mlflow.create_experiment(settings.experiment, artifact_location=location)
    mlflow.set_experiment(settings.experiment)
    return settings.tracking_uri


@dataclass(frozen=True)
class ModelRef:
    """A registered model version and what we know about it."""

    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    created: int | None
    tags: dict[str, str]

    @classmethod
    def from_mlflow(cls, mv: Any) -> ModelRef:
        """From an MLflow `ModelVersion`."""
        return cls(
            name=mv.name,
            version=str(mv.version),
            run_id=mv.run_id,
            aliases=tuple(mv.aliases or ()),
            created=mv.creation_timestamp,
            tags=dict(mv.tags or {}),
        )


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def model_by_alias(alias: str, settings: Settings | None = None) -> ModelRef | None:
    """The version holding an alias, or None when the registry has no such model or alias.

    Any other registry error (unreachable server, permissions, a broken store) is raised: "no
    champion" would make `tidings bootstrap` train a new one and serving drop the one it has.
    """
    from mlflow.exceptions import MlflowException

    settings = settings or get_settings()
    configure_mlflow(settings)
    try:
        return ModelRef.from_mlflow(_client().get_model_version_by_alias(settings.model_name, alias))
    except MlflowException as e:
        if is_not_found(e):
            return None
        raise


def is_not_found(error: Exception) -> bool:
    """Whether an MLflow error says a registered model or alias does not exist (local store or server)."""
    code = getattr(error, "error_code", None)
    # A missing alias is INVALID_PARAMETER_VALUE "Registered model alias ... not found." in MLflow 3.
    return code == "RESOURCE_DOES_NOT_EXIST" or (code == "INVALID_PARAMETER_VALUE" and "not found" in str(error))


def list_versions(settings: Settings | None = None) -> list[ModelRef]:
    """Every registered version of the model, newest first, with its aliases."""
    from mlflow.exceptions import MlflowException

    settings = settings or get_settings()
    configure_mlflow(settings)
    client = _client()
    try:
        found = client.search_model_versions(f"name = '{settings.model_name}'")
    except MlflowException as e:
        if is_not_found(e):
            return []
        raise
    # Search results may omit aliases; the full record has them.
    refs = [ModelRef.from_mlflow(client.get_model_version(mv.name, mv.version)) for mv in found]
    return sorted(refs, key=lambda r: int(r.version), reverse=True)


def set_alias(alias: str, version: str, settings: Settings | None = None) -> None:
    """Point an alias at a version."""
    settings = settings or get_settings()
    configure_mlflow(settings)
    _client().set_registered_model_alias(settings.model_name, alias, str(version))


def promote(version: str, settings: Settings | None = None) -> None:
    """Make a version champion, remembering the one it replaces as previous-champion."""
    current = model_by_alias(CHAMPION, settings)
    if current is not None and current.version != str(version):
        set_alias(PREVIOUS_CHAMPION, current.version, settings)
    set_alias(CHAMPION, version, settings)


class NoPreviousChampion(LookupError):
    """There is no previous champion to roll back to."""


def rollback(settings: Settings | None = None) -> tuple[ModelRef, ModelRef]:
    """Make the previous champion champion again; returns (restored, rolled back from).

    The version rolled back from gets the `rolled-back` alias and `rolled_back_to` / `rolled_back_at`
    tags. `previous-champion` is removed, so a second rollback refuses rather than flipping back.
    Raises NoPreviousChampion when there is no champion or no previous champion to restore.
    """
    settings = settings or get_settings()
    current = model_by_alias(CHAMPION, settings)
    previous = model_by_alias(PREVIOUS_CHAMPION, settings)
    if current is None:
        raise NoPreviousChampion("the registry has no champion, so there is nothing to roll back")
    if previous is None or previous.version == current.version:
        raise NoPreviousChampion(
            f"no previous champion to roll back to: version {current.version} is champion and no "
            f"'{PREVIOUS_CHAMPION}' alias points at another version"
        )
    client = _client()
    set_alias(CHAMPION, previous.version, settings)
    set_alias(ROLLED_BACK, current.version, settings)
    client.delete_registered_model_alias(settings.model_name, PREVIOUS_CHAMPION)
    client.set_model_version_tag(settings.model_name, current.version, "rolled_back_to", previous.version)
    client.set_model_version_tag(
        settings.model_name, current.version, "rolled_back_at", datetime.now(UTC).isoformat(timespec="seconds")
    )
    restored = model_by_alias(CHAMPION, settings)
    rolled_back = model_by_alias(ROLLED_BACK, settings)
    assert restored is not None and rolled_back is not None
    return restored, rolled_back


def download_classifier(ref: ModelRef, settings: Settings | None = None) -> Path:
    """Fetch a version's classifier directory into the local model cache (once per version)."""
    import mlflow

    settings = settings or get_settings()
    target = settings.data_dir / "models" / ref.name / ref.version
    if (target / "config.json").exists():
        return target
    # Several workers may fetch the same new champion at once: each downloads into its own folder
    # and the first to finish renames it into place; the others find it there and drop theirs.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{ref.version}.partial-", dir=target.parent))
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{ref.name}/{ref.version}", dst_path=str(tmp))
        found = next(Path(local).rglob("config.json"), None)
        if found is None:
            raise FileNotFoundError(f"model {ref.name} v{ref.version} has no classifier config.json")
        with contextlib.suppress(OSError):  # another process placed it first
            found.parent.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not (target / "config.json").exists():
        raise FileNotFoundError(f"model {ref.name} v{ref.version} could not be placed at {target}")
    return target


def load_version(ref: ModelRef, settings: Settings | None = None) -> MessageClassifier:
    """Load a registered version's classifier."""
    return MessageClassifier.load(download_classifier(ref, settings))
