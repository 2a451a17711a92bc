import numpy as np
import pytest

from evaluation.metrics import coverage_at_precision, expected_calibration_error, head_metrics, reliability_bins


def one_hot(labels, n, confidence):
    probs = np.full((len(labels), n), (1 - confidence) / (n - 1))
    probs[np.arange(len(labels)), labels] = confidence
    return probs


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    labels = np.array([0, 1, 0, 1])
    assert expected_calibration_error(one_hot(labels, 2, 1.0), labels) == pytest.approx(0.0)
    wrong = np.array([1, 0, 1, 0])
    assert expected_calibration_error(one_hot(wrong, 2, 0.99), labels) == pytest.approx(0.99)


def test_coverage_at_precision_counts_the_confident_correct_prefix():
    probs = np.array([[0.99, 0.01], [0.95, 0.05], [0.9, 0.1], [0.6, 0.4]])
    labels = np.array([0, 0, 1, 1])
    assert coverage_at_precision(probs, labels, 0.9) == 0.5
    assert coverage_at_precision(probs, labels, 0.5) == 1.0


def test_head_metrics_macro_average_covers_classes_in_truth_or_prediction_only():
    labels = ("a", "b", "c", "d")
    y = np.array([0, 0, 1, 1])
    probs = one_hot(np.array([0, 0, 1, 2]), 4, 0.9)
    m = head_metrics(y, probs, labels)
    # Classes a, b and c appear; d never does and must not drag the average down.
    assert m["macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.0) / 3)
    assert m["accuracy"] == 0.75
    assert m["per_class"]["d"]["support"] == 0
    assert m["confusion"][1] == [0, 1, 1, 0]
    assert "qwk" not in m


def test_ordinal_heads_get_quadratic_weighted_kappa_and_abstention_figures():
    labels = ("low", "normal", "high", "critical")
    y = np.array([0, 1, 2, 3, 3])
    near = head_metrics(y, one_hot(np.array([0, 1, 2, 2, 3]), 4, 0.8), labels, ordinal=True)
    far = head_metrics(y, one_hot(np.array([3, 1, 2, 0, 3]), 4, 0.8), labels, ordinal=True)
    assert near["qwk"] > far["qwk"]
    m = head_metrics(y, one_hot(y, 4, 0.8), labels, ordinal=True, abstained=[True, False, False, False, False])
    assert m["abstention_rate"] == pytest.approx(0.2)
    assert m["precision_when_answering"] == 1.0


def test_reliability_bins_count_every_prediction_once():
    probs = one_hot(np.array([0, 1, 0]), 2, 0.75)
    bins = reliability_bins(probs, np.array([0, 0, 0]), bins=4)
    assert sum(b["count"] for b in bins) == 3
    (filled,) = [b for b in bins if b["count"]]
    assert filled["accuracy"] == pytest.approx(2 / 3)
