"""Confident learning on out-of-fold probabilities finds planted label errors and leaves clean labels alone."""

from __future__ import annotations

import numpy as np
import pytest

from training.label_issues import LabelIssueParams, find_label_issues, fold_of, out_of_fold_probabilities

CLASSES = ("spam", "feedback", "support_request")


def clusters(per_class: int = 30, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Three well separated Gaussian clusters, one per class."""
    rng = np.random.default_rng(seed)
    centres = np.eye(len(CLASSES), dim) * 4.0
    x = np.concatenate([c + rng.normal(size=(per_class, dim)) for c in centres])
    y = [cls for cls in CLASSES for _ in range(per_class)]
    return x.astype(np.float32), y


def test_folds_are_stratified_and_cover_every_row():
    y = np.array([0] * 10 + [1] * 7)
    folds = fold_of(y, 5, seed=1)
    assert set(folds.tolist()) == set(range(5))
    for k in range(5):
        assert (y[folds == k] == 0).sum() == 2
    assert np.array_equal(folds, fold_of(y, 5, seed=1))


def test_out_of_fold_probabilities_never_see_their_own_label():
    x, names = clusters()
    y = np.array([CLASSES.index(n) for n in names])
    y[0] = 2  # a 'spam' point labelled support_request: its own fold's model never saw this label
    probs = out_of_fold_probabilities(x, y, LabelIssueParams())
    assert probs.shape == (90, 3)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert probs[0].argmax() == 0 and probs[0, 2] < 0.2


def test_planted_label_errors_are_flagged_and_clean_labels_are_not():
    x, labels = clusters()
    planted = {3: "feedback", 40: "support_request", 75: "spam"}
    noisy = [planted.get(i, label) for i, label in enumerate(labels)]
    report = find_label_issues(x, {"intent": noisy})
    flagged = {issue.index: issue for issue in report.issues}
    assert set(flagged) == set(planted)
    assert flagged[3].given == "feedback" and flagged[3].suggested == "spam"
    assert flagged[3].suggested_probability > flagged[3].given_probability
    assert "reviewed 'feedback'" in flagged[3].describe()
    assert report.checked == {"intent": 90} and report.skipped == {}


def test_unlabelled_and_rare_labels_are_not_judged_and_tiny_heads_are_skipped():
    x, labels = clusters()
    intent: list[str | None] = list(labels)
    intent[0] = None
    intent[1] = "partnership_inquiry"  # a class with one example cannot be judged
    urgency: list[str | None] = ["low"] * 89 + ["high"]
    report = find_label_issues(x, {"intent": intent, "urgency": urgency})
    assert report.checked["intent"] == 88
    assert all(issue.index not in (0, 1) for issue in report.issues)
    assert report.checked["urgency"] == 0 and "fewer than 2 labels" in report.skipped["urgency"]


def test_a_head_the_embeddings_cannot_predict_is_not_judged():
    x, labels = clusters()
    noise = ["low" if i % 2 else "normal" for i in range(len(labels))]
    report = find_label_issues(x, {"intent": labels, "urgency": noise})
    assert report.issues == [] or all(issue.head == "intent" for issue in report.issues)
    assert "does not beat the commonest label" in report.skipped["urgency"]
    assert "intent" not in report.skipped


def test_bad_arguments_are_refused():
    x, labels = clusters()
    with pytest.raises(ValueError, match="labels for"):
        find_label_issues(x, {"intent": labels[:-1]})
    with pytest.raises(ValueError, match="min_per_class"):
        find_label_issues(x, {"intent": labels}, LabelIssueParams(folds=5, min_per_class=3))
