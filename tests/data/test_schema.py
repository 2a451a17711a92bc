"""Message, Labels and LabelledMessage validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from data.schema import MAX_TEXT_CHARS, Channel, LabelledMessage, Labels, Message


@pytest.mark.parametrize("text", ["", " ", "\t\n  ", "\u00a0"])
def test_message_rejects_empty_or_whitespace_text(text: str) -> None:
    with pytest.raises(ValidationError, match="text"):
        Message(text=text)


def test_message_keeps_text_with_surrounding_whitespace_as_written() -> None:
    assert Message(text="  hi there \n").text == "  hi there \n"


def test_message_accepts_text_up_to_the_maximum_length_only() -> None:
    assert len(Message(text="x" * MAX_TEXT_CHARS).text) == MAX_TEXT_CHARS
    with pytest.raises(ValidationError, match="at most"):
        Message(text="x" * (MAX_TEXT_CHARS + 1))


@pytest.mark.parametrize("field", ["intent", "body", "likes"])
def test_message_rejects_unknown_fields(field: str) -> None:
    with pytest.raises(ValidationError, match="extra"):
        Message.model_validate({"text": "hi", field: "x"})


@pytest.mark.parametrize("channel", list(Channel))
def test_message_accepts_every_channel_by_value(channel: Channel) -> None:
    assert Message.model_validate({"text": "hi", "channel": channel.value}).channel is channel


def test_message_channel_defaults_to_other() -> None:
    assert Message(text="hi").channel is Channel.OTHER


@pytest.mark.parametrize("channel", ["myspace", "Twitter", ""])
def test_message_rejects_a_channel_outside_the_enum(channel: str) -> None:
    with pytest.raises(ValidationError, match="channel"):
        Message.model_validate({"text": "hi", "channel": channel})


def test_channel_values_are_lower_case_names() -> None:
    assert {c.value for c in Channel} >= {"twitter", "instagram", "facebook", "reddit", "email", "other"}
    assert all(c.value == c.name.lower() for c in Channel)


def test_created_at_defaults_to_an_aware_utc_datetime_of_now() -> None:
    before = datetime.now(UTC)
    created = Message(text="hi").created_at
    after = datetime.now(UTC)

    assert created.tzinfo is not None
    assert created.utcoffset() == timedelta(0)
    assert before <= created <= after


def test_each_message_gets_its_own_default_id() -> None:
    first, second = Message(text="a"), Message(text="a")

    assert first.id and second.id
    assert first.id != second.id


def test_metadata_defaults_to_a_fresh_dict_per_message() -> None:
    first, second = Message(text="a"), Message(text="b")
    first.metadata["k"] = 1

    assert second.metadata == {}


@pytest.mark.parametrize(
    ("labels", "head", "expected"),
    [
        (Labels(intent="spam"), "intent", "spam"),
        (Labels(intent="spam"), "urgency", None),
        (Labels(urgency="high", sentiment="neutral"), "sentiment", "neutral"),
        (Labels(intent="spam"), "topic", None),
        (Labels(intent="spam"), "get", None),
        (Labels(intent="spam"), "model_config", None),
    ],
)
def test_labels_get_returns_the_label_on_a_head_or_none(labels: Labels, head: str, expected: str | None) -> None:
    assert labels.get(head) == expected


@pytest.mark.parametrize(
    ("labels", "empty"),
    [
        (Labels(), True),
        (Labels(intent=None, urgency=None, sentiment=None), True),
        (Labels(intent="other"), False),
        (Labels(urgency="low"), False),
        (Labels(sentiment="neutral"), False),
    ],
)
def test_labels_are_empty_only_when_no_axis_is_labelled(labels: Labels, empty: bool) -> None:
    assert labels.is_empty() is empty


def test_labels_reject_unknown_heads() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Labels.model_validate({"intent": "spam", "topic": "billing"})


@pytest.mark.parametrize("weight", [0, -1.0])
def test_labelled_message_weight_must_be_positive(weight: float) -> None:
    with pytest.raises(ValidationError, match="weight"):
        LabelledMessage(message=Message(text="hi"), labels=Labels(), source="seed", weight=weight)


def test_labelled_message_weight_defaults_to_one() -> None:
    assert LabelledMessage(message=Message(text="hi"), labels=Labels(), source="seed").weight == 1.0
