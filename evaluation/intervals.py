"""How far a figure measured on a few hundred messages can be trusted.

A score on gold_dev's 201 messages moves by several points between two equally good models, so
a headline figure needs its bootstrap interval beside it. Calibration error has a floor of its
own: even a perfectly calibrated model shows a positive ECE on a small set, because each bin's
accuracy is estimated from a handful of messages. `calibrated_ece` measures that floor.
"""

from __future__ import annotations

import numpy as np


def _confusions(y: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """One confusion matrix per row of `y` / `pred` (resamples × messages): resamples × classes × classes."""
    resamples = y.shape[0]
    cells = (np.arange(resamples)[:, None] * classes + y) * classes + pred
    return np.bincount(cells.ravel(), minlength=resamples * classes * classes).reshape(resamples, classes, classes)


def _macro(per_class: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Mean over the classes present in truth or prediction, as `head_metrics` averages."""
    return (per_class * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def ece_of_rows(conf: np.ndarray, correct: np.ndarray, bins: int = 15) -> np.ndarray:
    """Top-label ECE of each row of confidences and 0/1 correctness (rows × messages), over equal-width bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    resamples, n = conf.shape
    cells = (np.arange(resamples)[:, None] * bins + which).ravel()
    gap = np.bincount(cells, weights=(conf - correct).ravel(), minlength=resamples * bins).reshape(resamples, bins)
    return np.abs(gap).sum(axis=1) / n


_CHUNK = 100


def _resampled_figures(truth: np.ndarray, pred: np.ndarray, classes: int, ordinal: bool) -> dict[str, np.ndarray]:
    """Macro-F1, macro-recall (and QWK) of each resample; each array is resamples × messages."""
    matrix = _confusions(truth, pred, classes).astype(float)
    hits = np.diagonal(matrix, axis1=1, axis2=2)
    actual, predicted = matrix.sum(axis=2), matrix.sum(axis=1)
    present = (actual + predicted) > 0
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    f1 = np.divide(2 * hits, actual + predicted, out=np.zeros_like(hits), where=present)
    figures = {
        "macro_f1": _macro(f1, present),
        "macro_recall": _macro(recall, present),
    }
    if ordinal:
        # Distances follow the taxonomy's order even when a resample lacks a level.
        grid = np.arange(classes)
        penalty = (grid[:, None] - grid[None, :]) ** 2
        expected = actual[:, :, None] * predicted[:, None, :] / truth.shape[1]
        observed_cost = (matrix * penalty).sum(axis=(1, 2))
        expected_cost = (expected * penalty).sum(axis=(1, 2))
        figures["qwk"] = 1 - np.divide(
            observed_cost, expected_cost, out=np.zeros_like(observed_cost), where=expected_cost > 0
        )
    return figures


def bootstrap_intervals(
    y: np.ndarray,
    probs: np.ndarray,
    ordinal: bool = False,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals for macro-F1, macro-recall and (ordinal heads) QWK.

    Messages are resampled with replacement; the model's predictions stay fixed, so the interval
    says how much the score depends on which messages happened to be in the set. ECE gets no
    interval: resampling duplicates messages, which inflates it; `calibrated_ece` is its yardstick.
    """
    y = np.asarray(y, dtype=int)
    if len(y) == 0:
        return {}
    pred = probs.argmax(axis=1)
    rng = np.random.default_rng(seed)
    chunks: list[dict[str, np.ndarray]] = []
    # Chunks keep memory flat: 1,000 resamples of SemEval's 12,284 tweets would be ~100 MB per array.
    for start in range(0, resamples, _CHUNK):
        idx = rng.integers(0, len(y), size=(min(_CHUNK, resamples - start), len(y)))
        chunks.append(_resampled_figures(y[idx], pred[idx], probs.shape[1], ordinal))
    figures = {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
    tail = (1 - level) / 2 * 100
    return {name: [float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail))] for name, v in figures.items()}


def calibrated_ece(probs: np.ndarray, resamples: int = 1000, seed: int = 0, bins: int = 15) -> float:
    """Mean ECE a perfectly calibrated model with these confidences would show on this many messages.

    Each message is right with probability equal to its confidence; what ECE remains is sampling
    noise. An observed ECE near this floor cannot be told apart from good calibration.
    """
    if len(probs) == 0:
        return 0.0
    conf = probs.max(axis=1)
    rng = np.random.default_rng(seed)
    total = 0.0
    for start in range(0, resamples, _CHUNK):
        correct = (rng.random((min(_CHUNK, resamples - start), len(conf))) < conf).astype(float)
        total += float(ece_of_rows(np.broadcast_to(conf, correct.shape), correct, bins).sum())
    return total / resamples
