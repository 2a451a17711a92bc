"""Peer baselines printed beside our model: VADER for sentiment and TF-IDF + logistic regression."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.pipeline import Pipeline, make_pipeline

SENTIMENTS = ("negative", "neutral", "positive")


@dataclass
class VaderBaseline:
    """VADER's compound score with a neutral band; the band's width can be chosen on validation data."""

    band: float = 0.05
    _analyser: object = field(default=None, repr=False)

    def _scores(self, texts: Sequence[str]) -> np.ndarray:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        if self._analyser is None:
            self._analyser = SentimentIntensityAnalyzer()
        return np.array([self._analyser.polarity_scores(t)["compound"] for t in texts])  # type: ignore[attr-defined]

    def predict(self, texts: Sequence[str]) -> list[str]:
        """negative / neutral / positive per text."""
        return self._label(self._scores(texts), self.band)

    @staticmethod
    def _label(scores: np.ndarray, band: float) -> list[str]:
        return ["positive" if s >= band else "negative" if s <= -band else "neutral" for s in scores]

    def select_band(
        self, texts: Sequence[str], labels: Sequence[str], bands: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
    ) -> float:
        """Pick the band with the best macro-recall on validation data."""
        scores = self._scores(texts)
        self.band = max(
            bands, key=lambda b: recall_score(labels, self._label(scores, b), average="macro", zero_division=0)
        )
        return self.band


def tfidf_lr(c: float = 1.0, class_weight: str | None = "balanced") -> Pipeline:
    """Word 1-2-gram TF-IDF with sublinear term frequency into a logistic regression."""
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=True, max_features=200_000),
        LogisticRegression(C=c, max_iter=2000, class_weight=class_weight),
    )


def fit_tfidf_lr(
    texts: Sequence[str],
    labels: Sequence[str] | Sequence[bool],
    val_texts: Sequence[str] | None = None,
    val_labels: Sequence[str] | Sequence[bool] | None = None,
    cs: Sequence[float] = (0.5, 2.0, 8.0),
    scorer: str = "macro_recall",
) -> tuple[Pipeline, float]:
    """Fit TF-IDF + LR, choosing C on validation data when given (else C=1)."""
    from sklearn.metrics import f1_score

    if val_texts is None or val_labels is None:
        return tfidf_lr(1.0).fit(list(texts), list(labels)), 1.0

    def score(model: Pipeline) -> float:
        pred = model.predict(list(val_texts))
        if scorer == "macro_recall":
            return float(recall_score(val_labels, pred, average="macro", zero_division=0))
        return float(f1_score(val_labels, pred, average="macro", zero_division=0))

    fitted = [(tfidf_lr(c).fit(list(texts), list(labels)), c) for c in cs]
    return max(fitted, key=lambda mc: score(mc[0]))
