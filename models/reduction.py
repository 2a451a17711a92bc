"""UMAP for big months: fit the layout on a seeded sample of messages, then place the rest in it.

UMAP is most of a theme fit's time (76% of 71 s for 50,000 tweets on an idle 2-core machine).
Past `fit_rows` messages the layout is learnt from a sample and every other message is projected
into it (`UMAP.transform`); HDBSCAN then clusters all of them together. Projecting is not much
cheaper than fitting at these sizes (42,311 tweets: 39 s with a 12,000 sample against 49 s whole)
and gives coarser themes, so it is for months too big to fit whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class SampledUMAP:
    """A UMAP reducer with BERTopic's `fit`/`transform`/`fit_transform`, fitted on at most `fit_rows` points.

    `fit_rows=0` fits on every point. Fitted attributes: `umap_` (the fitted UMAP) and
    `sample_` (indices of the points it was fitted on, all of them when no sample was needed).
    """

    def __init__(self, fit_rows: int, seed: int, **umap_params: Any) -> None:
        if fit_rows < 0:
            raise ValueError(f"fit_rows must be 0 (no sampling) or positive, got {fit_rows}")
        self.fit_rows = fit_rows
        self.seed = seed
        self.umap_params = umap_params

    def fit(self, X: np.ndarray, y: Any = None) -> SampledUMAP:
        """Fit the layout on a sample of `X` (all of it when it is small enough)."""
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: np.ndarray, y: Any = None) -> np.ndarray:
        """Low-dimensional coordinates of every row of `X`: the sample's from the fit, the rest projected."""
        from umap import UMAP

        X = np.asarray(X)
        self.umap_ = UMAP(random_state=self.seed, **self.umap_params)
        if not self.fit_rows or len(X) <= self.fit_rows:
            self.sample_ = np.arange(len(X))
            return np.asarray(self.umap_.fit_transform(X))
        rng = np.random.default_rng(self.seed)
        self.sample_ = np.sort(rng.choice(len(X), size=self.fit_rows, replace=False))
        self.umap_.fit(X[self.sample_])
        out = np.empty((len(X), self.umap_.n_components), dtype=np.float32)
        out[self.sample_] = self.umap_.embedding_
        rest = np.setdiff1d(np.arange(len(X)), self.sample_, assume_unique=True)
        out[rest] = self.umap_.transform(X[rest])
        return out

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Project new points into the fitted layout."""
        return np.asarray(self.umap_.transform(np.asarray(X)))
