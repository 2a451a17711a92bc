"""The seed corpus shipped with Tidings: messages written for the project, labelled on all axes."""

from __future__ import annotations

import sys
from collections import Counter
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


def check_part(path: Path) -> list[str]:
    """Problems in one seed file: rejected rows, repeated ids or texts, lengths outside 2-90 words.

    Near-duplicates (the same words with other links or handles) are allowed: real spam looks
    like that, and training-set assembly collapses them anyway.
    """
    result = load_table(path, source="seed")
    problems = [str(r) for r in result.rejected]
    ids = Counter(i.message.id for i in result.items)
    texts = Counter(" ".join(i.message.text.lower().split()) for i in result.items)
    problems += [f"{path}: duplicate id {k}" for k, n in ids.items() if n > 1]
    problems += [f"{path}: duplicate text {k!r}" for k, n in texts.items() if n > 1]
    for item in result.items:
        words = len(item.message.text.split())
        if not 2 <= words <= 90:
            problems.append(f"{path}: {item.message.id} has {words} words")
        if not item.message.space or item.labels.sentiment is None:
            problems.append(f"{path}: {item.message.id} lacks a space or a sentiment")
    return problems


if __name__ == "__main__":
    # `python -m data.seed data/seed/part-14.jsonl`: check a new part before adding it.
    found = [p for arg in sys.argv[1:] for p in check_part(Path(arg))]
    print("\n".join(found) or "no problems")
    sys.exit(1 if found else 0)
