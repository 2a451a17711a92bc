"""Questions people keep asking: what reads as a question, and near-duplicates grouped by embedding."""

from __future__ import annotations

import numpy as np
import pytest

from models.encoders import HashingEncoder
from models.questions import SIMILARITY, RepeatedQuestion, is_question, repeated_questions


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("do you ship to canada", True),
        ("Where is my refund", True),
        ("@support hi, how do I reset my password", True),
        ("Hello, can anyone help with billing", True),
        ("hey any update on my order", True),
        ("refund still missing?", True),
        ("please add dark mode", False),
        ("thanks for the quick fix", False),
        ("I wonder how this works", False),
        ("", False),
        ("@support", False),
    ],
)
def test_question_like_messages(text, asked):
    assert is_question(text) is asked


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_near_duplicates_form_one_group_shown_by_its_medoid():
    texts = ["is there a student discount?", "student discount?", "do you offer a student discount?", "hello"]
    # The middle phrasing sits between the other two; "hello" is close but is no question.
    vectors = np.stack([unit(1, 0.25, 0), unit(1, 0, 0), unit(1, -0.25, 0), unit(1, 0, 0)])
    (group,) = repeated_questions(texts, vectors)
    assert group == RepeatedQuestion(medoid=1, members=[1, 0, 2]) and group.count == 3


def test_groups_are_separated_by_the_threshold_and_ranked_by_count():
    texts = ["where is my refund?"] * 2 + ["do you ship to canada?"] * 3 + ["is it open?", "how much is it?"]
    vectors = np.stack([unit(1, 0, 0), unit(1, 0.1, 0), *[unit(0, 1, 0)] * 3, unit(0, 0, 1), unit(0, 0.1, 1)])
    groups = repeated_questions(texts, vectors)
    assert [g.members for g in groups] == [[2, 3, 4], [0, 1], [5, 6]]
    # Just under the threshold apart: no longer one question.
    below = np.cos(np.arccos(SIMILARITY) + 0.01)
    apart = np.stack([unit(1, 0), np.array([below, np.sqrt(1 - below**2)], dtype=np.float32)])
    assert repeated_questions(["how?", "how so?"], apart) == []
    assert repeated_questions(["how?", "how so?"], apart, threshold=below - 0.01)[0].count == 2


def test_each_member_is_close_to_its_leader_and_singletons_are_dropped():
    encoder = HashingEncoder(256)
    texts = [
        "do you ship to canada?",
        "Do you ship to Canada?",
        "do you ship to canada??",
        "where is my refund?",
        "where is my refund",
        "how long does a refund take?",
        "please add a dark mode",
        "please add a dark mode",
    ]
    groups = repeated_questions(texts, encoder.encode(texts))
    assert [(texts[g.medoid], g.count) for g in groups] == [("do you ship to canada?", 3), ("where is my refund?", 2)]
    assert repeated_questions(texts, encoder.encode(texts), min_count=4) == []


def test_zero_vectors_and_bad_shapes():
    assert repeated_questions(["why?", "why?"], np.zeros((2, 4), dtype=np.float32)) == []
    assert repeated_questions([], np.empty((0, 4))) == []
    with pytest.raises(ValueError, match="one embedding row per text"):
        repeated_questions(["why?"], np.zeros((2, 4)))
