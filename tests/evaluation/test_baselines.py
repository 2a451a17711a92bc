import pytest

from evaluation.baselines import VaderBaseline, fit_tfidf_lr


def test_vader_reads_obvious_sentiment():
    assert VaderBaseline().predict(
        ["I love this, best day ever!", "This is awful, I hate it", "The store opens at 9"]
    ) == [
        "positive",
        "negative",
        "neutral",
    ]


def test_vader_band_is_chosen_on_validation_data():
    vader = VaderBaseline()
    band = vader.select_band(["ok fine", "good", "it is what it is"], ["neutral", "neutral", "neutral"])
    assert band == 0.5


@pytest.mark.parametrize("with_validation", [False, True])
def test_tfidf_lr_learns_separable_words(with_validation):
    texts = ["refund please refund", "where is my refund", "love it love it", "i love this"] * 3
    labels = ["support", "support", "praise", "praise"] * 3
    val = (texts[:4], labels[:4]) if with_validation else (None, None)
    model, c = fit_tfidf_lr(texts, labels, *val)
    assert list(model.predict(["refund my order", "love the app"])) == ["support", "praise"]
    assert c in (0.5, 2.0, 8.0) if with_validation else c == 1.0
