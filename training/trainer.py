"""The trainer: data assembly, fitting, calibration, evaluation, MLflow tracking, promotion."""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from data.dataset import DedupeReport, dedupe, fingerprint, near_duplicate_key, train_validation_split
from data.schema import LabelledMessage
from data.settings import Settings, get_settings
from data.taxonomy import Taxonomy, default_taxonomy, load_taxonomy
from evaluation.plots import confusion_png, reliability_png
from evaluation.scoring import evaluate_items
from models.cache import CachedEncoder
from models.classifier import ClassifierSpec, MessageClassifier, package_versions
from models.encoders import Encoder, load_encoder
from training.config import TrainingConfig
from training.finetune import WeightAverage, finetune, finetuned_modules
from training.gate import MAX_DROP, GateVerdict, compare, per_class_table
from training.registry import (
    CHALLENGER,
    CHAMPION,
    ModelRef,
    configure_mlflow,
    load_version,
    model_by_alias,
    promote,
    set_alias,
)
from training.sources import LoadedSource, SourceUnavailable, load_source, source_label

console = Console(stderr=True)


@dataclass
class TrainingData:
    """The assembled, deduplicated training and validation sets, and how they were made."""

    train: list[LabelledMessage]
    validation: list[LabelledMessage]
    gate_sets: dict[str, list[LabelledMessage]]
    sources: list[LoadedSource]
    dedupe: DedupeReport
    skipped: list[str] = field(default_factory=list)

    def fingerprint(self) -> dict[str, object]:
        """Hashes of every input file and the row counts that went in."""
        rows = {s.label: len(s.result.items) for s in self.sources}
        rows |= {"train": len(self.train), "validation": len(self.validation)}
        return fingerprint([f for s in self.sources for f in s.files], rows)


@dataclass
class TrainingResult:
    """What a training run produced."""

    model: MessageClassifier
    metrics: dict[str, dict[str, dict[str, Any]]]
    run_id: str | None = None
    version: str | None = None
    verdict: GateVerdict | None = None


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar; yields the function that advances it."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def assemble(config: TrainingConfig, taxonomy: Taxonomy, strict_gate_sets: Collection[str] = ()) -> TrainingData:
    """Load every source, deduplicate across them, split deterministically, load gate sets.

    Training rows whose text equals a gate set's are always left out; for the gate sets named in
    `strict_gate_sets`, near-duplicates (`near_duplicate_key`) are left out too.
    """
    loaded, skipped = [], []
    for spec in config.sources:
        try:
            source = load_source(spec, taxonomy)
        except SourceUnavailable as e:
            skipped.append(f"{source_label(spec)} ({e})")
            continue
        if source.result.rejected:
            console.print(f"[yellow]{source.label}: {source.result.summary()}; first: {source.result.rejected[0]}")
        loaded.append(source)
    gate_sets = {}
    for spec in config.gate_sets:
        try:
            gate_sets[source_label(spec)] = load_source(spec, taxonomy).result.items
        except SourceUnavailable as e:
            skipped.append(f"gate {source_label(spec)} ({e})")
    held_out = {item.message.text.strip().lower() for items in gate_sets.values() for item in items}
    strict = {
        near_duplicate_key(item.message.text)
        for name, items in gate_sets.items()
        if name in strict_gate_sets
        for item in items
    } - {""}
    pool = [
        item
        for s in loaded
        for item in s.result.items
        if item.message.text.strip().lower() not in held_out and near_duplicate_key(item.message.text) not in strict
    ]
    unique, report = dedupe(pool)
    train, validation = train_validation_split(unique, config.validation_fraction, seed=config.seed)
    return TrainingData(train, validation, gate_sets, loaded, report, skipped)


def rotation_quotas(config: TrainingConfig, groups: Collection[str]) -> dict[str, int]:
    """Rows per epoch for each source with `rows_per_epoch` that has training rows, by source name."""
    present = set(groups)
    return {s.name: s.rows_per_epoch for s in config.sources if s.rows_per_epoch and s.name in present}


def calibration_rows(config: TrainingConfig, validation: list[LabelledMessage]) -> list[LabelledMessage]:
    """The validation rows that fit calibration: those of `config.calibrate_on`, or all of them."""
    if config.calibrate_on is None:
        return validation
    rows = [item for item in validation if item.source in config.calibrate_on]
    if not rows:
        raise ValueError(f"no validation rows from calibrate_on sources {config.calibrate_on}")
    return rows


def build_encoder(config: TrainingConfig, settings: Settings) -> Encoder:
    """The configured encoder (or the settings' override), cached on disk when frozen."""
    name = settings.encoder or config.classifier.encoder
    encoder = load_encoder(name, max_seq_length=config.classifier.max_seq_length)
    if config.profile == "fast":
        return CachedEncoder(encoder, settings.cache_dir)
    return encoder


class Trainer:
    """Trains a `MessageClassifier` from a `TrainingConfig` and tracks the run in MLflow.

    The keyword options serve retraining: `strict_gate_sets` (see `assemble`), `require_improvement`
    and `min_improvement` (see `gate.compare`), and `run_tags` / `run_params` logged on the run.
    """

    def __init__(
        self,
        config: TrainingConfig,
        settings: Settings | None = None,
        *,
        strict_gate_sets: Collection[str] = (),
        require_improvement: bool = False,
        min_improvement: float = 0.0,
        run_tags: Mapping[str, str] | None = None,
        run_params: Mapping[str, object] | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or get_settings()
        self.strict_gate_sets = frozenset(strict_gate_sets)
        self.require_improvement = require_improvement
        self.min_improvement = min_improvement
        self.run_tags = dict(run_tags or {})
        self.run_params = dict(run_params or {})
        self.champion_metrics_: dict[str, dict[str, dict[str, Any]]] | None = None
        self.taxonomy = load_taxonomy(config.taxonomy) if config.taxonomy else default_taxonomy()

    def fit(self, data: TrainingData) -> MessageClassifier:
        """Fit (and for `finetune`, fine-tune) then calibrate on the validation split."""
        torch.set_num_threads(self.settings.threads)
        texts = [i.message.text for i in data.train]
        labels = [i.labels.model_dump() for i in data.train]
        weights = np.array([i.weight for i in data.train], dtype=np.float32)
        if self.config.profile == "finetune":
            model = self._finetune(data, texts, labels, weights)
        else:
            model = self._new_model()
            targets = model.encode_targets(labels)
            with progress_bar("encoding training messages", len(texts)) as advance:
                embeddings = model.embed(texts, progress=advance)
            with progress_bar("fitting heads", self.config.heads.epochs) as advance:
                model.fit(embeddings, targets, weights, self.config.heads, progress=advance)
        calibration = calibration_rows(self.config, data.validation)
        val_texts = [i.message.text for i in calibration]
        with progress_bar("calibrating on validation", len(val_texts)) as advance:
            val_embeddings = model.embed(val_texts, progress=advance)
        model.calibrate(val_embeddings, model.encode_targets([i.labels.model_dump() for i in calibration]))
        return model

    def _new_model(self) -> MessageClassifier:
        encoder = build_encoder(self.config, self.settings)
        spec = ClassifierSpec.from_dict({**self.config.classifier.to_dict(), "encoder": encoder.name})
        return MessageClassifier(self.taxonomy, encoder, spec)

    def _finetune(
        self, data: TrainingData, texts: list[str], labels: list[dict[str, str | None]], weights: np.ndarray
    ) -> MessageClassifier:
        """Fine-tune `finetune.runs` models from one starting point and keep the mean of their weights."""
        params = self.config.finetune
        groups = [i.source for i in data.train]
        quotas = rotation_quotas(self.config, groups)
        per_epoch = sum(min(quotas.get(g, n), n) for g, n in Counter(groups).items())
        # Seeded so a config's heads start from the same weights on every machine, and every run
        # of a soup shares them: runs that leave one start stay close enough to average.
        torch.manual_seed(self.config.seed)
        soup = self._new_model()
        start = copy.deepcopy(soup.net_.state_dict())
        average = WeightAverage(finetuned_modules(soup)) if params.runs > 1 else None
        with progress_bar("fine-tuning encoder + heads", params.runs * params.epochs * per_epoch) as advance:
            for run in range(params.runs):
                model = soup if run == 0 else self._new_model()
                model.net_.load_state_dict(start)

                def log_epoch(epoch: int, loss: float, first: int = run * params.epochs) -> None:
                    # Epochs are numbered across runs so each run's losses keep their own steps.
                    self._log_epoch(first + epoch, loss)

                finetune(
                    model,
                    texts,
                    model.encode_targets(labels),
                    weights,
                    params,
                    self.config.heads.class_weight,
                    self.config.seed + run,
                    advance,
                    on_epoch=log_epoch,
                    groups=groups,
                    quotas=quotas,
                )
                if average is not None:
                    self._log_soup_member(run, model, data.gate_sets)
                    average.add(finetuned_modules(model))
        if average is not None:
            average.apply()
        return soup

    @staticmethod
    def _log_soup_member(run: int, model: MessageClassifier, gate_sets: Mapping[str, list[LabelledMessage]]) -> None:
        """Log one soup run's own gate-set scores, so the run shows what averaging changed."""
        import mlflow

        for set_name, items in gate_sets.items():
            scores = {
                f"{head}.{key}": m[key]
                for head, m in evaluate_items(model, items).items()
                for key in ("macro_f1", "qwk")
                if key in m
            }
            console.print(f"soup run {run} on {set_name}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
            if mlflow.active_run():
                prefix = f"soup_run{run}.{set_name.replace(':', '_')}"
                mlflow.log_metrics({f"{prefix}.{k}": v for k, v in scores.items()})

    @staticmethod
    def _log_epoch(epoch: int, loss: float) -> None:
        import mlflow

        console.print(f"epoch {epoch}: mean loss {loss:.4f}")
        if mlflow.active_run():
            mlflow.log_metric("finetune_loss", loss, step=epoch)

    def evaluate(self, model: MessageClassifier, data: TrainingData) -> dict[str, dict[str, dict[str, Any]]]:
        """Metrics on the validation split and every gate set."""
        sets = {"validation": data.validation, **data.gate_sets}
        out = {}
        total = sum(len(v) for v in sets.values())
        with progress_bar("evaluating", total) as advance:
            for name, items in sets.items():
                out[name] = evaluate_items(model, items)
                advance(len(items))
        return out

    def run(self, register: bool = True) -> TrainingResult:
        """The whole run: assemble, fit, evaluate, log to MLflow, register and gate."""
        import mlflow

        configure_mlflow(self.settings)
        data = assemble(self.config, self.taxonomy, self.strict_gate_sets)
        if not data.train:
            raise ValueError("no training rows: every source was empty or unavailable")
        with mlflow.start_run(run_name=f"train-{self.config.name}") as run:
            self._log_inputs(data)
            model = self.fit(data)
            metrics = self.evaluate(model, data)
            model.metrics_ = {s: {h: _headline(m) for h, m in heads.items()} for s, heads in metrics.items()}
            self._log_metrics(metrics)
            result = TrainingResult(model, metrics, run_id=run.info.run_id)
            if register:
                result.version, result.verdict = self._register_and_gate(model, data, metrics)
        return result

    def _log_inputs(self, data: TrainingData) -> None:
        import mlflow

        params = _flatten(self.config.to_dict())
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        fp = data.fingerprint()
        mlflow.log_dict(fp, "dataset/fingerprint.json")
        mlflow.log_dict(self.config.to_dict(), "config.json")
        mlflow.log_dict(package_versions(), "environment/packages.json")
        label_counts = {
            head: dict(Counter(i.labels.get(head) for i in data.train if i.labels.get(head)))
            for head in self.taxonomy.head_names
        }
        mlflow.log_dict(
            {
                "sources": {s.label: s.result.summary() for s in data.sources},
                "skipped": data.skipped,
                "dedupe": vars(data.dedupe),
                "label_counts": label_counts,
            },
            "dataset/summary.json",
        )
        rejected = [str(r) for s in data.sources for r in s.result.rejected]
        if rejected:
            mlflow.log_text("\n".join(rejected), "dataset/rejected_rows.txt")
        mlflow.set_tags(
            {
                "dataset.digest": str(fp["digest"]),
                "git.commit": _git_commit(),
                "profile": self.config.profile,
                "config": self.config.name,
                **self.run_tags,
            }
        )
        if self.run_params:
            mlflow.log_params({k: str(v)[:500] for k, v in self.run_params.items()})
        mlflow.log_metrics({"rows_train": len(data.train), "rows_validation": len(data.validation)})

    def _log_metrics(self, metrics: dict[str, dict[str, dict[str, Any]]]) -> None:
        import mlflow

        flat = {}
        for set_name, heads in metrics.items():
            safe = set_name.replace(":", "_")
            for head, m in heads.items():
                for key in (
                    "macro_f1",
                    "macro_recall",
                    "accuracy",
                    "ece",
                    "qwk",
                    "coverage_at_90_precision",
                    "abstention_rate",
                ):
                    if key in m:
                        flat[f"{safe}.{head}.{key}"] = m[key]
                for label, pc in m["per_class"].items():
                    if pc["support"]:
                        flat[f"{safe}.{head}.f1.{label}"] = pc["f1"]
        mlflow.log_metrics(flat)
        mlflow.log_dict(metrics, "metrics/all.json")
        with tempfile.TemporaryDirectory() as tmp:
            for set_name, heads in metrics.items():
                safe = set_name.replace(":", "_")
                for head, m in heads.items():
                    mlflow.log_artifact(
                        str(confusion_png(m, f"{safe} {head}", Path(tmp) / f"confusion-{safe}-{head}.png")), "plots"
                    )
                    mlflow.log_artifact(
                        str(reliability_png(m, f"{safe} {head}", Path(tmp) / f"reliability-{safe}-{head}.png")), "plots"
                    )

    def _register_and_gate(
        self, model: MessageClassifier, data: TrainingData, metrics: dict[str, dict[str, dict[str, Any]]]
    ) -> tuple[str, GateVerdict]:
        import mlflow

        with tempfile.TemporaryDirectory() as tmp:
            saved = model.save(Path(tmp) / "classifier", extra={"training_config": self.config.to_dict()})
            info = mlflow.pyfunc.log_model(
                name="classifier",
                python_model=str(Path(__file__).resolve().parent.parent / "models" / "pyfunc.py"),
                artifacts={"classifier": str(saved)},
                registered_model_name=self.settings.model_name,
                pip_requirements=[f"{k}=={v}" for k, v in package_versions().items() if k != "python"],
            )
        version = str(info.registered_model_version)
        set_alias(CHALLENGER, version, self.settings)
        verdict = self.gate(data, {name: metrics[name] for name in data.gate_sets})
        mlflow.log_dict(
            {"promote": verdict.promote, "reason": verdict.reason, "rows": verdict.rows}, "gate/verdict.json"
        )
        mlflow.log_text(verdict.table(), "gate/comparison.md")
        ours = {name: metrics[name] for name in data.gate_sets}
        mlflow.log_text(per_class_table(ours, self.champion_metrics_), "gate/per_class.md")
        mlflow.set_tags({"gate.promote": str(verdict.promote), "gate.reason": verdict.reason, "model.version": version})
        if verdict.promote:
            promote(version, self.settings)
        console.print(f"[bold]gate:[/] {'promoted' if verdict.promote else 'kept champion'}: {verdict.reason}")
        return version, verdict

    def gate(self, data: TrainingData, ours: dict[str, dict[str, dict[str, Any]]]) -> GateVerdict:
        """Compare the challenger's gate-set metrics (`ours`) with the champion's on the same sets."""
        champion_ref = model_by_alias(CHAMPION, self.settings)
        theirs: dict[str, dict[str, dict[str, Any]]] | None = None
        if champion_ref is not None:
            champion = _load_or_none(champion_ref, self.settings)
            theirs = (
                {name: evaluate_items(champion, items) for name, items in data.gate_sets.items()} if champion else {}
            )
        self.champion_metrics_ = theirs
        return compare(
            ours,
            theirs,
            max_drop=MAX_DROP,
            require_improvement=self.require_improvement,
            min_improvement=self.min_improvement,
        )


def _load_or_none(ref: ModelRef, settings: Settings) -> MessageClassifier | None:
    try:
        return load_version(ref, settings)
    except (OSError, ValueError, KeyError) as e:
        console.print(f"[red]champion v{ref.version} cannot be loaded ({e}); treating the registry as empty")
        return None


def _headline(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m[k] for k in ("macro_f1", "macro_recall", "accuracy", "ece", "qwk", "n") if k in m}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= _flatten(v, f"{key}.")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            out[key] = json.dumps(v, sort_keys=True)
        else:
            out[key] = v
    return out


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
