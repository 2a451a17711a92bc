"""An on-disk embedding cache for frozen encoders, so each text is encoded once per encoder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.encoders import Encoder, ProgressCallback


class CachedEncoder(Encoder):
    """Wraps a frozen encoder; vectors are keyed by the SHA-1 of each text."""

    def __init__(self, inner: Encoder, directory: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in inner.name)
        # Everything that changes the vectors (e.g. max_seq_length) is part of the file name.
        settings = hashlib.sha1(json.dumps(inner.describe(), sort_keys=True).encode()).hexdigest()[:10]
        self.path = Path(directory) / f"{safe}-{inner.dim}-{settings}.npz"
        self._index: dict[str, int] = {}
        self._vectors = np.zeros((0, inner.dim), dtype=np.float32)
        if self.path.exists():
            stored = np.load(self.path)
            self._vectors = stored["vectors"]
            self._index = {k: i for i, k in enumerate(stored["keys"].tolist())}

    def describe(self) -> dict[str, Any]:
        """The wrapped encoder's description."""
        return self.inner.describe()

    @staticmethod
    def key(text: str) -> str:
        """Cache key of a text."""
        return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Cached vectors where present; the rest are encoded, stored and saved."""
        keys = [self.key(t) for t in texts]
        first_seen: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in self._index:
                first_seen.setdefault(k, i)
        missing = list(first_seen.items())
        if progress:
            progress(len(texts) - len(missing))
        if missing:
            fresh = self.inner.encode([texts[i] for _, i in missing], batch_size=batch_size, progress=progress)
            start = len(self._vectors)
            self._vectors = np.concatenate([self._vectors, fresh.astype(np.float32)])
            for offset, (k, _) in enumerate(missing):
                self._index[k] = start + offset
            self._save()
        return self._vectors[[self._index[k] for k in keys]] if keys else np.zeros((0, self.dim), np.float32)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(self._index), dtype="U40"), vectors=self._vectors)
        tmp.replace(self.path)
