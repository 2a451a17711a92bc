"""Adapters that read the public corpora into labelled messages.

The corpora live outside the repository, in `Settings.corpora_dir` (environment variable
`TIDINGS_CORPORA_DIR`), whose README.md describes each one. Every corpus
gets one loader that turns its own file format into `LabelledMessage`s with
`source=<corpus name>`, a stable `message.id` (`<corpus>-<source id>`, or
`<corpus>-<split>-<row>` where the source has no unique id) and `message.metadata` holding the
split and the original label (`source_label`).

Source labels become Tidings labels only through `MAPPINGS` (corpus -> source label -> axis ->
label). A source label mapped to `{}` leaves every axis None; its `source_label` stays in the
metadata, so a benchmark can still score the corpus as a binary task. The two files labelled by
the project's guide (`labelled_train`, `gold_dev`) carry all three axes and are only validated
against the taxonomy.

| corpus              | source label                           | Tidings label                        |
|---------------------|----------------------------------------|--------------------------------------|
| semeval2017         | negative / neutral / positive          | sentiment of the same name           |
| tweeteval_sentiment | 0 / 1 / 2, named by mapping.txt        | sentiment of the same name           |
| airline_sentiment   | negative / neutral / positive          | sentiment of the same name           |
| tweeteval_offensive | offensive / not-offensive              | intent moderation_issue / none       |
| tweeteval_hate      | hate / not-hate                        | intent moderation_issue / none       |
| davidson            | hate_speech, offensive_language / neither | intent moderation_issue / none    |
| youtube_spam        | spam / ham                             | intent spam / none                   |
| sms_spam            | spam / ham                             | intent spam / none                   |
| suggestion_mining   | suggestion / non-suggestion            | intent feedback / none               |
| complaints          | complaint / not_complaint              | none (`is_complaint`, `domain` kept) |
| asapp_airline       | 14 airline tags, UNK when unlabelled   | none (`tag` kept)                    |
| bitext              | 27 intents, see `BITEXT_INTENTS`       | support_request, sales_question,     |
|                     |                                        | feedback or none                     |

No row is dropped silently: a row that cannot become a message, and a repeat of a source id
already read (SemEval's train files overlap), goes to `LoadResult.rejected` with its reason.
Text is kept as the source wrote it (HTML entities included) apart from format artefacts:
surrounding whitespace and byte-order marks, the CSV quoting and `\\uXXXX` escapes of the
SemEval downloads, the extra quote pair around most suggestion-mining training sentences, and
the ASAPP turn markers, whose `__company__` placeholder becomes `@airline` as in
`labelled_train`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from data.loaders import LABEL_FIELDS, LoadResult, RejectedRow
from data.schema import MAX_TEXT_CHARS, Channel, LabelledMessage, Labels, Message
from data.settings import get_settings
from data.taxonomy import default_taxonomy

BITEXT_INTENTS: dict[str, str | None] = {
    # ACCOUNT
    "create_account": "support_request",
    "delete_account": "support_request",
    "edit_account": "support_request",
    "recover_password": "support_request",
    "registration_problems": "support_request",
    "switch_account": "support_request",
    # CANCELLATION_FEE: early-exit fees of an existing contract
    "check_cancellation_fee": "support_request",
    # CONTACT
    "contact_customer_service": "support_request",
    "contact_human_agent": "support_request",
    # DELIVERY: which methods and regions ("do you deliver to ...") is pre-purchase;
    # when an item will arrive is about an order already placed.
    "delivery_options": "sales_question",
    "delivery_period": "support_request",
    # FEEDBACK: both utterance sets ask how to lodge a claim or leave a review ("how do I leave
    # feedback?"): a how-to, so an action from the brand, not feedback itself.
    "complaint": "support_request",
    "review": "support_request",
    # INVOICE
    "check_invoice": "support_request",
    "get_invoice": "support_request",
    # NEWSLETTER
    "newsletter_subscription": None,
    # ORDER: placing a new order is interest towards a purchase.
    "cancel_order": "support_request",
    "change_order": "support_request",
    "place_order": "sales_question",
    "track_order": "support_request",
    # PAYMENT: accepted payment methods is asked before buying.
    "check_payment_methods": "sales_question",
    "payment_issue": "support_request",
    # REFUND: the policy questions ask when the author can get money back, so after a purchase.
    "check_refund_policy": "support_request",
    "get_refund": "support_request",
    "track_refund": "support_request",
    # SHIPPING_ADDRESS
    "change_shipping_address": "support_request",
    "set_up_shipping_address": "support_request",
}

ASAPP_TAGS = (
    "UNK",
    "OTHER",
    "DELAY",
    "BAGGAGE",
    "INFLIGHTENT",
    "TERMOPS",
    "INFLIGHTFACS",
    "FLIGHTSTAFF",
    "BOOKFLT",
    "CHECKIN",
    "CUSTSUPP",
    "REWARDS",
    "CHGFLT",
    "TERMFACS",
    "NEWFEAT",
)


def _sentiments() -> dict[str, dict[str, str]]:
    return {label: {"sentiment": label} for label in ("negative", "neutral", "positive")}


def _flagged(positive: str, negative: str, intent: str) -> dict[str, dict[str, str]]:
    return {positive: {"intent": intent}, negative: {}}


MAPPINGS: dict[str, dict[str, dict[str, str]]] = {
    "semeval2017": _sentiments(),
    "tweeteval_sentiment": _sentiments(),
    "airline_sentiment": _sentiments(),
    "tweeteval_offensive": _flagged("offensive", "not-offensive", "moderation_issue"),
    "tweeteval_hate": _flagged("hate", "not-hate", "moderation_issue"),
    "davidson": {
        "hate_speech": {"intent": "moderation_issue"},
        "offensive_language": {"intent": "moderation_issue"},
        "neither": {},
    },
    "youtube_spam": _flagged("spam", "ham", "spam"),
    "sms_spam": _flagged("spam", "ham", "spam"),
    "suggestion_mining": _flagged("suggestion", "non-suggestion", "feedback"),
    "complaints": {"complaint": {}, "not_complaint": {}},
    "asapp_airline": {tag: {} for tag in ASAPP_TAGS},
    "bitext": {name: ({"intent": intent} if intent else {}) for name, intent in BITEXT_INTENTS.items()},
}

_DAVIDSON_CLASSES = {"0": "hate_speech", "1": "offensive_language", "2": "neither"}
_SPAM_CLASSES = {"1": "spam", "0": "ham"}
_SUGGESTION_CLASSES = {"1": "suggestion", "0": "non-suggestion"}
_COMPLAINT_CLASSES = {"1": "complaint", "0": "not_complaint"}

_ORIGIN_CHANNELS = {
    "airline": Channel.TWITTER,
    "twcs_airline": Channel.TWITTER,
    "brand_handles": Channel.TWITTER,
    "background": Channel.TWITTER,
    "davidson": Channel.TWITTER,
    "kw_sales": Channel.TWITTER,
    "youtube": Channel.YOUTUBE,
    "dev_forum": Channel.FORUM,
}
_ASAPP_COMPANY = "@airline"

_SEMEVAL_DIR = "semeval2017_task4A_sentiment"
_SEMEVAL_FILES = {
    "train": f"{_SEMEVAL_DIR}/train_2013_2016/*.tsv",
    "test": f"{_SEMEVAL_DIR}/test_2017/SemEval2017-task4-test.subtask-A.english.txt",
}
_TWEETEVAL_DIR = "tweeteval"
_DAVIDSON_FILE = "davidson_hate_offensive/labeled_data.csv"
_YOUTUBE_DIR = "youtube_spam_collection"
_YOUTUBE_VIDEOS = {
    "psy": "Youtube01-Psy.csv",
    "katyperry": "Youtube02-KatyPerry.csv",
    "lmfao": "Youtube03-LMFAO.csv",
    "eminem": "Youtube04-Eminem.csv",
    "shakira": "Youtube05-Shakira.csv",
}
_YOUTUBE_COLUMNS = ("COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS")
_SMS_FILE = "sms_spam_collection/SMSSpamCollection.tsv"
_SUGGESTION_DIR = "semeval2019_task9_suggestion_mining"
_SUGGESTION_FILES = {  # split: (file, encoding, has a header row)
    "train": ("V1.4_Training.csv", "utf-8", False),
    "trial": ("SubtaskA_Trial_Test_Labeled.csv", "latin-1", True),
    "test": ("SubtaskA_EvaluationData_labeled.csv", "utf-8", False),
}
_AIRLINE_FILE = "twitter_us_airline_sentiment/Tweets.csv"
_COMPLAINTS_FILE = "complaints_social_media/complaints-data.csv"
_ASAPP_DIR = "asapp_twitter_airline_intents"
_ASAPP_FILES = {"all": "airlines_raw.csv", "labelled": "airlines_raw_labeled_only.csv"}
_BITEXT_FILE = "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"

_EDGE_BLANKS = re.compile(r"^[\s\ufeff]+|[\s\ufeff]+$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_CODEPOINT = re.compile(r"\\u([0-9a-fA-F]{4})")
_QUOTE_RUN = re.compile(r'(?:\\?")+')
_ASAPP_TURN = re.compile(r"^<cust__\s*|\s*__cust>$")
_ASAPP_PLACEHOLDER = re.compile(r"\s*__company__\s*")


@dataclass(frozen=True)
class Corpus:
    """A public corpus: what it is, its licence, the axes it labels and how to read each split."""

    name: str
    description: str
    licence: str
    axes: tuple[str, ...]
    splits: tuple[str, ...]
    loader: Callable[[Path, str], LoadResult]
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def missing(self, corpora_dir: Path, split: str) -> list[str]:
        """The files (glob patterns, relative to corpora_dir) a split needs that are absent."""
        return [pattern for pattern in self.files.get(split, ()) if not any(corpora_dir.glob(pattern))]

    def is_available(self, corpora_dir: Path) -> bool:
        """True when every split's files are present."""
        return not any(self.missing(corpora_dir, split) for split in self.splits)


def mapped_labels(corpus: str, source_label: str) -> dict[str, str]:
    """Tidings labels for a corpus's source label; KeyError naming the known labels if unmapped."""
    mapping = MAPPINGS[corpus]
    try:
        return dict(mapping[source_label])
    except KeyError:
        raise KeyError(f"unknown source label {source_label!r}; expected one of {sorted(mapping)}") from None


def load_corpus(name: str, split: str = "train", corpora_dir: Path | str | None = None) -> LoadResult:
    """Read one split of a public corpus as labelled messages.

    `corpora_dir` defaults to `get_settings().corpora_dir`. Raises KeyError naming the valid
    corpora or splits, and FileNotFoundError naming the directory and `TIDINGS_CORPORA_DIR`
    when the split's files are not there.
    """
    if name not in CORPORA:
        raise KeyError(f"unknown corpus {name!r}; valid corpora: {', '.join(CORPORA)}")
    corpus = CORPORA[name]
    if split not in corpus.splits:
        raise KeyError(f"corpus {name!r} has no split {split!r}; valid splits: {', '.join(corpus.splits)}")
    root = _root(corpora_dir)
    missing = corpus.missing(root, split)
    if missing:
        raise FileNotFoundError(
            f"corpus {name!r} (split {split!r}) needs {', '.join(missing)} in the corpora directory "
            f"{root}, which does not have it; set TIDINGS_CORPORA_DIR to the directory holding the "
            "public corpora"
        )
    return corpus.loader(root, split)


def available(corpora_dir: Path | str | None = None) -> list[str]:
    """Names of the corpora whose files are all present in the corpora directory."""
    root = _root(corpora_dir)
    return [name for name, corpus in CORPORA.items() if corpus.is_available(root)]


def _root(corpora_dir: Path | str | None) -> Path:
    return Path(corpora_dir) if corpora_dir is not None else get_settings().corpora_dir


class _Rejected(Exception):
    """A row that cannot become a message; the exception's text is the reason."""


class _Collector:
    """Builds one split's LoadResult row by row, rejecting what cannot become a message."""

    def __init__(self, corpus: str, split: str, channel: Channel) -> None:
        self.corpus = corpus
        self.split = split
        self.channel = channel
        self.taxonomy = default_taxonomy()
        self.result = LoadResult()
        self._kept: dict[str, tuple[str, str | None]] = {}

    def reject(self, path: Path, row: int, reason: str) -> None:
        """Count a row that could not be parsed, with why."""
        self.result.read += 1
        self.result.rejected.append(RejectedRow(str(path), row, reason))

    def add(
        self,
        path: Path,
        row: int,
        text: object,
        *,
        key: str | None = None,
        source_label: str | None = None,
        labels: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Count a row and keep it as a message, or reject it with the reason.

        `key` is the source's own unique id: it makes the message id, and a repeat of it is
        rejected. `labels` are given directly; otherwise they come from `MAPPINGS` by `source_label`.
        `fields` are further `Message` fields (author, channel, ...); None values are left out.
        """
        self.result.read += 1
        try:
            clean = _checked_text(text)
            if key is not None and key in self._kept:
                raise _Rejected(self._duplicate(key, source_label))
            item = LabelledMessage(
                message=self._message(row, clean, key, source_label, metadata or {}, fields),
                labels=self._labels(labels, source_label),
                source=self.corpus,
            )
        except _Rejected as e:
            self.result.rejected.append(RejectedRow(str(path), row, str(e)))
            return
        self.result.items.append(item)
        if key is not None:
            self._kept[key] = (f"{path.name}:{row}", source_label)

    def _labels(self, given: Mapping[str, Any] | None, source_label: str | None) -> Labels:
        try:
            if given is None:
                if source_label is None:
                    raise _Rejected("missing source label")
                given = mapped_labels(self.corpus, source_label)
            return Labels(**{head: self.taxonomy.validate(head, given.get(head)) for head in LABEL_FIELDS})
        except KeyError as e:
            raise _Rejected(e.args[0]) from None

    def _message(
        self,
        row: int,
        text: str,
        key: str | None,
        source_label: str | None,
        metadata: Mapping[str, Any],
        fields: Mapping[str, Any],
    ) -> Message:
        info = {"source_label": source_label, "split": self.split, **metadata}
        given = {name: value for name, value in fields.items() if value is not None}
        try:
            return Message(
                **{"channel": self.channel, "external_id": key, **given},
                id=f"{self.corpus}-{key}" if key is not None else f"{self.corpus}-{self.split}-{row}",
                text=text,
                metadata={name: value for name, value in info.items() if value is not None},
            )
        except ValidationError as e:
            first = e.errors()[0]
            raise _Rejected(f"invalid {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None

    def _duplicate(self, key: str, source_label: str | None) -> str:
        where, first_label = self._kept[key]
        reason = f"duplicate id {key!r}, first kept at {where}"
        if first_label != source_label:
            reason += f" with label {first_label!r} (this row: {source_label!r})"
        return reason


def _checked_text(text: object) -> str:
    if text is None:
        raise _Rejected("missing text")
    if not isinstance(text, str):
        raise _Rejected(f"text is a {type(text).__name__}, not a string")
    text = _EDGE_BLANKS.sub("", text)
    if not text:
        raise _Rejected("empty text")
    if len(text) > MAX_TEXT_CHARS:
        raise _Rejected(f"text has {len(text)} characters, over the {MAX_TEXT_CHARS} limit")
    if _SURROGATE.search(text):
        raise _Rejected("text has undecodable bytes")
    return text


def _lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Numbered lines, split on newlines only: tweets may hold other Unicode line breaks."""
    lines = path.read_bytes().decode(encoding, errors="surrogateescape").split("\n")
    if lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        yield number, line.removesuffix("\r")


CsvRow = tuple[int, dict[str, str] | None, str | None]


def _csv_records(
    path: Path, needs: Sequence[str], columns: Sequence[str] | None = None, encoding: str = "utf-8"
) -> Iterator[CsvRow]:
    """Rows of a CSV file as (row number as a spreadsheet shows it, record, problem).

    `columns` names the columns of a file without a header; otherwise row 1 is the header and
    must hold every column in `needs` (ValueError if not).
    """
    reader = csv.reader(io.StringIO(path.read_bytes().decode(encoding, errors="surrogateescape"), newline=""))
    header = list(columns) if columns is not None else next(reader, [])
    absent = [name for name in needs if name not in header]
    if absent:
        raise ValueError(f"{path}: no column {', '.join(absent)}; the header is {header}")
    for number, values in enumerate(reader, 1 if columns is not None else 2):
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(header):
            yield number, None, f"expected {len(header)} fields, got {len(values)}"
        else:
            yield number, dict(zip(header, values, strict=True)), None


def _named(codes: Mapping[str, str], code: str) -> str:
    return codes.get(code.strip(), code.strip())


def _semeval_text(raw: str) -> str:
    """Undo the CSV quoting and `\\uXXXX` escapes left in the SemEval downloads."""
    text = raw.rstrip("\t").strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    text = _ESCAPED_CODEPOINT.sub(lambda m: chr(int(m.group(1), 16)), text)
    return _QUOTE_RUN.sub('"', text)


def _unquoted(raw: str) -> str:
    text = raw.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _asapp_text(raw: str) -> str:
    text = _ASAPP_TURN.sub("", raw.strip())
    return _ASAPP_PLACEHOLDER.sub(f" {_ASAPP_COMPANY} ", text).strip()


def _utc(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _load_project_labels(corpora_dir: Path, split: str, *, filename: str) -> LoadResult:
    """labelled_train.jsonl / gold_dev.jsonl: rows labelled on all three axes by the project's guide."""
    path = corpora_dir / filename
    out = _Collector(path.stem, split, Channel.OTHER)
    for row, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            out.reject(path, row, f"invalid JSON: {e.msg}")
            continue
        if not isinstance(record, dict):
            out.reject(path, row, "row is not a JSON object")
            continue
        origin = str(record.get("source") or "")
        out.add(
            path,
            row,
            record.get("text"),
            key=str(record["id"]) if record.get("id") is not None else None,
            labels={head: record.get(head) for head in LABEL_FIELDS},
            metadata={"origin": origin or None},
            channel=_ORIGIN_CHANNELS.get(origin),
        )
    return out.result


def _load_semeval2017(corpora_dir: Path, split: str) -> LoadResult:
    """SemEval-2017 4A: `tweet id<TAB>label<TAB>text` files; train spans eleven overlapping files."""
    out = _Collector("semeval2017", split, Channel.TWITTER)
    for path in sorted(corpora_dir.glob(_SEMEVAL_FILES[split])):
        subset = path.stem.removesuffix("-A")
        for row, line in _lines(path):
            if not line.strip():
                continue
            parts = line.split("\t", 2)
            if len(parts) < 3:
                out.reject(path, row, "expected tweet id, label and text separated by tabs")
                continue
            tweet_id, label, text = parts
            out.add(
                path,
                row,
                _semeval_text(text),
                key=tweet_id.strip(),
                source_label=label.strip(),
                metadata={"subset": subset},
            )
    return out.result


def _load_tweeteval(corpora_dir: Path, split: str, *, task: str) -> LoadResult:
    """TweetEval: `<split>_text.txt` and `<split>_labels.txt` line by line, codes named by mapping.txt."""
    folder = corpora_dir / _TWEETEVAL_DIR / task
    names = dict(line.split("\t", 1) for _, line in _lines(folder / "mapping.txt") if "\t" in line)
    names = {code.strip(): name.strip() for code, name in names.items()}
    texts_path = folder / f"{split}_text.txt"
    texts = [line for _, line in _lines(texts_path)]
    codes = [line for _, line in _lines(folder / f"{split}_labels.txt")]
    out = _Collector(f"tweeteval_{task}", split, Channel.TWITTER)
    for index in range(max(len(texts), len(codes))):
        row = index + 1
        if index >= len(codes):
            out.reject(texts_path, row, f"no label: the labels file has only {len(codes)} lines")
        elif index >= len(texts):
            out.reject(texts_path, row, f"no text: the text file has only {len(texts)} lines")
        else:
            out.add(texts_path, row, texts[index], source_label=_named(names, codes[index]))
    return out.result


def _load_davidson(corpora_dir: Path, split: str) -> LoadResult:
    """Davidson et al.: labeled_data.csv, `class` 0 hate speech, 1 offensive, 2 neither."""
    path = corpora_dir / _DAVIDSON_FILE
    out = _Collector("davidson", split, Channel.TWITTER)
    for row, record, problem in _csv_records(path, needs=("", "class", "tweet")):
        if record is None:
            out.reject(path, row, problem or "unreadable row")
            continue
        out.add(
            path,
            row,
            record["tweet"],
            key=record[""].strip() or None,
            source_label=_named(_DAVIDSON_CLASSES, record["class"]),
        )
    return out.result


def _load_youtube_spam(corpora_dir: Path, split: str) -> LoadResult:
    """YouTube Spam Collection: one CSV per video, `CLASS` 1 spam, 0 ham; split "all" reads all five."""
    out = _Collector("youtube_spam", split, Channel.YOUTUBE)
    for video in _YOUTUBE_VIDEOS if split == "all" else (split,):
        path = corpora_dir / _YOUTUBE_DIR / _YOUTUBE_VIDEOS[video]
        for row, record, problem in _csv_records(path, needs=_YOUTUBE_COLUMNS):
            if record is None:
                out.reject(path, row, problem or "unreadable row")
                continue
            out.add(
                path,
                row,
                record["CONTENT"],
                key=record["COMMENT_ID"].strip() or None,
                source_label=_named(_SPAM_CLASSES, record["CLASS"]),
                metadata={"video": video},
                author=record["AUTHOR"].strip() or None,
                created_at=_utc(record["DATE"]),
                space=video,
            )
    return out.result


def _load_sms_spam(corpora_dir: Path, split: str) -> LoadResult:
    """SMS Spam Collection: `label<TAB>text` lines, with or without a `Label<TAB>SMS` header."""
    path = corpora_dir / _SMS_FILE
    out = _Collector("sms_spam", split, Channel.OTHER)
    for row, line in _lines(path):
        label, tab, text = line.partition("\t")
        if not line.strip() or (row == 1 and label.strip().lower() == "label"):
            continue
        if not tab:
            out.reject(path, row, "expected label and text separated by a tab")
            continue
        out.add(path, row, text, source_label=label.strip())
    return out.result


def _load_suggestion_mining(corpora_dir: Path, split: str) -> LoadResult:
    """SemEval-2019 Task 9A: `id, sentence, label` (1 suggestion); the trial file is latin-1 with a header.

    Sentence ids repeat in the training file (re-annotated copies), so ids are row-based.
    """
    filename, encoding, has_header = _SUGGESTION_FILES[split]
    path = corpora_dir / _SUGGESTION_DIR / filename
    columns = None if has_header else ("id", "sentence", "label")
    out = _Collector("suggestion_mining", split, Channel.FORUM)
    for row, record, problem in _csv_records(path, ("id", "sentence", "label"), columns, encoding):
        if record is None:
            out.reject(path, row, problem or "unreadable row")
            continue
        out.add(
            path,
            row,
            _unquoted(record["sentence"]),
            source_label=_named(_SUGGESTION_CLASSES, record["label"]),
            external_id=record["id"].strip() or None,
        )
    return out.result


def _load_airline_sentiment(corpora_dir: Path, split: str) -> LoadResult:
    """Twitter US Airline Sentiment: Tweets.csv; a spreadsheet rounded its tweet ids, so ids are row-based."""
    path = corpora_dir / _AIRLINE_FILE
    out = _Collector("airline_sentiment", split, Channel.TWITTER)
    for row, record, problem in _csv_records(path, needs=("airline_sentiment", "text", "airline", "name")):
        if record is None:
            out.reject(path, row, problem or "unreadable row")
            continue
        out.add(
            path,
            row,
            record["text"],
            source_label=record["airline_sentiment"].strip(),
            metadata={"airline": record["airline"], "negativereason": record.get("negativereason") or None},
            author=record["name"].strip() or None,
            space=record["airline"].strip() or None,
        )
    return out.result


def _load_complaints(corpora_dir: Path, split: str) -> LoadResult:
    """Complaints in social media: headerless `tweet_id, text, is_complaint, domain`; implies no axis."""
    path = corpora_dir / _COMPLAINTS_FILE
    columns = ("tweet_id", "text", "is_complaint", "domain")
    out = _Collector("complaints", split, Channel.TWITTER)
    for row, record, problem in _csv_records(path, columns, columns):
        if record is None:
            out.reject(path, row, problem or "unreadable row")
            continue
        out.add(
            path,
            row,
            record["text"],
            key=record["tweet_id"].strip() or None,
            source_label=_named(_COMPLAINT_CLASSES, record["is_complaint"]),
            metadata={
                "is_complaint": record["is_complaint"].strip() == "1",
                "domain": record["domain"].strip(),
            },
        )
    return out.result


def _load_asapp_airline(corpora_dir: Path, split: str) -> LoadResult:
    """ASAPP airline intents: customers' first tweets to airline support; only split "labelled" is tagged."""
    path = corpora_dir / _ASAPP_DIR / _ASAPP_FILES[split]
    out = _Collector("asapp_airline", split, Channel.TWITTER)
    for row, record, problem in _csv_records(path, needs=("first_tweet_id", "tag", "first_utterance")):
        if record is None:
            out.reject(path, row, problem or "unreadable row")
            continue
        tag = record["tag"].strip()
        out.add(
            path,
            row,
            _asapp_text(record["first_utterance"]),
            key=record["first_tweet_id"].strip() or None,
            source_label=tag,
            metadata={"tag": tag},
        )
    return out.result


def _load_bitext(corpora_dir: Path, split: str) -> LoadResult:
    """Bitext customer support: synthetic `instruction`s with a vendor `intent` and `category`."""
    path = corpora_dir / _BITEXT_FILE
    out = _Collector("bitext", split, Channel.CHAT)
    for row, record, problem in _csv_records(path, needs=("instruction", "intent", "category", "tags")):
        if record is None:
            out.reject(path, row, problem or "unreadable row")
            continue
        out.add(
            path,
            row,
            record["instruction"],
            source_label=record["intent"].strip(),
            metadata={"category": record["category"].strip(), "tags": record["tags"].strip()},
        )
    return out.result


def _tweeteval_files(task: str, splits: Sequence[str]) -> dict[str, tuple[str, ...]]:
    folder = f"{_TWEETEVAL_DIR}/{task}"
    return {
        split: (f"{folder}/mapping.txt", f"{folder}/{split}_text.txt", f"{folder}/{split}_labels.txt")
        for split in splits
    }


_TWEETEVAL_LICENCE = '"without restrictions" but per-task licences apply'
_YOUTUBE_PATHS = {video: (f"{_YOUTUBE_DIR}/{name}",) for video, name in _YOUTUBE_VIDEOS.items()}

CORPORA: dict[str, Corpus] = {
    corpus.name: corpus
    for corpus in (
        Corpus(
            name="labelled_train",
            description="1,497 real inbox messages labelled on all three axes by the project's guide.",
            licence="as its sources (mostly non-commercial)",
            axes=("intent", "urgency", "sentiment"),
            splits=("train",),
            loader=partial(_load_project_labels, filename="labelled_train.jsonl"),
            files={"train": ("labelled_train.jsonl",)},
        ),
        Corpus(
            name="gold_dev",
            description="201 real messages, two annotators adjudicated; for validation and thresholds only.",
            licence="as its sources",
            axes=("intent", "urgency", "sentiment"),
            splits=("dev",),
            loader=partial(_load_project_labels, filename="gold_dev.jsonl"),
            files={"dev": ("gold_dev.jsonl",)},
        ),
        Corpus(
            name="semeval2017",
            description="SemEval-2017 Task 4A tweet polarity; train 2013-2016 deduplicated by id, test 2017.",
            licence="research use; Twitter terms",
            axes=("sentiment",),
            splits=("train", "test"),
            loader=_load_semeval2017,
            files={split: (pattern,) for split, pattern in _SEMEVAL_FILES.items()},
        ),
        Corpus(
            name="tweeteval_sentiment",
            description="TweetEval sentiment, val and test only; test is SemEval-2017's, @user masked.",
            licence=_TWEETEVAL_LICENCE,
            axes=("sentiment",),
            splits=("val", "test"),
            loader=partial(_load_tweeteval, task="sentiment"),
            files=_tweeteval_files("sentiment", ("val", "test")),
        ),
        Corpus(
            name="tweeteval_offensive",
            description="TweetEval offensive language (OffensEval 2019); offensive is a moderation issue.",
            licence=_TWEETEVAL_LICENCE,
            axes=("intent",),
            splits=("train", "val", "test"),
            loader=partial(_load_tweeteval, task="offensive"),
            files=_tweeteval_files("offensive", ("train", "val", "test")),
        ),
        Corpus(
            name="tweeteval_hate",
            description="TweetEval hate speech (HatEval 2019); hateful tweets are moderation issues.",
            licence=_TWEETEVAL_LICENCE,
            axes=("intent",),
            splits=("train", "val", "test"),
            loader=partial(_load_tweeteval, task="hate"),
            files=_tweeteval_files("hate", ("train", "val", "test")),
        ),
        Corpus(
            name="davidson",
            description="Davidson et al. 2017 tweets: hate speech, offensive language or neither.",
            licence="MIT",
            axes=("intent",),
            splits=("train",),
            loader=_load_davidson,
            files={"train": (_DAVIDSON_FILE,)},
        ),
        Corpus(
            name="youtube_spam",
            description="YouTube Spam Collection: comments under five music videos; one split per video.",
            licence="CC BY 4.0 (UCI)",
            axes=("intent",),
            splits=(*_YOUTUBE_VIDEOS, "all"),
            loader=_load_youtube_spam,
            files={
                **_YOUTUBE_PATHS,
                "all": tuple(path for paths in _YOUTUBE_PATHS.values() for path in paths),
            },
        ),
        Corpus(
            name="sms_spam",
            description="SMS Spam Collection v.1: SMS messages, spam or ham.",
            licence="free with citation",
            axes=("intent",),
            splits=("train",),
            loader=_load_sms_spam,
            files={"train": (_SMS_FILE,)},
        ),
        Corpus(
            name="suggestion_mining",
            description="SemEval-2019 Task 9A: developer-forum sentences, suggestion or not.",
            licence="CC BY-NC-SA 4.0",
            axes=("intent",),
            splits=tuple(_SUGGESTION_FILES),
            loader=_load_suggestion_mining,
            files={split: (f"{_SUGGESTION_DIR}/{name}",) for split, (name, *_) in _SUGGESTION_FILES.items()},
        ),
        Corpus(
            name="airline_sentiment",
            description="Twitter US Airline Sentiment (Feb 2015): tweets to six US airlines, with reasons.",
            licence="upstream CC BY-NC-SA 4.0 (unverified)",
            axes=("sentiment",),
            splits=("train",),
            loader=_load_airline_sentiment,
            files={"train": (_AIRLINE_FILE,)},
        ),
        Corpus(
            name="complaints",
            description="Preotiuc-Pietro et al. 2019: tweets to brand support handles and background tweets, "
            "complaint or not; implies no axis.",
            licence="none stated",
            axes=(),
            splits=("train",),
            loader=_load_complaints,
            files={"train": (_COMPLAINTS_FILE,)},
        ),
        Corpus(
            name="asapp_airline",
            description="Customers' first tweets to airline support (ASAPP, from twcs); 491 carry an airline "
            "intent tag; implies no axis.",
            licence="CC BY-NC-SA 4.0",
            axes=(),
            splits=tuple(_ASAPP_FILES),
            loader=_load_asapp_airline,
            files={split: (f"{_ASAPP_DIR}/{name}",) for split, name in _ASAPP_FILES.items()},
        ),
        Corpus(
            name="bitext",
            description="Bitext customer-support requests; SYNTHETIC (vendor-made), never for evaluation.",
            licence="CDLA-Sharing-1.0",
            axes=("intent",),
            splits=("train",),
            loader=_load_bitext,
            files={"train": (_BITEXT_FILE,)},
        ),
    )
}
