"""Shared fixtures: an isolated data directory and small inline datasets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from data.settings import Settings, get_settings

INTENT_EXAMPLES = {
    "support_request": ["my order never arrived where is it", "cant log in to my account help", "refund still missing"],
    "sales_question": ["how much is the pro plan", "do you ship to canada", "any discount for students"],
    "feedback": ["please add dark mode", "the new layout is worse", "you should support csv export"],
    "moderation_issue": ["you are a worthless idiot", "i will hurt you", "go die you loser"],
    "spam": ["subscribe to my channel", "earn 500 a day click here", "free followers check my bio"],
    "partnership_inquiry": [
        "we would love to collaborate",
        "sponsor our event next month",
        "who handles press requests",
    ],
    "advocacy": ["best app ever thank you", "love this brand so much", "thanks for the quick fix"],
    "other": ["lol", "happy friday everyone", "what he said"],
}
URGENCY_OF = {"moderation_issue": "critical", "support_request": "high", "sales_question": "normal"}
SENTIMENT_OF = {"advocacy": "positive", "moderation_issue": "negative", "support_request": "negative"}


def tiny_rows() -> list[dict[str, str]]:
    """24 messages labelled on all three axes, three per intent."""
    rows = []
    for intent, texts in INTENT_EXAMPLES.items():
        for n, text in enumerate(texts):
            rows.append(
                {
                    "id": f"{intent}-{n}",
                    "text": text,
                    "intent": intent,
                    "urgency": URGENCY_OF.get(intent, "low"),
                    "sentiment": SENTIMENT_OF.get(intent, "neutral"),
                }
            )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """Write rows as JSON lines."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_config(train: Path, gate: Path, name: str = "tiny") -> dict:
    """A `fast` training config over JSONL files: hashing encoder, linear heads, seconds to fit."""
    return {
        "name": name,
        "profile": "fast",
        "sources": [{"name": "tiny", "path": str(train)}],
        "gate_sets": [{"name": "gate", "path": str(gate)}],
        "validation_fraction": 0.2,
        "classifier": {"encoder": "hashing.v1:256", "hidden": 0},
        "heads": {"epochs": 120, "lr": 0.05, "batch_size": 8},
    }


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at a fresh data directory (MLflow store, caches) for one test."""
    monkeypatch.setenv("TIDINGS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TIDINGS_MLFLOW_URI", raising=False)
    monkeypatch.delenv("TIDINGS_ENCODER", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def tiny_jsonl(tmp_path: Path) -> Path:
    """The tiny labelled dataset as a JSONL file."""
    return write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
