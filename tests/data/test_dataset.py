"""Near-duplicate keys, deduplication, deterministic splits and fingerprints."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import cast

import pytest

from data.dataset import dedupe, fingerprint, near_duplicate_key, split_bucket, train_validation_split
from data.schema import LabelledMessage, Labels, Message

SUBJECTS = ["my order", "the app", "your website", "the refund", "my booking", "the checkout", "my account"]
VERBS = ["is broken", "keeps crashing", "looks great", "never arrived", "is slow", "got cancelled"]
TAILS = ["today", "again", "since monday", "for everyone", "on android"]


def item(text: str, source: str = "a", id: str | None = None, **labels: str) -> LabelledMessage:
    message = Message(text=text) if id is None else Message(id=id, text=text)
    return LabelledMessage(message=message, labels=Labels(**labels), source=source)


def distinct_texts(n: int) -> list[str]:
    """Texts whose near-duplicate keys all differ (digits would be stripped, so words vary instead)."""
    combos = [" ".join(words) for words in itertools.product(SUBJECTS, VERBS, TAILS)]
    assert len(combos) >= n
    return combos[:n]


@pytest.fixture
def corpus() -> list[LabelledMessage]:
    return [item(text, id=f"m{i}") for i, text in enumerate(distinct_texts(200))]


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param("Where IS my Refund", "where is my refund", id="case"),
        pytest.param("see https://t.co/Ab12 now", "see now", id="https-url"),
        pytest.param("see www.example.com/deal now", "see now", id="www-url"),
        pytest.param("@SkyLarkAir my bag is lost", "my bag is lost @other_brand", id="mentions"),
        pytest.param("flight 2214 delayed 3 hours", "flight delayed hours", id="digits"),
        pytest.param("delayed... AGAIN?!", "delayed again", id="punctuation"),
        pytest.param("snake_case_words", "snake case words", id="underscores"),
        pytest.param("  lots   of\tspace\n", "lots of space", id="whitespace"),
    ],
)
def test_near_duplicate_key_ignores_noise(left: str, right: str) -> None:
    assert near_duplicate_key(left) == near_duplicate_key(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("my order is late", "my order is lost"),
        ("refund please", "no refund please"),
        ("café closed", "cafe closed"),
    ],
)
def test_near_duplicate_key_keeps_different_words_apart(left: str, right: str) -> None:
    assert near_duplicate_key(left) != near_duplicate_key(right)


def test_near_duplicate_key_is_lower_case_words_separated_by_single_spaces() -> None:
    assert near_duplicate_key("@Brand WHY is order #123 late?? https://x.co/1") == "why is order late"


def test_dedupe_keeps_the_first_of_each_near_duplicate_group() -> None:
    items = [
        item("My order is late!", source="seed", id="first"),
        item("my order is late", source="twitter", id="copy"),
        item("love it", source="seed", id="other"),
        item("MY ORDER IS LATE 😡 https://x.co/1", source="forum", id="copy2"),
    ]
    kept, report = dedupe(items)

    assert [i.message.id for i in kept] == ["first", "other"]
    assert (report.kept, report.dropped) == (2, 2)


def test_dedupe_counts_dropped_rows_per_source() -> None:
    items = [
        item("same words", source="seed"),
        item("Same words!", source="twitter"),
        item("same, words", source="twitter"),
        item("SAME WORDS", source="forum"),
        item("unique", source="forum"),
    ]
    _, report = dedupe(items)

    assert report.dropped_by_source == {"twitter": 2, "forum": 1}
    assert report.dropped == sum(report.dropped_by_source.values())


def test_dedupe_merges_a_missing_axis_label_from_a_dropped_duplicate() -> None:
    items = [
        item("flight cancelled again", source="intent_corpus", intent="support_request"),
        item("Flight cancelled AGAIN!!", source="sentiment_corpus", sentiment="negative"),
    ]
    kept, report = dedupe(items)

    assert len(kept) == 1
    labels = kept[0].labels
    assert (labels.intent, labels.urgency, labels.sentiment) == ("support_request", None, "negative")
    assert report.label_conflicts == 0


def test_dedupe_counts_label_conflicts_and_keeps_the_first_label() -> None:
    items = [
        item("buy now", intent="spam", sentiment="positive"),
        item("Buy now!", intent="sales_question", sentiment="positive"),
        item("BUY NOW", intent="other", sentiment="neutral"),
    ]
    kept, report = dedupe(items)

    assert kept[0].labels.intent == "spam"
    assert kept[0].labels.sentiment == "positive"
    assert report.label_conflicts == 3


def test_dedupe_leaves_distinct_texts_alone(corpus: list[LabelledMessage]) -> None:
    kept, report = dedupe(corpus)

    assert [i.message.id for i in kept] == [i.message.id for i in corpus]
    assert (report.kept, report.dropped, report.label_conflicts, report.dropped_by_source) == (200, 0, 0, {})


def test_dedupe_tells_apart_texts_that_are_only_punctuation_or_digits() -> None:
    kept, report = dedupe([item("123"), item("456"), item("123")])

    assert [i.message.text for i in kept] == ["123", "456"]
    assert report.dropped == 1


def test_split_is_the_same_every_time(corpus: list[LabelledMessage]) -> None:
    first = train_validation_split(corpus, 0.2)
    second = train_validation_split(list(corpus), 0.2)

    assert [[i.message.id for i in part] for part in first] == [[i.message.id for i in part] for part in second]


def test_split_does_not_depend_on_input_order(corpus: list[LabelledMessage]) -> None:
    _, validation = train_validation_split(corpus, 0.2)
    _, reversed_validation = train_validation_split(corpus[::-1], 0.2)

    assert {i.message.id for i in validation} == {i.message.id for i in reversed_validation}


def test_split_changes_with_the_seed(corpus: list[LabelledMessage]) -> None:
    _, seed0 = train_validation_split(corpus, 0.2, seed=0)
    _, seed1 = train_validation_split(corpus, 0.2, seed=1)

    assert {i.message.id for i in seed0} != {i.message.id for i in seed1}


def test_split_puts_every_row_in_exactly_one_part(corpus: list[LabelledMessage]) -> None:
    train, validation = train_validation_split(corpus, 0.3)

    train_ids, validation_ids = {i.message.id for i in train}, {i.message.id for i in validation}
    assert not train_ids & validation_ids
    assert train_ids | validation_ids == {i.message.id for i in corpus}


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_split_roughly_respects_the_validation_fraction(corpus: list[LabelledMessage], fraction: float) -> None:
    _, validation = train_validation_split(corpus, fraction)

    assert abs(len(validation) / len(corpus) - fraction) < 0.08


@pytest.mark.parametrize(("fraction", "expected_validation"), [(0.0, 0), (1.0, 200)])
def test_split_fraction_extremes_put_everything_on_one_side(
    corpus: list[LabelledMessage], fraction: float, expected_validation: int
) -> None:
    train, validation = train_validation_split(corpus, fraction)

    assert (len(train), len(validation)) == (200 - expected_validation, expected_validation)


def test_near_duplicates_never_straddle_the_split() -> None:
    items = []
    for n, text in enumerate(distinct_texts(100)):
        items += [item(text, id=f"{n}-a"), item(f"@Brand {text.upper()} #{n}!! https://x.co/{n}", id=f"{n}-b")]
    train, validation = train_validation_split(items, 0.3)

    train_keys = {near_duplicate_key(i.message.text) for i in train}
    validation_keys = {near_duplicate_key(i.message.text) for i in validation}
    assert validation_keys
    assert not train_keys & validation_keys
    assert len(validation) == 2 * len(validation_keys)


def test_split_bucket_is_a_stable_number_in_the_unit_interval() -> None:
    buckets = [split_bucket(text) for text in distinct_texts(50)]

    assert all(0 <= b < 1 for b in buckets)
    assert buckets == [split_bucket(text) for text in distinct_texts(50)]
    assert split_bucket("hello", seed=0) != split_bucket("hello", seed=1)


def file_hashes(result: dict[str, object]) -> dict[str, str]:
    return cast(dict[str, str], result["files"])


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.csv"
    first.write_bytes(b'{"text": "one"}\n')
    second.write_bytes(b"text\ntwo\n")
    return [first, second]


def test_fingerprint_is_stable_for_the_same_inputs(files: list[Path]) -> None:
    rows = {"a": 1, "b": 1}

    assert fingerprint(files, rows) == fingerprint(list(reversed(files)), dict(reversed(rows.items())))


def test_fingerprint_records_each_file_hash_and_the_row_counts(files: list[Path]) -> None:
    result = fingerprint(files, {"b": 1, "a": 1})

    assert set(file_hashes(result)) == {str(p) for p in files}
    assert all(len(h) == 64 for h in file_hashes(result).values())
    assert result["rows"] == {"a": 1, "b": 1}


def test_fingerprint_changes_when_a_file_changes_by_one_byte(files: list[Path]) -> None:
    before = fingerprint(files, {"a": 1, "b": 1})
    files[0].write_bytes(b'{"text": "onE"}\n')
    after = fingerprint(files, {"a": 1, "b": 1})

    assert after["digest"] != before["digest"]
    assert file_hashes(after)[str(files[0])] != file_hashes(before)[str(files[0])]
    assert file_hashes(after)[str(files[1])] == file_hashes(before)[str(files[1])]


def test_fingerprint_changes_when_row_counts_change(files: list[Path]) -> None:
    before = fingerprint(files, {"a": 1, "b": 1})

    assert fingerprint(files, {"a": 1, "b": 2})["digest"] != before["digest"]
    assert fingerprint(files, {"a": 1, "b": 1, "c": 0})["digest"] != before["digest"]


def test_fingerprint_changes_when_a_file_is_added(files: list[Path]) -> None:
    assert fingerprint(files, {})["digest"] != fingerprint(files[:1], {})["digest"]
