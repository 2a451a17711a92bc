"""Per-head quality metrics: macro-F1 and recall, accuracy, calibration error, QWK, coverage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, precision_recall_fscore_support, recall_score

from evaluation.intervals import bootstrap_intervals, calibrated_ece, ece_of_rows


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: the support-weighted gap between confidence and accuracy over equal-width bins."""
    if len(labels) == 0:
        return 0.0
    correct = (probs.argmax(axis=1) == labels).astype(float)
    return float(ece_of_rows(probs.max(axis=1)[None, :], correct[None, :], bins)[0])


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean confidence, accuracy and count per equal-width confidence bin (for reliability diagrams)."""
    conf = probs.max(axis=1) if len(labels) else np.zeros(0)
    correct = (probs.argmax(axis=1) == labels).astype(float) if len(labels) else np.zeros(0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        out.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "confidence": float(conf[mask].mean()) if mask.any() else 0.0,
                "accuracy": float(correct[mask].mean()) if mask.any() else 0.0,
                "count": int(mask.sum()),
            }
        )
    return out


def coverage_at_precision(probs: np.ndarray, labels: np.ndarray, precision: float = 0.9) -> float:
    """Largest share of messages that can be answered, most confident first, at `precision` or better."""
    if len(labels) == 0:
        return 0.0
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    order = np.argsort(-conf, kind="stable")
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.nonzero(running >= precision)[0]
    return float((ok.max() + 1) / len(labels)) if len(ok) else 0.0


def head_metrics(
    y_true: Sequence[int],
    probs: np.ndarray,
    labels: Sequence[str],
    ordinal: bool = False,
    abstained: Sequence[bool] | None = None,
    resamples: int = 0,
) -> dict[str, Any]:
    """Every figure for one head. Macro averages run over the classes present in truth or prediction.

    With `resamples`, adds `interval_95` (bootstrap intervals of the headline figures) and
    `ece_if_calibrated` (the ECE a perfectly calibrated model would show on this many messages).
    """
    y = np.asarray(y_true, dtype=int)
    pred = probs.argmax(axis=1)
    present = sorted(set(y.tolist()) | set(pred.tolist()))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=list(range(len(labels))), zero_division=0)
    out: dict[str, Any] = {
        "n": len(y),
        "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "macro_recall": float(recall_score(y, pred, labels=present, average="macro", zero_division=0)),
        "accuracy": float((pred == y).mean()) if len(y) else 0.0,
        "ece": expected_calibration_error(probs, y),
        "coverage_at_90_precision": coverage_at_precision(probs, y, 0.9),
        "per_class": {
            label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, label in enumerate(labels)
        },
        "reliability": reliability_bins(probs, y),
        "confusion": confusion_matrix(y, pred, labels=list(range(len(labels)))).tolist(),
        "labels": list(labels),
    }
    if ordinal:
        out["qwk"] = float(cohen_kappa_score(y, pred, weights="quadratic")) if len(set(y) | set(pred)) > 1 else 0.0
    if abstained is not None:
        kept = ~np.asarray(abstained, dtype=bool)
        out["abstention_rate"] = float(1 - kept.mean()) if len(kept) else 0.0
        out["precision_when_answering"] = float((pred[kept] == y[kept]).mean()) if kept.any() else 0.0
    if resamples and len(y):
        out["interval_95"] = bootstrap_intervals(y, probs, ordinal, resamples)
        out["ece_if_calibrated"] = calibrated_ece(probs, resamples)
    return out


def binary_f1(y_true: Sequence[bool], y_pred: Sequence[bool]) -> float:
    """F1 of the positive class."""
    return float(f1_score(np.asarray(y_true, bool), np.asarray(y_pred, bool), zero_division=0))
