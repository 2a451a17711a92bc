"""`MessageClassifier`: one shared encoder pass per message, one head per taxonomy axis."""

from __future__ import annotations

import copy
import json
import platform
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from data.taxonomy import Taxonomy
from models.calibration import confidence_threshold, fit_temperature, softmax
from models.encoders import Encoder, load_encoder
from models.prediction import AbstainReason, HeadPrediction, Prediction

FORMAT_VERSION = 1
MISSING = -1
_HAS_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass
class HeadFitParams:
    """Hyperparameters for fitting heads on fixed embeddings."""

    epochs: int = 60
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    class_weight: str = "balanced"
    label_smoothing: float = 0.0
    seed: int = 13


@dataclass
class ClassifierSpec:
    """The architecture and serving policy saved beside the weights."""

    encoder: str = "minilm-l6.v1"
    hidden: int = 256
    dropout: float = 0.1
    max_seq_length: int = 128
    target_precision: dict[str, float] = field(
        default_factory=lambda: {"intent": 0.8, "urgency": 0.8, "sentiment": 0.85}
    )
    min_margin: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ClassifierSpec:
        """Inverse of `to_dict`, ignoring unknown keys from newer versions."""
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class HeadsNet(torch.nn.Module):
    """Small per-head networks over a shared sentence embedding."""

    def __init__(self, dim: int, head_sizes: Mapping[str, int], hidden: int, dropout: float) -> None:
        super().__init__()
        layers: dict[str, torch.nn.Module] = {}
        for name, size in head_sizes.items():
            if hidden > 0:
                layers[name] = torch.nn.Sequential(
                    torch.nn.Dropout(dropout),
                    torch.nn.Linear(dim, hidden),
                    torch.nn.GELU(),
                    torch.nn.Dropout(dropout),
                    torch.nn.Linear(hidden, size),
                )
            else:
                layers[name] = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(dim, size))
        self.heads = torch.nn.ModuleDict(layers)

    def forward(self, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per head."""
        return {name: head(embeddings) for name, head in self.heads.items()}


def masked_loss(
    logits: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    weights: torch.Tensor,
    class_weights: Mapping[str, torch.Tensor | None],
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Sum over heads of the weighted mean cross-entropy over rows labelled on that head.

    Rows whose target is MISSING for a head add nothing to that head's loss, so corpora labelled
    on one axis only still train their head.
    """
    total = logits[next(iter(logits))].new_zeros(())
    for name, head_logits in logits.items():
        y = targets[name]
        mask = y != MISSING
        if not bool(mask.any()):
            continue
        losses = torch.nn.functional.cross_entropy(
            head_logits[mask],
            y[mask],
            weight=class_weights.get(name),
            reduction="none",
            label_smoothing=label_smoothing,
        )
        w = weights[mask]
        total = total + (losses * w).sum() / w.sum()
    return total


class MessageClassifier:
    """Predicts every taxonomy head for a message from one encoder pass.

    Fitted attributes end in `_`: `net_` (the heads), `temperatures_` and `thresholds_`
    (per-head calibration and abstention cut-offs) and `metrics_` (validation figures).
    """

    def __init__(self, taxonomy: Taxonomy, encoder: Encoder, spec: ClassifierSpec | None = None) -> None:
        self.taxonomy = taxonomy
        self.encoder = encoder
        # The encoder actually used is what a saved model must name, whatever the spec said.
        self.spec = ClassifierSpec.from_dict({**(spec or ClassifierSpec()).to_dict(), "encoder": encoder.name})
        self.net_ = HeadsNet(
            encoder.dim,
            {h.name: len(h.labels) for h in taxonomy.heads.values()},
            self.spec.hidden,
            self.spec.dropout,
        )
        self.temperatures_: dict[str, float] = {h: 1.0 for h in taxonomy.head_names}
        self.thresholds_: dict[str, float] = {h: 0.0 for h in taxonomy.head_names}
        self.metrics_: dict[str, Any] = {}

    @property
    def head_names(self) -> tuple[str, ...]:
        """Heads in taxonomy order."""
        return self.taxonomy.head_names

    def with_encoder(self, encoder: Encoder) -> MessageClassifier:
        """A copy sharing the fitted heads, calibration, metrics and spec that embeds with `encoder`.

        For serving the same model through another backend of the same encoder (e.g. ONNX);
        save the original, not the copy.
        """
        if encoder.dim != self.encoder.dim:
            raise ValueError(f"encoder {encoder.name} gives {encoder.dim}-d vectors, the heads take {self.encoder.dim}")
        twin = copy.copy(self)
        twin.encoder = encoder
        return twin

    def encode_targets(self, labels: Sequence[Mapping[str, str | None]]) -> dict[str, np.ndarray]:
        """Label dicts to per-head index arrays, MISSING where a row has no label."""
        out = {}
        for head in self.head_names:
            h = self.taxonomy[head]
            out[head] = np.array(
                [MISSING if (label := row.get(head)) is None else h.index(label) for row in labels], dtype=np.int64
            )
        return out

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Shared encoder pass."""
        return self.encoder.encode(list(texts), progress=progress)

    def fit(
        self,
        embeddings: np.ndarray,
        targets: Mapping[str, np.ndarray],
        sample_weight: np.ndarray | None = None,
        params: HeadFitParams | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> MessageClassifier:
        """Fit the heads on fixed embeddings with per-head masked losses."""
        params = params or HeadFitParams()
        generator = torch.Generator().manual_seed(params.seed)
        torch.manual_seed(params.seed)
        x = torch.as_tensor(embeddings, dtype=torch.float32)
        y = {h: torch.as_tensor(targets[h]) for h in self.head_names}
        w = torch.as_tensor(sample_weight if sample_weight is not None else np.ones(len(x)), dtype=torch.float32)
        class_weights = self.class_weights(targets, params.class_weight)
        optimiser = torch.optim.AdamW(self.net_.parameters(), lr=params.lr, weight_decay=params.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(params.epochs, 1))
        self.net_.train()
        for _ in range(params.epochs):
            for idx in torch.randperm(len(x), generator=generator).split(params.batch_size):
                loss = masked_loss(
                    self.net_(x[idx]), {h: t[idx] for h, t in y.items()}, w[idx], class_weights, params.label_smoothing
                )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            schedule.step()
            if progress:
                progress(1)
        self.net_.eval()
        return self

    def class_weights(self, targets: Mapping[str, np.ndarray], mode: str) -> dict[str, torch.Tensor | None]:
        """Per-head class weights: 'balanced' (inverse frequency, capped) or 'none'."""
        out: dict[str, torch.Tensor | None] = {}
        for head in self.head_names:
            if mode != "balanced":
                out[head] = None
                continue
            y = targets[head][targets[head] != MISSING]
            counts = np.bincount(y, minlength=len(self.taxonomy[head].labels)).astype(np.float64)
            weights = np.where(counts > 0, len(y) / (len(counts) * np.maximum(counts, 1)), 0.0)
            # Capping keeps a class with a handful of examples from dominating the loss.
            out[head] = torch.as_tensor(np.clip(weights, 0.0, 10.0), dtype=torch.float32) if len(y) else None
        return out

    def logits(self, embeddings: np.ndarray) -> dict[str, np.ndarray]:
        """Uncalibrated logits per head."""
        self.net_.eval()
        with torch.inference_mode():
            out = self.net_(torch.as_tensor(embeddings, dtype=torch.float32))
        return {h: v.numpy() for h, v in out.items()}

    def proba_from_embeddings(self, embeddings: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated class probabilities per head."""
        return {h: softmax(v, self.temperatures_[h]) for h, v in self.logits(embeddings).items()}

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Calibrated class probabilities per head for raw texts."""
        return self.proba_from_embeddings(self.embed(texts))

    def calibrate(self, embeddings: np.ndarray, targets: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
        """Fit each head's temperature, then its abstention cut-off for the target precision."""
        report = {}
        for head, logits in self.logits(embeddings).items():
            mask = targets[head] != MISSING
            y = targets[head][mask]
            self.temperatures_[head] = fit_temperature(logits[mask], y)
            probs = softmax(logits[mask], self.temperatures_[head])
            target = self.spec.target_precision.get(head, 0.8)
            self.thresholds_[head] = confidence_threshold(probs, y, target)
            report[head] = {
                "temperature": self.temperatures_[head],
                "threshold": self.thresholds_[head],
                "n": int(mask.sum()),
            }
        return report

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Labels, calibrated probabilities and abstentions for each text."""
        texts = list(texts)
        scoped = [i for i, t in enumerate(texts) if t.strip()]
        probs = self.proba_from_embeddings(self.embed([texts[i] for i in scoped])) if scoped else {}
        row_of = {i: r for r, i in enumerate(scoped)}
        return [
            self._prediction(text, {h: p[row_of[i]] for h, p in probs.items()} if i in row_of else None)
            for i, text in enumerate(texts)
        ]

    def predict_from_embeddings(self, texts: Sequence[str], embeddings: np.ndarray) -> list[Prediction]:
        """Like `predict`, reusing embeddings already computed for these texts."""
        probs = self.proba_from_embeddings(embeddings)
        return [self._prediction(t, {h: p[i] for h, p in probs.items()}) for i, t in enumerate(texts)]

    def _prediction(self, text: str, probs: Mapping[str, np.ndarray] | None) -> Prediction:
        heads = {}
        for head in self.head_names:
            labels = self.taxonomy[head].labels
            p = probs[head] if probs is not None else np.full(len(labels), 1.0 / len(labels))
            order = np.argsort(-p)
            top, margin = float(p[order[0]]), float(p[order[0]] - p[order[1]]) if len(p) > 1 else 1.0
            reason = None
            if not text.strip():
                reason = AbstainReason.EMPTY_TEXT
            elif not _HAS_WORD.search(text):
                reason = AbstainReason.OUT_OF_SCOPE
            elif top < self.thresholds_[head]:
                reason = AbstainReason.LOW_CONFIDENCE
            elif margin < self.spec.min_margin:
                reason = AbstainReason.LOW_MARGIN
            heads[head] = HeadPrediction(
                label=labels[int(order[0])],
                probability=round(top, 6),
                probabilities={label: round(float(v), 6) for label, v in zip(labels, p, strict=True)},
                abstained=reason is not None,
                reason=reason,
            )
        return Prediction(heads)

    def save(self, path: Path | str, extra: Mapping[str, Any] | None = None) -> Path:
        """Write `config.json`, `heads.safetensors` and, for a fine-tuned encoder, `encoder/`."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.net_.state_dict().items()}, str(path / "heads.safetensors"))
        finetuned = self.encoder.finetuned
        if finetuned:
            self.encoder.save(path / "encoder")  # type: ignore[attr-defined]
        config = {
            "format_version": FORMAT_VERSION,
            "kind": "tidings.MessageClassifier",
            "spec": self.spec.to_dict(),
            "encoder": {**self.encoder.describe(), "finetuned": finetuned},
            "taxonomy": self.taxonomy.to_dict(),
            "temperatures": self.temperatures_,
            "thresholds": self.thresholds_,
            "metrics": self.metrics_,
            "versions": package_versions(),
            **(dict(extra) if extra else {}),
        }
        (path / "config.json").write_text(json.dumps(config, indent=2, default=str), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path | str) -> MessageClassifier:
        """Rebuild a classifier saved by `save`; reads JSON and safetensors only."""
        path = Path(path)
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if config.get("kind") != "tidings.MessageClassifier" or config.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"{path} is not a MessageClassifier this version can load")
        spec = ClassifierSpec.from_dict(config["spec"])
        taxonomy = Taxonomy.from_dict(config["taxonomy"])
        weights = path / "encoder" if config["encoder"].get("finetuned") else None
        encoder = load_encoder(spec.encoder, path=weights, max_seq_length=spec.max_seq_length)
        model = cls(taxonomy, encoder, spec)
        model.net_.load_state_dict(load_file(str(path / "heads.safetensors")))
        model.net_.eval()
        model.temperatures_ = {k: float(v) for k, v in config["temperatures"].items()}
        model.thresholds_ = {k: float(v) for k, v in config["thresholds"].items()}
        model.metrics_ = config.get("metrics", {})
        return model


MODEL_PACKAGES = ("torch", "numpy", "sentence-transformers", "transformers", "safetensors", "mlflow")


def package_versions(names: Sequence[str] = MODEL_PACKAGES) -> dict[str, str]:
    """Python's version and those of the installed `names` (default: what a saved model depends on)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out
