"""The shipped seed corpus and load_seed's frozen train/eval slices."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from data.dataset import near_duplicate_key
from data.loaders import LoadResult
from data.seed import EVAL_FRACTION, SEED_DIR, load_seed, seed_files
from data.taxonomy import default_taxonomy


@pytest.fixture(scope="module")
def seed() -> dict[str, LoadResult]:
    return {split: load_seed(split) for split in ("all", "train", "eval")}


@pytest.fixture
def tiny_seed_dir(tmp_path: Path) -> Path:
    words = ["refund", "login", "invoice", "delivery", "coupon", "password", "upgrade", "sticker", "warranty", "gift"]
    for part, chunk in enumerate([words[:5], words[5:]], 1):
        rows = [
            {"id": f"p{part}-{w}", "text": f"question about my {w} please", "intent": "support_request"} for w in chunk
        ]
        (tmp_path / f"part-{part:02d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "notes.jsonl").write_text('{"text": "not part of the corpus"}\n', encoding="utf-8")
    return tmp_path


def ids(result: LoadResult) -> set[str]:
    return {item.message.id for item in result.items}


def test_the_shipped_seed_files_are_the_part_files_in_order() -> None:
    files = seed_files()

    assert files
    assert files == sorted(files)
    assert all(f.parent == SEED_DIR and f.name.startswith("part-") and f.suffix == ".jsonl" for f in files)


def test_the_seed_corpus_loads_with_no_rejected_rows(seed: dict[str, LoadResult]) -> None:
    everything = seed["all"]

    assert [str(r) for r in everything.rejected] == []
    assert everything.read == everything.kept


def test_the_seed_corpus_has_at_least_three_thousand_messages(seed: dict[str, LoadResult]) -> None:
    assert seed["all"].kept >= 3000


def test_seed_message_ids_are_unique(seed: dict[str, LoadResult]) -> None:
    assert len(ids(seed["all"])) == seed["all"].kept


def test_every_seed_row_is_tagged_with_the_seed_source(seed: dict[str, LoadResult]) -> None:
    assert {item.source for item in seed["all"].items} == {"seed"}


def test_every_intent_has_at_least_250_seed_messages(seed: dict[str, LoadResult]) -> None:
    counts = Counter(item.labels.intent for item in seed["all"].items)

    assert {label: counts[label] for label in default_taxonomy()["intent"].labels if counts[label] < 250} == {}
    assert None not in counts


def test_every_urgency_level_has_at_least_150_seed_messages(seed: dict[str, LoadResult]) -> None:
    counts = Counter(item.labels.urgency for item in seed["all"].items)

    assert {label: counts[label] for label in default_taxonomy()["urgency"].labels if counts[label] < 150} == {}
    assert None not in counts


def test_every_seed_message_has_a_sentiment(seed: dict[str, LoadResult]) -> None:
    counts = Counter(item.labels.sentiment for item in seed["all"].items)

    assert None not in counts
    assert set(counts) == set(default_taxonomy()["sentiment"].labels)


def test_the_seed_corpus_spans_at_least_eight_channels_and_twenty_spaces(seed: dict[str, LoadResult]) -> None:
    messages = [item.message for item in seed["all"].items]

    assert len({m.channel for m in messages}) >= 8
    assert len({m.space for m in messages if m.space}) >= 20


def test_almost_every_seed_message_is_between_3_and_80_words(seed: dict[str, LoadResult]) -> None:
    lengths = [len(item.message.text.split()) for item in seed["all"].items]
    in_range = sum(3 <= n <= 80 for n in lengths)

    assert in_range / len(lengths) >= 0.98


def test_train_and_eval_are_disjoint_and_together_cover_all(seed: dict[str, LoadResult]) -> None:
    train, evaluation = ids(seed["train"]), ids(seed["eval"])

    assert not train & evaluation
    assert train | evaluation == ids(seed["all"])


def test_eval_is_between_5_and_15_percent_of_the_seed_corpus(seed: dict[str, LoadResult]) -> None:
    share = seed["eval"].kept / seed["all"].kept

    assert 0.05 <= share <= 0.15
    assert abs(share - EVAL_FRACTION) < 0.05


def test_near_duplicate_seed_messages_share_a_slice(seed: dict[str, LoadResult]) -> None:
    train_keys = {near_duplicate_key(item.message.text) for item in seed["train"].items}
    eval_keys = {near_duplicate_key(item.message.text) for item in seed["eval"].items}

    assert not train_keys & eval_keys


@pytest.mark.parametrize("split", ["test", "validation", "EVAL", ""])
def test_an_unknown_split_raises_key_error(split: str) -> None:
    with pytest.raises(KeyError, match="split"):
        load_seed(split)


def test_load_seed_reads_only_part_files_from_a_directory(tiny_seed_dir: Path) -> None:
    result = load_seed(directory=tiny_seed_dir)

    assert result.kept == 10
    assert all(item.source == "seed" for item in result.items)
    assert "not part of the corpus" not in {item.message.text for item in result.items}


def test_load_seed_slices_a_directory_into_disjoint_train_and_eval(tiny_seed_dir: Path) -> None:
    everything = ids(load_seed("all", tiny_seed_dir))
    train, evaluation = ids(load_seed("train", tiny_seed_dir)), ids(load_seed("eval", tiny_seed_dir))

    assert not train & evaluation
    assert train | evaluation == everything


def test_load_seed_on_a_directory_without_part_files_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="part-"):
        load_seed(directory=tmp_path)


def test_check_part_passes_the_shipped_parts_and_flags_a_bad_one(tmp_path):
    from data.seed import check_part, seed_files

    assert all(check_part(p) == [] for p in seed_files())
    bad = tmp_path / "part-99.jsonl"
    bad.write_text(
        '{"id": "x1", "text": "hello there friend", "space": "Acme", "intent": "other", "sentiment": "neutral"}\n'
        '{"id": "x1", "text": "Hello there  friend", "space": "Acme", "intent": "other", "sentiment": "neutral"}\n'
        '{"id": "x2", "text": "hi", "space": "Acme", "intent": "chat", "sentiment": "neutral"}\n',
        encoding="utf-8",
    )
    problems = "\n".join(check_part(bad))
    assert "duplicate id x1" in problems and "duplicate text" in problems and "unknown intent label 'chat'" in problems
