"""Read labelled messages from CSV, JSONL or Parquet files through a column mapping.

Every bad row is reported with file, row number and reason; nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from data.schema import LabelledMessage, Labels, Message
from data.taxonomy import Taxonomy, default_taxonomy

MESSAGE_FIELDS = ("id", "external_id", "text", "channel", "created_at", "author", "space", "thread_id", "language")
LABEL_FIELDS = ("intent", "urgency", "sentiment")


@dataclass(frozen=True)
class RejectedRow:
    """A row that could not become a message, and why."""

    file: str
    row: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}: {self.reason}"


@dataclass
class LoadResult:
    """What a load produced: kept messages, rejected rows and the counts."""

    items: list[LabelledMessage] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    read: int = 0

    @property
    def kept(self) -> int:
        """Rows that became messages."""
        return len(self.items)

    def summary(self) -> str:
        """One line: read, kept, rejected."""
        return f"read {self.read} rows, kept {self.kept}, rejected {len(self.rejected)}"

    def extend(self, other: LoadResult) -> None:
        """Fold another file's result into this one."""
        self.items.extend(other.items)
        self.rejected.extend(other.rejected)
        self.read += other.read


def load_table(
    path: Path | str,
    mapping: Mapping[str, str] | None = None,
    *,
    source: str | None = None,
    taxonomy: Taxonomy | None = None,
    fmt: str | None = None,
) -> LoadResult:
    """Load a CSV, JSONL or Parquet file into labelled messages.

    `mapping` maps our field names (`text`, `intent`, `channel`, ...) to the file's column
    names; fields it does not mention are read from columns of the same name.
    """
    path = Path(path)
    taxonomy = taxonomy or default_taxonomy()
    columns = {name: name for name in (*MESSAGE_FIELDS, *LABEL_FIELDS, "weight")}
    columns.update(mapping or {})
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    readers = {
        "csv": _csv_rows,
        "jsonl": _jsonl_rows,
        "json": _jsonl_rows,
        "ndjson": _jsonl_rows,
        "parquet": _parquet_rows,
    }
    if fmt not in readers:
        raise ValueError(f"{path}: unsupported format {fmt!r}; use csv, jsonl or parquet")
    result = LoadResult()
    for row_number, raw, problem in readers[fmt](path):
        result.read += 1
        if problem is None:
            item, problem = _to_message(raw or {}, columns, taxonomy, source or path.stem, row_number)
            if item is not None:
                result.items.append(item)
                continue
        result.rejected.append(RejectedRow(str(path), row_number, problem or "unreadable row"))
    return result


RowStream = Iterator[tuple[int, dict[str, Any] | None, str | None]]


def _jsonl_rows(path: Path) -> RowStream:
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                yield number, None, f"undecodable bytes (not UTF-8) at byte {e.start}"
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                yield number, None, f"invalid JSON: {e.msg}"
                continue
            if not isinstance(obj, dict):
                yield number, None, "row is not a JSON object"
                continue
            yield number, obj, None


def _csv_rows(path: Path) -> RowStream:
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    while True:
        # A record is numbered by the line it starts on (header = line 1), as a spreadsheet shows it.
        number = reader.line_num + 1 if reader.line_num else 2
        try:
            record = next(reader)
        except StopIteration:
            return
        if any(_has_surrogates(v) for v in record.values() if isinstance(v, str)):
            yield number, None, "undecodable bytes (not UTF-8)"
            continue
        yield number, {k: v for k, v in record.items() if k is not None}, None


def _parquet_rows(path: Path) -> RowStream:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for number, record in enumerate(table.to_pylist(), 1):
        decoded: dict[str, Any] = {}
        problem = None
        for key, value in record.items():
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    problem = f"undecodable bytes (not UTF-8) in column {key!r}"
                    break
            decoded[key] = value
        yield number, (None if problem else decoded), problem


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _to_message(
    raw: Mapping[str, Any], columns: Mapping[str, str], taxonomy: Taxonomy, source: str, row: int
) -> tuple[LabelledMessage | None, str | None]:
    def value(name: str) -> Any:
        v = raw.get(columns[name])
        return None if v is None or (isinstance(v, str) and not v.strip()) or v != v else v

    text = value("text")
    if text is None:
        return None, f"missing text (column {columns['text']!r})"
    labels: dict[str, str | None] = {}
    for head in LABEL_FIELDS:
        label = value(head)
        if head not in taxonomy.heads or label is None:
            labels[head] = None
            continue
        try:
            labels[head] = taxonomy.validate(head, str(label))
        except KeyError as e:
            return None, str(e.args[0])
    fields: dict[str, Any] = {"text": str(text)}
    for name in MESSAGE_FIELDS:
        v = value(name)
        if name != "text" and v is not None:
            fields[name] = v if isinstance(v, datetime) else str(v)
    fields.setdefault("id", f"{source}-{row}")
    extra = {k: v for k, v in raw.items() if k not in set(columns.values()) and v is not None}
    try:
        message = Message(**fields, metadata=_jsonable(extra))
        raw_weight = value("weight")
        weight = 1.0 if raw_weight is None else float(raw_weight)
        return LabelledMessage(message=message, labels=Labels(**labels), source=source, weight=weight), None
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return None, f"invalid {where}: {first['msg']}"
    except ValueError as e:
        return None, f"invalid weight: {e}"


def _jsonable(extra: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (str, int, float, bool)) else str(v) for k, v in extra.items()}
