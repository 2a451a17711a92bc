"""A Tidings service for tests: a tiny model registered in a fresh MLflow store, a store, keys per role."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from data.settings import Settings, get_settings
from serving.store.db import make_engine, make_sessionmaker, upgrade
from serving.store.keys import Role, create_key
from tests.conftest import tiny_config, tiny_rows, write_jsonl
from training.config import TrainingConfig
from training.trainer import Trainer


@dataclass
class Deployment:
    """Settings with a champion in the registry, a migrated store and one key per role."""

    settings: Settings
    keys: dict[str, str]
    config: TrainingConfig


@contextlib.contextmanager
def deployment(root: Path, **env: str) -> Iterator[Deployment]:
    """Set up under `root` with `TIDINGS_*` overrides; settings are restored afterwards."""
    rows = tiny_rows()
    train = write_jsonl(root / "train.jsonl", rows)
    gate = write_jsonl(root / "gate.jsonl", [{**r, "text": r["text"] + " thanks"} for r in rows])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIDINGS_DATA_DIR", str(root / "var"))
        mp.setenv("TIDINGS_REGISTRY_POLL_SECONDS", "0")
        for name in ("TIDINGS_MLFLOW_URI", "TIDINGS_DATABASE_URL", "TIDINGS_AUTH_DISABLED", "TIDINGS_ENCODER"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        get_settings.cache_clear()
        settings = get_settings()
        config = TrainingConfig.from_dict(tiny_config(train, gate))
        Trainer(config, settings).run()
        upgrade(settings.store_url)
        engine = make_engine(settings.store_url)
        keys = {}
        with make_sessionmaker(engine)() as session:
            for role in Role:
                keys[role.value] = create_key(session, role, f"test {role.value}")[1]
            session.commit()
        engine.dispose()
        try:
            yield Deployment(settings, keys, config)
        finally:
            get_settings.cache_clear()
