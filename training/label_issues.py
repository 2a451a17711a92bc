"""Likely reviewer mistakes: confident learning on out-of-fold probabilities from the messages' embeddings.

For each head, a logistic regression is fitted k times on the reviewed messages' embeddings, each
time leaving one fold out, so every message gets class probabilities from a model that never saw
its own label. cleanlab's `find_label_issues` (confident learning, Northcutt et al. 2021) then
estimates per class how often given labels disagree with what the rest of the data implies, and
returns the labels most likely to be wrong. A flag is a request for a second look, not a verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class LabelIssueParams:
    """How label issues are searched for; logged with each flag run."""

    folds: int = 5
    # A class with fewer labelled messages than this cannot be judged: its rows are left out of that head's check.
    min_per_class: int = 5
    min_rows: int = 20
    c: float = 0.5
    max_iter: int = 2000
    seed: int = 13
    filter_by: str = "prune_by_noise_rate"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class LabelIssue:
    """One label that is likely wrong: which row and head, the given label and what the held-out model says."""

    index: int
    head: str
    given: str
    suggested: str
    given_probability: float
    suggested_probability: float

    def describe(self) -> str:
        """One line for reviewers: `intent: reviewed 'spam', cross-validated model says 'feedback' (0.81 vs 0.04)`."""
        return (
            f"{self.head}: reviewed {self.given!r}, cross-validated model says {self.suggested!r} "
            f"({self.suggested_probability:.2f} vs {self.given_probability:.2f})"
        )


@dataclass
class LabelIssueReport:
    """The issues found, how many labelled rows each head checked, and why a head was skipped."""

    issues: list[LabelIssue] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def fold_of(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """A fold per row, stratified: each class's rows, in a seeded shuffle, are dealt round-robin over the folds."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=np.int64)
    start = 0
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        out[rows] = (np.arange(len(rows)) + start) % folds
        start += len(rows)
    return out


def out_of_fold_probabilities(embeddings: np.ndarray, labels: np.ndarray, params: LabelIssueParams) -> np.ndarray:
    """Class probabilities (columns 0..K-1 for labels 0..K-1) for each row from a model fitted without its fold."""
    n_classes = int(labels.max()) + 1
    folds = fold_of(labels, params.folds, params.seed)
    probs = np.zeros((len(labels), n_classes), dtype=np.float64)
    for k in range(params.folds):
        held = folds == k
        if not held.any():
            continue
        model = make_pipeline(
            StandardScaler(), LogisticRegression(C=params.c, max_iter=params.max_iter, random_state=params.seed)
        )
        model.fit(embeddings[~held], labels[~held])
        classes = model.classes_
        probs[np.ix_(held, classes)] = model.predict_proba(embeddings[held])
    return probs


def head_issues(
    embeddings: np.ndarray, labels: Sequence[str | None], head: str, params: LabelIssueParams | None = None
) -> tuple[list[LabelIssue], int, str | None]:
    """Likely mislabelled rows of one head, how many rows were checked, and why not when it was skipped.

    Rows whose label is None, or belongs to a class rarer than `params.min_per_class`, are not checked.
    A head is skipped unless its held-out accuracy beats always answering the commonest label by two
    standard errors: weaker probabilities would flag noise, not mistakes.
    """
    from cleanlab.filter import find_label_issues

    params = params or LabelIssueParams()
    counts = Counter(label for label in labels if label is not None)
    classes = sorted(label for label, n in counts.items() if n >= params.min_per_class)
    rows = np.array([i for i, label in enumerate(labels) if label in classes], dtype=np.int64)
    if len(classes) < 2:
        return [], 0, f"fewer than 2 labels with at least {params.min_per_class} reviewed messages each"
    if len(rows) < params.min_rows:
        return [], 0, f"only {len(rows)} reviewed messages with a judgeable label (need {params.min_rows})"
    index = {label: k for k, label in enumerate(classes)}
    y = np.array([index[str(labels[i])] for i in rows], dtype=np.int64)
    probs = out_of_fold_probabilities(np.asarray(embeddings, dtype=np.float64)[rows], y, params)
    accuracy, majority = float((probs.argmax(axis=1) == y).mean()), float(np.bincount(y).max() / len(y))
    needed = majority + 2 * float(np.sqrt(majority * (1 - majority) / len(y)))
    if accuracy < needed:
        # A held-out model not clearly better than always answering the commonest label cannot tell mistakes apart.
        return (
            [],
            len(rows),
            (
                f"held-out accuracy {accuracy:.2f} does not beat the commonest label's share {majority:.2f} "
                f"by two standard errors ({needed:.2f})"
            ),
        )
    # n_jobs=1: this runs inside servers and background threads, where forking worker processes is unsafe.
    found = find_label_issues(
        y, probs, filter_by=params.filter_by, return_indices_ranked_by="self_confidence", n_jobs=1
    )
    issues = []
    for pos in found:
        best = int(np.argmax(probs[pos]))
        issues.append(
            LabelIssue(
                index=int(rows[pos]),
                head=head,
                given=classes[y[pos]],
                suggested=classes[best],
                given_probability=round(float(probs[pos, y[pos]]), 4),
                suggested_probability=round(float(probs[pos, best]), 4),
            )
        )
    return issues, len(rows), None


def find_label_issues(
    embeddings: np.ndarray, labels: Mapping[str, Sequence[str | None]], params: LabelIssueParams | None = None
) -> LabelIssueReport:
    """Likely mislabelled (row, head) pairs over every head in `labels`, most likely first within a head.

    `embeddings` has one row per message; `labels[head][i]` is the reviewed label of row i (None: unlabelled).
    """
    params = params or LabelIssueParams()
    if params.folds < 2:
        raise ValueError("folds must be at least 2")
    if params.min_per_class < params.folds:
        raise ValueError("min_per_class must be at least folds, so every fold's model sees every class")
    report = LabelIssueReport()
    for head, head_labels in labels.items():
        if len(head_labels) != len(embeddings):
            raise ValueError(f"{head}: {len(head_labels)} labels for {len(embeddings)} embeddings")
        issues, checked, skipped = head_issues(embeddings, head_labels, head, params)
        report.issues.extend(issues)
        report.checked[head] = checked
        if skipped:
            report.skipped[head] = skipped
    return report
