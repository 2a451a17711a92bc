import numpy as np

from models.cache import CachedEncoder
from models.encoders import HashingEncoder


class CountingEncoder(HashingEncoder):
    def __init__(self, dim: int = 32) -> None:
        super().__init__(dim)
        self.seen: list[str] = []

    def encode(self, texts, batch_size=64, progress=None):
        self.seen += list(texts)
        return super().encode(texts, batch_size, progress)


def test_each_text_is_encoded_once_and_the_cache_survives_a_restart(tmp_path):
    inner = CountingEncoder()
    cached = CachedEncoder(inner, tmp_path)
    first = cached.encode(["a b", "c d", "a b"])
    again = cached.encode(["c d", "e f"])
    assert inner.seen == ["a b", "c d", "e f"]
    np.testing.assert_array_equal(first[1], again[0])

    reopened_inner = CountingEncoder()
    reopened = CachedEncoder(reopened_inner, tmp_path)
    np.testing.assert_array_equal(reopened.encode(["a b"]), first[:1])
    assert reopened_inner.seen == []


def test_encoders_with_different_settings_use_different_cache_files(tmp_path):
    assert CachedEncoder(HashingEncoder(32), tmp_path).path != CachedEncoder(HashingEncoder(64), tmp_path).path
