"""Questions people keep asking: question-like messages grouped with their near-duplicates.

A message is question-like when it holds a question mark, or when its first word, after any
leading @handles and a greeting, is an interrogative or an auxiliary that opens a question
("how", "where", "do", "can", ...).

Near-duplicates are questions whose stored embeddings reach a cosine similarity of `SIMILARITY`
(0.8). Measured on all-MiniLM-L6-v2 (`minilm-l6.v1`), rewordings of one question score 0.85-0.99
("do you ship to canada?" / "do you deliver to canada?" 0.87, "is there a student discount?" /
"do you have student discounts?" 0.91) while different questions on one subject score 0.46-0.77
("... to canada?" / "... to mexico?" 0.71, "where is my refund?" / "where is my order?" 0.46). The
hashing encoder only reaches 0.8 for near-verbatim repeats, so on it the groups are stricter.

Grouping is greedy and deterministic: the ungrouped question with the most ungrouped neighbours
at or above the threshold leads a group of itself and those neighbours, so every member is that
close to its leader. A group is shown through its medoid, the member with the highest mean
similarity to the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SIMILARITY = 0.8
MIN_COUNT = 2
INTERROGATIVES = frozenset(
    word
    for group in (
        "how what when where which who whom whose why",
        "is are am was were do does did can could will would shall should may might must has have had",
        "any anyone anybody isn't aren't don't doesn't didn't can't won't",
    )
    for word in group.split()
)
GREETINGS = frozenset({"hi", "hello", "hey", "hiya", "morning", "dear", "ok", "so", "please", "pls", "and", "but"})
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_HANDLE = re.compile(r"^(?:\s*@\w+[,:]?)+")


@dataclass(frozen=True)
class RepeatedQuestion:
    """A question asked several times: the medoid's index and every member's index, medoid first."""

    medoid: int
    members: list[int]

    @property
    def count(self) -> int:
        """How many messages asked it."""
        return len(self.members)


def is_question(text: str) -> bool:
    """Whether the message reads as a question (see the module docstring)."""
    if "?" in text:
        return True
    words = [w.lower().replace("’", "'") for w in _WORD.findall(_HANDLE.sub("", text))[:4]]
    while words and words[0] in GREETINGS:
        words.pop(0)
    return bool(words) and words[0] in INTERROGATIVES


def repeated_questions(
    texts: Sequence[str], embeddings: np.ndarray, threshold: float = SIMILARITY, min_count: int = MIN_COUNT
) -> list[RepeatedQuestion]:
    """The questions among `texts` asked at least `min_count` times, most asked first.

    `embeddings` has one row per text; indices refer to `texts`. Texts that are not questions are ignored.
    """
    vectors = np.asarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ValueError(f"need one embedding row per text: {len(texts)} texts, embeddings of shape {vectors.shape}")
    asked = np.array([i for i, text in enumerate(texts) if is_question(text)], dtype=int)
    if len(asked) < min_count:
        return []
    norms = np.linalg.norm(vectors[asked], axis=1, keepdims=True)
    unit = vectors[asked] / np.where(norms == 0, 1.0, norms)
    sims = unit @ unit.T
    close = sims >= threshold
    np.fill_diagonal(close, True)
    free = np.ones(len(asked), dtype=bool)
    degree = close.sum(axis=1)  # ungrouped neighbours of each question, kept current as groups form
    groups = []
    while free.any():
        leader = int(np.argmax(np.where(free, degree, -1)))
        members = np.flatnonzero(close[leader] & free)
        if len(members) < min_count:
            break  # the leader has the most neighbours left, so no later group is large enough
        free[members] = False
        degree -= close[:, members].sum(axis=1)
        within = sims[np.ix_(members, members)]
        medoid = int(members[np.argmax(within.sum(axis=1))])
        ordered = [medoid, *(int(m) for m in members if m != medoid)]
        groups.append(RepeatedQuestion(int(asked[medoid]), [int(asked[m]) for m in ordered]))
    return sorted(groups, key=lambda g: (-g.count, g.medoid))
