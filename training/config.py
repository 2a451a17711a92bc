"""Typed training configuration, read from `training/configs/*.yaml` and logged with every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from models.classifier import ClassifierSpec, HeadFitParams

PROFILES = ("fast", "finetune")


@dataclass
class SourceSpec:
    """One training input: the seed corpus, a public corpus split, or a file with a column mapping.

    `max_rows` caps the rows kept (a fixed hash order, the same on every machine). `rows_per_epoch`
    makes fine-tuning draw that many of the source's training rows afresh each epoch, so a big
    corpus is seen across epochs at the cost of a small one per epoch; the `fast` profile, which
    fits heads on embeddings, uses every row.
    """

    name: str
    split: str = "train"
    path: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    weight: float = 1.0
    max_rows: int | None = None
    heads: list[str] | None = None
    required: bool = True
    rows_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.rows_per_epoch is not None and self.rows_per_epoch < 1:
            raise ValueError(f"rows_per_epoch must be at least 1, got {self.rows_per_epoch}")


@dataclass
class FinetuneParams:
    """End-to-end fine-tuning of encoder and heads (the `finetune` profile).

    `runs` > 1 fine-tunes that many times from the same starting point (the pretrained encoder and
    one head initialisation), each run with its own data order and rotating samples (seeds `seed`,
    `seed + 1`, ...), and keeps the uniform mean of their weights (a model soup). Training takes
    `runs` times longer; prediction costs the same as one model.
    """

    epochs: int = 3
    batch_size: int = 32
    encoder_lr: float = 3e-5
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    freeze_embeddings: bool = True
    runs: int = 1

    def __post_init__(self) -> None:
        if self.runs < 1:
            raise ValueError(f"runs must be at least 1, got {self.runs}")


@dataclass
class TrainingConfig:
    """Everything that determines a trained model; `to_dict` is what MLflow logs.

    `calibrate_on` names the sources (by `name`) whose validation rows fit the temperatures and
    abstention cut-offs; None uses the whole validation split. Calibrating on the real messages
    alone keeps easy synthetic rows and another domain's tweets from setting the confidence that
    real messages get.
    """

    name: str = "default"
    profile: str = "fast"
    sources: list[SourceSpec] = field(default_factory=lambda: [SourceSpec("seed")])
    gate_sets: list[SourceSpec] = field(default_factory=lambda: [SourceSpec("seed", split="eval")])
    validation_fraction: float = 0.15
    seed: int = 13
    calibrate_on: list[str] | None = None
    taxonomy: str | None = None
    classifier: ClassifierSpec = field(default_factory=ClassifierSpec)
    heads: HeadFitParams = field(default_factory=HeadFitParams)
    finetune: FinetuneParams = field(default_factory=FinetuneParams)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, not {self.profile!r}")
        if not 0 < self.validation_fraction < 0.5:
            raise ValueError("validation_fraction must be between 0 and 0.5")
        if not self.sources:
            raise ValueError("a training config needs at least one source")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, the inverse of `from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainingConfig:
        """Build from a nested dict, rejecting unknown keys so typos fail loudly."""
        raw = dict(raw)
        _reject_unknown(cls, raw, "training config")
        nested = {
            "classifier": ClassifierSpec,
            "heads": HeadFitParams,
            "finetune": FinetuneParams,
        }
        for key, kind in nested.items():
            if key in raw:
                _reject_unknown(kind, raw[key], key)
                raw[key] = kind(**raw[key])
        for key in ("sources", "gate_sets"):
            if key in raw:
                specs = []
                for s in raw[key]:
                    _reject_unknown(SourceSpec, s, key)
                    specs.append(SourceSpec(**s))
                raw[key] = specs
        return cls(**raw)

    @classmethod
    def from_yaml(cls, path: Path | str) -> TrainingConfig:
        """Read a YAML config file."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(yaml.safe_load(f) or {})


def _reject_unknown(kind: type, raw: dict[str, Any], where: str) -> None:
    allowed = {f.name for f in fields(kind)}
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {sorted(unknown)}; allowed: {sorted(allowed)}")
