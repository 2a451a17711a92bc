"""The shipped taxonomy and taxonomies loaded from YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from data.loaders import load_table
from data.taxonomy import Taxonomy, default_taxonomy, load_taxonomy

GUIDE_INTENTS = {
    "support_request",
    "sales_question",
    "feedback",
    "moderation_issue",
    "spam",
    "partnership_inquiry",
    "advocacy",
    "other",
}
CUSTOM_YAML = """\
version: 3
heads:
  intent:
    description: Why they wrote.
    labels:
      question:
        definition: Asks something.
      complaint:
        definition: Unhappy about something.
      thanks:
    tie_breaks:
      - complaint beats question.
  urgency:
    ordinal: true
    labels:
      later:
        definition: Can wait.
      now:
        definition: Cannot wait.
"""


@pytest.fixture
def shipped() -> Taxonomy:
    return default_taxonomy()


@pytest.fixture
def custom_path(tmp_path: Path) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(CUSTOM_YAML, encoding="utf-8")
    return path


def test_the_shipped_taxonomy_has_intent_urgency_and_sentiment_heads(shipped: Taxonomy) -> None:
    assert shipped.head_names == ("intent", "urgency", "sentiment")


def test_the_shipped_intents_are_the_eight_guide_labels(shipped: Taxonomy) -> None:
    labels = shipped["intent"].labels

    assert len(labels) == 8
    assert set(labels) == GUIDE_INTENTS
    assert shipped["intent"].ordinal is False


def test_the_shipped_urgency_is_ordinal_from_low_to_critical(shipped: Taxonomy) -> None:
    urgency = shipped["urgency"]

    assert urgency.labels == ("low", "normal", "high", "critical")
    assert urgency.ordinal is True
    assert urgency.index("low") < urgency.index("normal") < urgency.index("high") < urgency.index("critical")


def test_the_shipped_sentiments_are_negative_neutral_positive(shipped: Taxonomy) -> None:
    assert set(shipped["sentiment"].labels) == {"negative", "neutral", "positive"}
    assert shipped["sentiment"].ordinal is False


@pytest.mark.parametrize("head", ["intent", "urgency", "sentiment"])
def test_every_shipped_label_has_a_non_empty_definition(shipped: Taxonomy, head: str) -> None:
    spec = shipped[head]

    assert set(spec.definitions) == set(spec.labels)
    assert all(spec.definitions[label].strip() for label in spec.labels), spec.definitions


def test_the_shipped_intent_head_carries_its_tie_breaks(shipped: Taxonomy) -> None:
    assert any("moderation_issue" in rule for rule in shipped["intent"].tie_breaks)


def test_load_taxonomy_without_a_path_is_the_shipped_one(shipped: Taxonomy) -> None:
    assert load_taxonomy() == shipped


@pytest.mark.parametrize(
    ("head", "label", "expected"),
    [
        ("intent", "spam", "spam"),
        ("intent", " Spam ", "spam"),
        ("intent", "SUPPORT_REQUEST", "support_request"),
        ("urgency", "Critical\n", "critical"),
        ("sentiment", "\tNeutral", "neutral"),
        ("sentiment", None, None),
    ],
)
def test_validate_normalises_known_labels(
    shipped: Taxonomy, head: str, label: str | None, expected: str | None
) -> None:
    assert shipped.validate(head, label) == expected


@pytest.mark.parametrize(
    ("head", "label"),
    [("intent", "praise"), ("intent", ""), ("urgency", "urgent"), ("sentiment", "mixed"), ("sentiment", "low")],
)
def test_validate_raises_key_error_naming_head_and_label(shipped: Taxonomy, head: str, label: str) -> None:
    with pytest.raises(KeyError, match=f"unknown {head} label '{label}'"):
        shipped.validate(head, label)


def test_validate_raises_key_error_for_an_unknown_head(shipped: Taxonomy) -> None:
    with pytest.raises(KeyError):
        shipped.validate("topic", "billing")


def test_a_custom_yaml_taxonomy_loads_its_own_label_sets(custom_path: Path) -> None:
    taxonomy = load_taxonomy(custom_path)

    assert taxonomy.version == 3
    assert taxonomy.head_names == ("intent", "urgency")
    assert taxonomy["intent"].labels == ("question", "complaint", "thanks")
    assert taxonomy["intent"].definitions == {
        "question": "Asks something.",
        "complaint": "Unhappy about something.",
        "thanks": "",
    }
    assert taxonomy["intent"].tie_breaks == ("complaint beats question.",)
    assert taxonomy["urgency"].ordinal is True
    assert taxonomy.validate("intent", "Complaint") == "complaint"
    with pytest.raises(KeyError, match="unknown intent label 'spam'"):
        taxonomy.validate("intent", "spam")


def test_the_loader_validates_against_a_custom_taxonomy_without_code_changes(tmp_path: Path, custom_path: Path) -> None:
    data = tmp_path / "inbox.jsonl"
    data.write_text(
        '{"text": "why is it broken", "intent": "Complaint", "urgency": "now"}\n'
        '{"text": "buy followers", "intent": "spam", "urgency": "now"}\n',
        encoding="utf-8",
    )
    result = load_table(data, taxonomy=load_taxonomy(custom_path))

    assert [(i.labels.intent, i.labels.urgency) for i in result.items] == [("complaint", "now")]
    assert [(r.row, "'spam'" in r.reason) for r in result.rejected] == [(2, True)]


def test_the_shipped_taxonomy_survives_a_to_dict_from_dict_round_trip(shipped: Taxonomy) -> None:
    as_json = json.loads(json.dumps(shipped.to_dict()))

    assert Taxonomy.from_dict(as_json) == shipped


def test_a_custom_taxonomy_survives_a_to_dict_from_dict_round_trip(custom_path: Path) -> None:
    taxonomy = load_taxonomy(custom_path)
    rebuilt = Taxonomy.from_dict(taxonomy.to_dict())

    assert rebuilt == taxonomy
    assert rebuilt["urgency"].labels == ("later", "now")


def test_to_dict_lists_labels_in_order_with_definitions(shipped: Taxonomy) -> None:
    urgency = cast(dict[str, Any], shipped.to_dict()["heads"])["urgency"]

    assert list(urgency["labels"]) == ["low", "normal", "high", "critical"]
    assert urgency["ordinal"] is True
    assert all(spec["definition"] for spec in urgency["labels"].values())
