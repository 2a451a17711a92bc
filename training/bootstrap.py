"""Make sure the registry has a champion, training the default config when it has none."""

from __future__ import annotations

from data.settings import Settings, get_settings
from training.config import TrainingConfig
from training.registry import CHAMPION, ModelRef, model_by_alias
from training.trainer import Trainer, console


def ensure_champion(settings: Settings | None = None) -> ModelRef:
    """The champion's reference; trains and registers `settings.default_config` if there is none."""
    settings = settings or get_settings()
    ref = model_by_alias(CHAMPION, settings)
    if ref is not None:
        return ref
    console.print(f"[bold]no champion in the registry yet: training {settings.default_config.name}")
    Trainer(TrainingConfig.from_yaml(settings.default_config), settings).run()
    ref = model_by_alias(CHAMPION, settings)
    if ref is None:
        raise RuntimeError("training finished but no champion was set; see the MLflow run's gate verdict")
    return ref
