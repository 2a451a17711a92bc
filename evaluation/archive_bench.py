"""Material for the archive throughput benchmark: a synthetic archive and the API batch path's timing."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from evaluation.load_test import require_loopback

API_BATCH = 512
OPENINGS = ("", "", "hi ", "hey team, ", "hello! ", "@support ", "quick q: ", "urgent: ")
ENDINGS = ("", "", " thanks", " pls help", " ??", " 🙏", " - sent from my phone", " (2nd message about this)")


def synthetic_texts(rows: int, seed: int = 0) -> list[str]:
    """`rows` messages: seed-corpus texts with varied openings, endings, case and order numbers."""
    from data.seed import load_seed

    pool = [item.message.text for item in load_seed("all").items]
    rng = random.Random(seed)
    texts = []
    for _ in range(rows):
        text = rng.choice(OPENINGS) + rng.choice(pool) + rng.choice(ENDINGS)
        if rng.random() < 0.1:
            text = text.lower()
        if rng.random() < 0.2:
            text += f" order #{rng.randint(10_000, 99_999)}"
        texts.append(text)
    return texts


def write_synthetic_archive(path: Path, rows: int, seed: int = 0) -> Path:
    """A JSONL archive of `rows` synthetic messages with ids `syn-0000000`, ..."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(synthetic_texts(rows, seed)):
            f.write(json.dumps({"id": f"syn-{i:07d}", "text": text}) + "\n")
    return path


def api_batch_throughput(base_url: str, key: str, texts: Sequence[str], batch: int = API_BATCH) -> float:
    """Seconds to classify `texts` through `POST /v1/classify/batch` in requests of `batch`, one at a time
    (after one warm-up request); fails on any request or item that does not succeed."""
    require_loopback(base_url)
    bodies = [
        {"messages": [{"text": t, "store": False} for t in texts[i : i + batch]]} for i in range(0, len(texts), batch)
    ]
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=300) as client:
        client.post("/v1/classify/batch", json=bodies[0]).raise_for_status()
        start = time.perf_counter()
        for body in bodies:
            response = client.post("/v1/classify/batch", json=body)
            response.raise_for_status()
            if failed := response.json()["failed"]:
                raise RuntimeError(f"{failed} messages of a batch failed: {response.text[:500]}")
        return time.perf_counter() - start
