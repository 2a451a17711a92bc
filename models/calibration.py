"""Temperature scaling and abstention thresholds, fitted per head on validation data."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits divided by a temperature."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, grid: np.ndarray | None = None) -> float:
    """The temperature that minimises validation negative log-likelihood.

    A bounded grid search followed by a local refinement; unlike gradient descent it cannot
    diverge on tiny or separable validation sets.
    """
    if len(labels) == 0:
        return 1.0
    grid = grid if grid is not None else np.exp(np.linspace(np.log(0.05), np.log(20.0), 200))

    def nll(t: float) -> float:
        p = softmax(logits, t)[np.arange(len(labels)), labels]
        return float(-np.log(np.clip(p, 1e-12, None)).mean())

    best = min(grid, key=nll)
    fine = best * np.exp(np.linspace(-0.05, 0.05, 41))
    return float(min(fine, key=nll))


def confidence_threshold(probs: np.ndarray, labels: np.ndarray, target_precision: float) -> float:
    """Smallest top-probability cut-off at which predictions kept reach `target_precision`.

    Returns 0.0 when every prediction already meets the target, and 1.0 (abstain on
    everything uncertain) when no cut-off does.
    """
    if len(labels) == 0:
        return 0.0
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    order = np.argsort(-conf, kind="stable")
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.nonzero(precision >= target_precision)[0]
    if len(ok) == 0:
        return 1.0
    # The deepest point in the ranking that still meets the target sets the cut-off.
    return float(conf[order][ok.max()])
