import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, recall_score

from evaluation.intervals import _resampled_figures, bootstrap_intervals, calibrated_ece, ece_of_rows
from evaluation.metrics import expected_calibration_error, head_metrics


def noisy_predictions(n, classes=4, accuracy=0.7, seed=0):
    """Labels and probabilities whose argmax is right about `accuracy` of the time, off by one otherwise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    pred = np.where(rng.random(n) < accuracy, y, (y + rng.choice([-1, 1], n)) % classes)
    probs = np.full((n, classes), 0.1 / (classes - 1))
    probs[np.arange(n), pred] = 0.9
    return y, probs


def binned_ece(probs, labels, bins=15):
    """ECE written out bin by bin, as a reference for the vectorised version."""
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    which = np.clip(np.digitize(conf, np.linspace(0, 1, bins + 1)[1:-1], right=True), 0, bins - 1)
    return sum(
        (which == b).mean() * abs(conf[which == b].mean() - correct[which == b].mean())
        for b in range(bins)
        if (which == b).any()
    )


def test_each_resample_scores_as_sklearn_scores_it():
    y, probs = noisy_predictions(300)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(y), size=(3, len(y)))
    pred, conf = probs.argmax(axis=1), probs.max(axis=1)
    figures = _resampled_figures(y[idx], pred[idx], 4, ordinal=True)
    eces = ece_of_rows(conf[idx], (pred[idx] == y[idx]).astype(float), bins=15)
    for r in range(3):
        truth, guess = y[idx[r]], pred[idx[r]]
        assert figures["macro_f1"][r] == pytest.approx(f1_score(truth, guess, average="macro"))
        assert figures["macro_recall"][r] == pytest.approx(recall_score(truth, guess, average="macro"))
        assert figures["qwk"][r] == pytest.approx(cohen_kappa_score(truth, guess, weights="quadratic"))
        assert eces[r] == pytest.approx(binned_ece(probs[idx[r]], truth))


def test_intervals_hold_the_measured_figure_and_narrow_as_the_set_grows():
    small_y, small_probs = noisy_predictions(200)
    large_y, large_probs = noisy_predictions(20_000)
    small = bootstrap_intervals(small_y, small_probs, ordinal=True, resamples=500)
    large = bootstrap_intervals(large_y, large_probs, ordinal=True, resamples=500)
    measured = head_metrics(small_y, small_probs, ("a", "b", "c", "d"), ordinal=True)
    assert set(small) == {"macro_f1", "macro_recall", "qwk"}
    for key in small:
        low, high = small[key]
        assert low <= measured[key] <= high
        assert large[key][1] - large[key][0] < (high - low) / 5


def test_a_calibrated_model_sits_near_the_floor_and_an_overconfident_one_far_above_it():
    rng = np.random.default_rng(2)
    n = 201
    conf = rng.uniform(0.4, 0.99, n)
    probs = np.stack([conf, 1 - conf], axis=1)
    floor = calibrated_ece(probs)
    assert 0.02 < floor < 0.12  # a few hundred messages cannot show an ECE of zero
    calibrated_truth = np.where(rng.random(n) < conf, 0, 1)
    overconfident_truth = np.where(rng.random(n) < conf - 0.3, 0, 1)
    assert expected_calibration_error(probs, calibrated_truth) < floor * 2
    assert expected_calibration_error(probs, overconfident_truth) > floor * 3


def test_head_metrics_adds_intervals_only_when_asked():
    y, probs = noisy_predictions(100)
    labels = ("a", "b", "c", "d")
    assert "interval_95" not in head_metrics(y, probs, labels)
    with_intervals = head_metrics(y, probs, labels, ordinal=True, resamples=200)
    assert set(with_intervals["interval_95"]) == {"macro_f1", "macro_recall", "qwk"}
    assert with_intervals["ece_if_calibrated"] > 0
    assert bootstrap_intervals(np.array([], dtype=int), np.zeros((0, 4))) == {}
