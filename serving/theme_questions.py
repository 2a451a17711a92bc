"""FAQ candidates: the questions people keep asking within a month's support- and sales-heavy themes.

A theme qualifies when at least `QUESTION_INTENT_SHARE` of its classified messages are support
requests or sales questions. Its question-like messages are grouped by their stored embeddings
(`models.questions`: cosine similarity 0.8, medoid phrasing); the month shows its
`MAX_QUESTIONS` most asked, each with up to `EXAMPLES` message ids, the medoid first. Only a
theme's latest `QUESTIONS_PER_THEME` questions are grouped, which bounds the time a summary takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.questions import is_question, repeated_questions
from serving import theme_registry
from serving.store.embeddings import VECTOR_DTYPE
from serving.store.tables import EmbeddingRecord, MessageRecord
from serving.store.theme_tables import ThemeAssignmentRecord, ThemeRunRecord

QUESTION_INTENTS = ("support_request", "sales_question")
QUESTION_INTENT_SHARE = 0.5
MAX_QUESTIONS = 10
EXAMPLES = 5
# Grouping compares every pair of a theme's questions: 5,000 of 384 dimensions took 3.2 s on 2 shared cores.
QUESTIONS_PER_THEME = 2000


def asks_questions(intent_mix: Mapping[str, int]) -> bool:
    """Whether a theme's intent mix is mostly support requests and sales questions."""
    total = sum(intent_mix.values())
    return total > 0 and sum(intent_mix.get(i, 0) for i in QUESTION_INTENTS) / total >= QUESTION_INTENT_SHARE


def month_questions(session: Session, run: ThemeRunRecord, theme_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The run's most repeated questions within the themes `theme_ids` (surviving ids), most asked first."""
    wanted = set(theme_ids)
    encoder = run.params.get("encoder")
    if not wanted or not encoder:
        return []
    rows = session.execute(
        select(ThemeAssignmentRecord.theme_id, MessageRecord.id, MessageRecord.text, EmbeddingRecord.vector)
        .join(MessageRecord, MessageRecord.id == ThemeAssignmentRecord.message_id)
        .join(
            EmbeddingRecord,
            (EmbeddingRecord.message_id == MessageRecord.id) & (EmbeddingRecord.encoder == encoder),
        )
        .where(ThemeAssignmentRecord.run_id == run.id, ThemeAssignmentRecord.theme_id.is_not(None))
        .order_by(MessageRecord.created_at, MessageRecord.id)
    ).all()
    by_theme: dict[str, list[tuple[str, str, bytes]]] = {}
    survivors: dict[str, str] = {}
    for theme_id, message_id, text, vector in rows:
        if theme_id is None:
            continue
        if theme_id not in survivors:
            survivors[theme_id] = theme_registry.surviving_id(session, theme_id)
        if survivors[theme_id] in wanted and is_question(text):
            by_theme.setdefault(survivors[theme_id], []).append((message_id, text, vector))
    found: list[dict[str, Any]] = []
    for theme_id, asked in by_theme.items():
        members = asked[-QUESTIONS_PER_THEME:]
        texts = [text for _, text, _ in members]
        vectors = np.stack([np.frombuffer(vector, dtype=VECTOR_DTYPE) for _, _, vector in members])
        for group in repeated_questions(texts, vectors):
            found.append(
                {
                    "theme_id": theme_id,
                    "text": texts[group.medoid],
                    "message_id": members[group.medoid][0],
                    "count": group.count,
                    "message_ids": [members[i][0] for i in group.members[:EXAMPLES]],
                }
            )
    found.sort(key=lambda q: (-int(q["count"]), str(q["text"]).lower()))
    return found[:MAX_QUESTIONS]
