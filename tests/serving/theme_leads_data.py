"""Planted months for the leads' theme features, written straight into a store, themed in milliseconds.

Each subject has a few phrasings (questions among them), an intent and a sentiment; messages carry
hashing-encoder embeddings. `KeywordThemeModel` stands in for BERTopic in `run_month`: it puts a
message in the theme of the subject whose key words it contains, so the registry's matching,
renames and merges are tested on exactly known themes.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

import numpy as np
import pytest
from sqlalchemy.orm import Session

from models.encoders import HashingEncoder
from models.themes import Theme, ThemeParams
from serving.store.tables import EmbeddingRecord, MessageRecord, SuggestionRecord
from serving.theme_runs import run_month

ENCODER = HashingEncoder(256)


@dataclass(frozen=True)
class Subject:
    """Messages on one subject: phrasings used in turn, and the labels every one of them gets."""

    key: str
    texts: tuple[str, ...]
    intent: str
    sentiment: str
    urgency: str = "normal"


SUBJECTS = {
    s.key: s
    for s in (
        Subject(
            "refund",
            (
                "where is my refund?",
                "where is my refund??",
                "Where is my refund",
                "refund still missing for my cancelled order",
                "how long does a refund take?",
                "how long does a refund take",
                "still no refund, this is ridiculous",
            ),
            "support_request",
            "negative",
            "high",
        ),
        Subject(
            "money back",
            (
                "I want my money back",
                "give me my money back now",
                "money back please, the product broke",
                "can I get my money back?",
            ),
            "support_request",
            "negative",
        ),
        Subject(
            "canada",
            (
                "do you ship to canada?",
                "Do you ship to Canada?",
                "do you ship to canada",
                "shipping cost to canada for two items",
                "is canada delivery free over 50 dollars",
            ),
            "sales_question",
            "neutral",
        ),
        Subject(
            "dark mode",
            (
                "please add a dark mode",
                "dark mode would be great at night",
                "the app needs dark mode badly",
            ),
            "feedback",
            "negative",
            "low",
        ),
        Subject(
            "thank",
            (
                "thank you for the quick fix, love it",
                "thank you team, best support ever",
                "big thank you for the new release",
            ),
            "advocacy",
            "positive",
            "low",
        ),
    )
}


def add_month(session: Session, month: str, sizes: Mapping[str, int]) -> list[str]:
    """Store `sizes[subject]` messages of each subject in `month`, classified and embedded; their ids."""
    year, mon = (int(p) for p in month.split("-"))
    ids = []
    for key, size in sizes.items():
        subject = SUBJECTS[key]
        texts = list(itertools.islice(itertools.cycle(subject.texts), size))
        vectors = ENCODER.encode(texts)
        for n, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
            message_id = uuid4().hex
            created = datetime(year, mon, 1 + n % 27, 10, n % 60, tzinfo=UTC)
            session.add(MessageRecord(id=message_id, channel="forum", text=text, created_at=created))
            session.flush()
            labels = {"intent": subject.intent, "sentiment": subject.sentiment, "urgency": subject.urgency}
            for head, label in labels.items():
                session.add(
                    SuggestionRecord(
                        message_id=message_id,
                        head=head,
                        label=label,
                        probability=0.9,
                        probabilities={label: 0.9},
                        abstained=False,
                        model_name="tidings-classifier",
                        model_version="1",
                        created_at=created,
                    )
                )
            session.add(
                EmbeddingRecord(message_id=message_id, encoder=ENCODER.name, dim=ENCODER.dim, vector=vector.tobytes())
            )
            ids.append(message_id)
    session.flush()
    return ids


class KeywordThemeModel:
    """A stand-in for `ThemeModel`: one theme per subject key found in the texts, largest first."""

    def __init__(self, params: ThemeParams | None = None) -> None:
        self.params = params or ThemeParams()

    def fit(self, texts: Sequence[str], embeddings: np.ndarray) -> KeywordThemeModel:
        """Theme the texts by subject key."""
        keys = [next((k for k in SUBJECTS if k in t.lower()), None) for t in texts]
        counts = {k: keys.count(k) for k in SUBJECTS if keys.count(k)}
        order = sorted(counts, key=lambda k: -counts[k])
        self.labels_ = np.array([order.index(k) if k is not None else -1 for k in keys])
        self.themes_ = []
        for index, key in enumerate(order):
            members = np.flatnonzero(self.labels_ == index)
            mean = embeddings[members].mean(axis=0)
            self.themes_.append(
                Theme(index, key, key.split(), len(members), mean / np.linalg.norm(mean), list(members[:3]))
            )
        self.outlier_share_ = float(np.mean(self.labels_ < 0))
        self.metrics_ = {"n_themes": len(self.themes_), "outlier_share": self.outlier_share_}
        return self


def theme_month(session: Session, monkeypatch: pytest.MonkeyPatch, month: str, sizes: Mapping[str, int]) -> str:
    """Store a planted month and theme it with `KeywordThemeModel`; the run's id."""
    add_month(session, month, sizes)
    monkeypatch.setattr("serving.theme_runs.ThemeModel", KeywordThemeModel)
    run = run_month(session, month, ThemeParams(word_encoder="none"))
    session.commit()
    return run.id
