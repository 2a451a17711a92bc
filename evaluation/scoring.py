"""Score a classifier on labelled messages, head by head."""

from __future__ import annotations

from typing import Any

import numpy as np

from data.schema import LabelledMessage
from evaluation.metrics import head_metrics
from models.classifier import MISSING, MessageClassifier


def evaluate_items(
    model: MessageClassifier,
    items: list[LabelledMessage],
    embeddings: np.ndarray | None = None,
    resamples: int = 1000,
) -> dict[str, dict[str, Any]]:
    """Per-head metrics on labelled messages; heads the items do not label are left out.

    Each head's metrics carry bootstrap intervals from `resamples` resamples (0 leaves them out).
    """
    if not items:
        return {}
    texts = [i.message.text for i in items]
    embeddings = model.embed(texts) if embeddings is None else embeddings
    probs = model.proba_from_embeddings(embeddings)
    targets = model.encode_targets([i.labels.model_dump() for i in items])
    predictions = model.predict_from_embeddings(texts, embeddings)
    out = {}
    for head in model.head_names:
        mask = targets[head] != MISSING
        if not mask.any():
            continue
        abstained = [p[head].abstained for p, m in zip(predictions, mask, strict=True) if m]
        spec = model.taxonomy[head]
        out[head] = head_metrics(
            targets[head][mask], probs[head][mask], spec.labels, spec.ordinal, abstained, resamples
        )
    return out
