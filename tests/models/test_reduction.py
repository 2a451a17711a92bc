"""UMAP fitted on a sample: every point gets coordinates, and projected points land with their own kind."""

import numpy as np
import pytest

from models.reduction import SampledUMAP


def _blobs(n_per_blob: int = 100, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, dim)) * 5
    labels = np.repeat(np.arange(3), n_per_blob)
    return (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def test_a_big_input_is_fitted_on_a_sample_and_the_rest_is_projected_beside_its_kind():
    points, labels = _blobs()
    reducer = SampledUMAP(90, seed=1, n_neighbors=10, n_components=2, min_dist=0.0, n_jobs=1)
    coords = reducer.fit_transform(points)
    assert coords.shape == (300, 2) and np.isfinite(coords).all()
    assert len(reducer.sample_) == 90 and len(set(reducer.sample_.tolist())) == 90
    projected = np.setdiff1d(np.arange(300), reducer.sample_)
    # Each projected point's nearest fitted point belongs to the same blob.
    fitted = coords[reducer.sample_]
    nearest = np.argmin(((coords[projected, None, :] - fitted[None, :, :]) ** 2).sum(-1), axis=1)
    assert (labels[reducer.sample_][nearest] == labels[projected]).mean() > 0.95


def test_a_small_input_or_fit_rows_zero_fits_on_every_point():
    points, _ = _blobs(20)
    for fit_rows in (0, 1000):
        reducer = SampledUMAP(fit_rows, seed=1, n_neighbors=5, n_components=2, n_jobs=1)
        assert reducer.fit_transform(points).shape == (60, 2)
        assert len(reducer.sample_) == 60
    with pytest.raises(ValueError, match="fit_rows"):
        SampledUMAP(-1, seed=1)
