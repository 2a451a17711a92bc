"""The seed corpus shipped with Tidings: messages written for the project, labelled on all axes."""

from __future__ import annotations

from pathlib import Path

from data.dataset import near_duplicate_key, split_bucket
from data.loaders import LoadResult, load_table

SEED_DIR = Path(__file__).with_name("seed")
EVAL_FRACTION = 0.1
SPLITS = ("all", "train", "eval")


def seed_files(directory: Path = SEED_DIR) -> list[Path]:
    """The corpus files, in a stable order."""
    return sorted(directory.glob("part-*.jsonl"))


def load_seed(split: str = "all", directory: Path = SEED_DIR) -> LoadResult:
    """Load the seed corpus; `eval` is a frozen 10% slice for promotion gates, `train` the rest.

    The slice is chosen by a hash of each message's near-duplicate key, so adding messages
    never moves an existing one between slices.
    """
    if split not in SPLITS:
        raise KeyError(f"seed corpus split must be one of {SPLITS}, not {split!r}")
    files = seed_files(directory)
    if not files:
        raise FileNotFoundError(f"no seed corpus files (part-*.jsonl) in {directory}")
    result = LoadResult()
    for path in files:
        result.extend(load_table(path, source="seed"))
    if split != "all":
        want_eval = split == "eval"
        result.items = [
            item
            for item in result.items
            if (split_bucket(near_duplicate_key(item.message.text), seed=7) < EVAL_FRACTION) == want_eval
        ]
    return result
