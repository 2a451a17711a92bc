"""Training-set assembly: near-duplicate removal, deterministic splits and fingerprints."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data.schema import LabelledMessage

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_NON_WORD = re.compile(r"[\W_\d]+")


def near_duplicate_key(text: str) -> str:
    """A key equal for texts that differ only in case, URLs, @mentions, digits or punctuation."""
    text = _URL.sub(" ", text.lower())
    text = _MENTION.sub(" ", text)
    return _NON_WORD.sub(" ", text).strip()


@dataclass
class DedupeReport:
    """What deduplication removed."""

    kept: int = 0
    dropped: int = 0
    label_conflicts: int = 0
    dropped_by_source: dict[str, int] = field(default_factory=dict)


def dedupe(items: Sequence[LabelledMessage]) -> tuple[list[LabelledMessage], DedupeReport]:
    """Keep the first of each near-duplicate group; later sources in the list lose.

    When a dropped row labels an axis the kept row leaves empty, the label is merged in, so
    single-axis corpora that share a tweet still contribute both axes.
    """
    kept: dict[str, LabelledMessage] = {}
    report = DedupeReport()
    for item in items:
        key = near_duplicate_key(item.message.text) or item.message.text.strip().lower()
        first = kept.get(key)
        if first is None:
            # A copy, so merging labels below never changes the caller's items.
            kept[key] = item.model_copy(deep=True)
            continue
        report.dropped += 1
        report.dropped_by_source[item.source] = report.dropped_by_source.get(item.source, 0) + 1
        for head in ("intent", "urgency", "sentiment"):
            theirs, ours = item.labels.get(head), first.labels.get(head)
            if theirs is not None and ours is None:
                setattr(first.labels, head, theirs)
            elif theirs is not None and theirs != ours:
                report.label_conflicts += 1
    report.kept = len(kept)
    return list(kept.values()), report


def split_bucket(key: str, seed: int = 0) -> float:
    """A stable number in [0, 1) for a key: the same on every machine and Python run."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def train_validation_split(
    items: Sequence[LabelledMessage], validation_fraction: float, seed: int = 0
) -> tuple[list[LabelledMessage], list[LabelledMessage]]:
    """Split by a hash of each message's near-duplicate key, so duplicates never straddle splits."""
    train: list[LabelledMessage] = []
    validation: list[LabelledMessage] = []
    for item in items:
        key = near_duplicate_key(item.message.text) or item.message.id
        (validation if split_bucket(key, seed) < validation_fraction else train).append(item)
    return train, validation


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fingerprint(files: Iterable[Path], row_counts: dict[str, int]) -> dict[str, object]:
    """Hash of every input file and the row counts per source, plus one digest of it all."""
    hashes = {str(p): file_sha256(p) for p in sorted(set(files))}
    digest = hashlib.sha256(repr((sorted(hashes.items()), sorted(row_counts.items()))).encode()).hexdigest()
    return {"files": hashes, "rows": dict(sorted(row_counts.items())), "digest": digest}
