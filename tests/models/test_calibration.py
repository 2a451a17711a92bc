import numpy as np

from models.calibration import confidence_threshold, fit_temperature, softmax


def test_softmax_rows_sum_to_one_and_temperature_flattens():
    logits = np.array([[4.0, 0.0, -1.0]])
    sharp, flat = softmax(logits, 1.0), softmax(logits, 4.0)
    np.testing.assert_allclose(sharp.sum(axis=1), 1.0)
    assert flat.max() < sharp.max()


def test_overconfident_logits_get_a_temperature_above_one():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=400)
    logits = rng.normal(size=(400, 3))
    # Right 60% of the time but with huge margins: overconfident.
    predicted = np.where(rng.random(400) < 0.6, labels, (labels + 1) % 3)
    logits[np.arange(400), predicted] += 8.0
    assert fit_temperature(logits, labels) > 2.0


def test_empty_validation_keeps_temperature_one():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


def test_confidence_threshold_reaches_target_precision():
    probs = np.array([[0.95, 0.05], [0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    labels = np.array([0, 0, 0, 1, 1])
    t = confidence_threshold(probs, labels, 0.99)
    kept = probs.max(axis=1) >= t
    assert (probs[kept].argmax(axis=1) == labels[kept]).mean() >= 0.99
    assert t == 0.8
    assert confidence_threshold(probs, labels, 0.5) == 0.55
    assert confidence_threshold(np.array([[0.9, 0.1]]), np.array([1]), 0.9) == 1.0
