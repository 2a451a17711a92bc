"""Message embeddings stored as little-endian float32 bytes, one row per message and encoder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.store.tables import EmbeddingRecord

VECTOR_DTYPE = np.dtype("<f4")
_IDS_PER_QUERY = 1000


def embedding_record(message_id: str, vector: np.ndarray, encoder: str) -> EmbeddingRecord:
    """A row holding one message's 1-D embedding under `encoder` (a versioned encoder name)."""
    values = np.ascontiguousarray(vector, dtype=VECTOR_DTYPE)
    if values.ndim != 1:
        raise ValueError(f"an embedding is one vector, got shape {values.shape}")
    return EmbeddingRecord(message_id=message_id, encoder=encoder, dim=values.size, vector=values.tobytes())


def load_embeddings(session: Session, message_ids: Sequence[str], encoder: str) -> np.ndarray:
    """The `encoder` embeddings of `message_ids`, one float32 row each, in the order given.

    Raises KeyError naming the messages that have no embedding under `encoder`.
    """
    ids = list(message_ids)
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[start : start + _IDS_PER_QUERY]
        rows = session.scalars(
            select(EmbeddingRecord).where(EmbeddingRecord.encoder == encoder, EmbeddingRecord.message_id.in_(chunk))
        )
        found.update((row.message_id, np.frombuffer(row.vector, dtype=VECTOR_DTYPE)) for row in rows)
    missing = [message_id for message_id in ids if message_id not in found]
    if missing:
        raise KeyError(f"no {encoder!r} embedding for {len(missing)} message(s), e.g. {missing[:5]}")
    if not ids:
        return np.empty((0, 0), dtype=np.float32)
    return np.stack([found[message_id] for message_id in ids]).astype(np.float32, copy=False)
