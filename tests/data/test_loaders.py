"""load_table on tiny CSV, JSONL and Parquet files written into tmp_path."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.loaders import LoadResult, RejectedRow, load_table
from data.schema import MAX_TEXT_CHARS, Channel

MAPPING = {"id": "msg_id", "text": "body", "intent": "kind", "urgency": "priority", "sentiment": "tone"}
FORMATS = ("csv", "jsonl", "parquet")
# The row number a loader reports for the second data row: CSV counts the header line.
SECOND_ROW = {"csv": 3, "jsonl": 2, "parquet": 2}


def good_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "msg_id": "m1",
        "body": "@Brand where is my refund?",
        "kind": "support_request",
        "priority": "normal",
        "tone": "negative",
        "channel": "twitter",
    }
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    pq.write_table(pa.Table.from_pylist(rows), path)


WRITERS: dict[str, Callable[[Path, list[dict[str, Any]]], None]] = {
    "csv": write_csv,
    "jsonl": write_jsonl,
    "parquet": write_parquet,
}


def write(tmp_path: Path, fmt: str, rows: list[dict[str, Any]], stem: str = "inbox") -> Path:
    path = tmp_path / f"{stem}.{fmt}"
    WRITERS[fmt](path, rows)
    return path


def only_rejection(result: LoadResult) -> RejectedRow:
    assert len(result.rejected) == 1, result.rejected
    return result.rejected[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_mapped_columns_into_messages(tmp_path: Path, fmt: str) -> None:
    rows = [
        good_row(),
        good_row(msg_id="m2", body="love the new app", kind="advocacy", priority="low", tone="positive"),
    ]
    result = load_table(write(tmp_path, fmt, rows), MAPPING)

    assert result.rejected == []
    assert [item.message.id for item in result.items] == ["m1", "m2"]
    first, second = result.items
    assert first.message.text == "@Brand where is my refund?"
    assert first.message.channel is Channel.TWITTER
    assert (first.labels.intent, first.labels.urgency, first.labels.sentiment) == (
        "support_request",
        "normal",
        "negative",
    )
    assert (second.labels.intent, second.labels.urgency, second.labels.sentiment) == ("advocacy", "low", "positive")
    assert first.source == "inbox"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param({"body": None}, "missing text (column 'body')", id="missing-text"),
        pytest.param({"body": "  \t  "}, "missing text (column 'body')", id="whitespace-text"),
        pytest.param({"body": "x" * (MAX_TEXT_CHARS + 1)}, "invalid text", id="over-long-text"),
        pytest.param({"kind": "praise"}, "unknown intent label 'praise'", id="unknown-intent"),
        pytest.param({"priority": "urgent"}, "unknown urgency label 'urgent'", id="unknown-urgency"),
        pytest.param({"tone": "angry"}, "unknown sentiment label 'angry'", id="unknown-sentiment"),
    ],
)
def test_a_bad_row_is_rejected_with_file_row_and_reason(
    tmp_path: Path, fmt: str, bad: dict[str, Any], reason: str
) -> None:
    path = write(tmp_path, fmt, [good_row(), good_row(msg_id="m2", **bad), good_row(msg_id="m3")])
    result = load_table(path, MAPPING)

    rejected = only_rejection(result)
    assert rejected.file == str(path)
    assert rejected.row == SECOND_ROW[fmt]
    assert reason in rejected.reason
    assert str(rejected).startswith(f"{path}:{SECOND_ROW[fmt]}: ")
    assert [item.message.id for item in result.items] == ["m1", "m3"]
    assert result.read == 3


def test_text_of_exactly_the_maximum_length_is_kept(tmp_path: Path) -> None:
    result = load_table(write(tmp_path, "jsonl", [good_row(body="x" * MAX_TEXT_CHARS)]), MAPPING)

    assert result.rejected == []
    assert len(result.items[0].message.text) == MAX_TEXT_CHARS


def test_undecodable_bytes_in_a_jsonl_line_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "inbox.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{"text": "bad \xff\xfe bytes"}\n{"text": "also fine"}\n')
    result = load_table(path)

    rejected = only_rejection(result)
    assert (rejected.file, rejected.row) == (str(path), 2)
    assert "undecodable bytes" in rejected.reason
    assert [item.message.text for item in result.items] == ["fine", "also fine"]


def test_undecodable_bytes_in_a_csv_row_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "inbox.csv"
    path.write_bytes(b"text,intent\nfine,other\nbad \xff\xfe bytes,other\nalso fine,other\n")
    result = load_table(path)

    rejected = only_rejection(result)
    assert (rejected.file, rejected.row) == (str(path), 3)
    assert "undecodable bytes" in rejected.reason
    assert [item.message.text for item in result.items] == ["fine", "also fine"]


def test_undecodable_bytes_in_a_parquet_binary_column_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "inbox.parquet"
    table = pa.table({"text": pa.array([b"fine", b"bad \xff\xfe bytes", b"also fine"], type=pa.binary())})
    pq.write_table(table, path)
    result = load_table(path)

    rejected = only_rejection(result)
    assert (rejected.file, rejected.row) == (str(path), 2)
    assert "undecodable bytes" in rejected.reason
    assert "'text'" in rejected.reason
    assert [item.message.text for item in result.items] == ["fine", "also fine"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param("{not json", "invalid JSON", id="invalid-json"),
        pytest.param('{"text": "cut off', "invalid JSON", id="truncated-object"),
        pytest.param('["a", "list"]', "not a JSON object", id="list"),
        pytest.param('"just a string"', "not a JSON object", id="string"),
        pytest.param("42", "not a JSON object", id="number"),
    ],
)
def test_a_jsonl_line_that_is_not_a_json_object_is_rejected(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "inbox.jsonl"
    path.write_text(f'{{"text": "fine"}}\n{line}\n{{"text": "also fine"}}\n', encoding="utf-8")
    result = load_table(path)

    rejected = only_rejection(result)
    assert (rejected.file, rejected.row) == (str(path), 2)
    assert reason in rejected.reason
    assert result.kept == 2


def test_every_row_read_is_either_kept_or_rejected(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        b'{"text": "fine", "intent": "other"}',
        b'{"text": "", "intent": "other"}',
        b'{"text": "fine again", "intent": "praise"}',
        b"{oops",
        b"[1, 2]",
        b'{"text": "\xff"}',
        b'{"text": "' + b"y" * (MAX_TEXT_CHARS + 1) + b'"}',
        b'{"text": "last one", "sentiment": "neutral"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = load_table(path)

    assert result.read == len(lines)
    assert result.kept == 2
    assert len(result.rejected) == 6
    assert result.read == result.kept + len(result.rejected)
    assert sorted(r.row for r in result.rejected) == [2, 3, 4, 5, 6, 7]


def test_blank_jsonl_lines_are_not_counted_as_rows(tmp_path: Path) -> None:
    path = tmp_path / "inbox.jsonl"
    path.write_text('{"text": "one"}\n\n   \n{"text": "two"}\n', encoding="utf-8")
    result = load_table(path)

    assert (result.read, result.kept, result.rejected) == (2, 2, [])
    assert [item.message.id for item in result.items] == ["inbox-1", "inbox-4"]


def test_summary_states_read_kept_and_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "jsonl", [good_row(), good_row(body=" "), good_row(kind="nope"), good_row()])

    assert load_table(path, MAPPING).summary() == "read 4 rows, kept 2, rejected 2"


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_are_normalised_to_lower_case_without_padding(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, fmt, [good_row(kind="Spam ", priority=" HIGH", tone="Negative\t")])
    labels = load_table(path, MAPPING).items[0].labels

    assert (labels.intent, labels.urgency, labels.sentiment) == ("spam", "high", "negative")


def test_a_missing_label_column_leaves_that_axis_unlabelled(tmp_path: Path) -> None:
    path = tmp_path / "sentiment_only.jsonl"
    write_jsonl(path, [{"text": "meh", "sentiment": "neutral"}, {"text": "ok", "intent": "", "sentiment": "neutral"}])
    result = load_table(path)

    assert result.rejected == []
    assert [(i.labels.intent, i.labels.urgency, i.labels.sentiment) for i in result.items] == [
        (None, None, "neutral"),
        (None, None, "neutral"),
    ]


@pytest.mark.parametrize("suffix", [".txt", ".xlsx", ".tsv", ""])
def test_an_unsupported_extension_raises_value_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"inbox{suffix}"
    path.write_text('{"text": "hello"}\n', encoding="utf-8")

    with pytest.raises(ValueError, match="unsupported format"):
        load_table(path)


def test_an_explicit_format_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "inbox.txt"
    path.write_text('{"text": "hello"}\n', encoding="utf-8")

    assert [item.message.text for item in load_table(path, fmt="jsonl").items] == ["hello"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_extra_columns_land_in_metadata_and_mapped_ones_do_not(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, fmt, [good_row(likes="7", permalink="https://x.example/1")])
    message = load_table(path, MAPPING).items[0].message

    assert message.metadata == {"likes": "7", "permalink": "https://x.example/1"}


def test_metadata_keeps_json_scalars_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "inbox.jsonl"
    write_jsonl(path, [{"text": "hi", "likes": 3, "score": 0.5, "verified": True, "tags": ["a"], "gone": None}])
    metadata = load_table(path).items[0].message.metadata

    assert {k: metadata[k] for k in ("likes", "score", "verified")} == {"likes": 3, "score": 0.5, "verified": True}
    assert isinstance(metadata["tags"], str)
    assert "gone" not in metadata


@pytest.mark.parametrize(("fmt", "first_row"), [("csv", 2), ("jsonl", 1), ("parquet", 1)])
def test_the_default_id_is_source_dash_row(tmp_path: Path, fmt: str, first_row: int) -> None:
    path = write(tmp_path, fmt, [{"text": "one"}, {"text": "two"}], stem="forum_dump")

    by_stem = [item.message.id for item in load_table(path).items]
    by_source = [item.message.id for item in load_table(path, source="forum").items]

    assert by_stem == [f"forum_dump-{first_row}", f"forum_dump-{first_row + 1}"]
    assert by_source == [f"forum-{first_row}", f"forum-{first_row + 1}"]


def test_an_id_column_wins_over_the_default_id(tmp_path: Path) -> None:
    path = tmp_path / "inbox.jsonl"
    write_jsonl(path, [{"id": 1234, "text": "one"}])

    assert load_table(path).items[0].message.id == "1234"


def test_an_unknown_channel_is_rejected_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "inbox.jsonl"
    write_jsonl(path, [{"text": "hi", "channel": "myspace"}])

    assert "invalid channel" in only_rejection(load_table(path)).reason


@pytest.mark.parametrize(("weight", "expected"), [("2.5", 2.5), (0.25, 0.25), (None, 1.0)])
def test_weight_is_read_from_its_column_or_defaults_to_one(tmp_path: Path, weight: Any, expected: float) -> None:
    path = tmp_path / "inbox.jsonl"
    write_jsonl(path, [{"text": "hi", "weight": weight}])

    assert load_table(path).items[0].weight == expected


@pytest.mark.parametrize("weight", ["abc", "-1", "0"])
def test_an_invalid_weight_is_rejected(tmp_path: Path, weight: str) -> None:
    path = tmp_path / "inbox.jsonl"
    write_jsonl(path, [{"text": "hi", "weight": weight}])

    assert "invalid weight" in only_rejection(load_table(path)).reason


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_numeric_zero_weight_is_rejected_like_the_string_zero(tmp_path: Path, fmt: str) -> None:
    result = load_table(write(tmp_path, fmt, [{"text": "hi", "weight": 0.0}]))

    assert "invalid weight" in only_rejection(result).reason


def test_a_csv_record_spanning_lines_is_reported_at_the_row_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "inbox.csv"
    path.write_text('text,intent\n"first line\nsecond line",praise\n', encoding="utf-8")

    assert only_rejection(load_table(path)).row == 2
