import numpy as np
import pytest

from models.encoders import HashingEncoder, load_encoder


def test_hashing_encoder_is_deterministic_and_normalised():
    enc = HashingEncoder(dim=64)
    a = enc.encode(["Where is my refund?", "love it"])
    b = HashingEncoder(dim=64).encode(["Where is my refund?", "love it"])
    assert a.shape == (2, 64)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)


def test_hashing_encoder_puts_similar_texts_closer_than_unrelated_ones():
    enc = HashingEncoder(dim=512)
    refund, refund2, other = enc.encode(["where is my refund", "where is my refund??", "subscribe to my channel"])
    assert refund @ refund2 > refund @ other


def test_hashing_encoder_gives_zero_vector_for_featureless_text_and_reports_progress():
    seen = []
    out = HashingEncoder(dim=16).encode(["", "a b"], batch_size=1, progress=seen.append)
    assert not out[0].any()
    assert sum(seen) == 2


def test_load_encoder_resolves_versioned_names_and_rejects_unknown_ones():
    assert load_encoder("hashing.v1").dim == 512
    assert load_encoder("hashing.v1:128").dim == 128
    with pytest.raises(ValueError, match="unknown encoder"):
        load_encoder("word2vec")


@pytest.mark.integration
@pytest.mark.slow
def test_minilm_loads_offline_from_the_installed_package():
    enc = load_encoder("minilm-l6.v1", max_seq_length=32)
    vectors = enc.encode(["my flight was cancelled", "my flight got cancelled today", "I love this song"])
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert enc.trainable
