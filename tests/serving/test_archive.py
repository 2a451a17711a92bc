"""`tidings classify-archive` on local Ray with the tiny hashing-encoder model.

One test, because Ray's start-up dominates: every row comes back in order with the API's result
fields, bad rows keep their place with an error, a rerun reuses finished blocks, a Parquet input
gives the same predictions, and Ray leaves no process behind.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from data.taxonomy import default_taxonomy
from serving.archive import STORE_FIELDS, classify_archive
from serving.cli import app
from serving.schemas import ClassifyResult, HeadResult
from tests.conftest import tiny_rows
from tests.serving.service import deployment
from training.registry import CHAMPION, model_by_alias

pytestmark = pytest.mark.slow
runner = CliRunner()
BAD_JSON, BLANK, NO_TEXT = 5, 9, 12


def _archive_lines() -> list[str]:
    rows = tiny_rows()
    rows += [{**r, "id": f"{r['id']}-again", "text": r["text"] + " again"} for r in rows[:16]]
    lines = [json.dumps({"id": r["id"], "text": r["text"], "intent": r["intent"]}) for r in rows]
    lines[BAD_JSON] = '{"id": "broken", "text": '
    lines[BLANK] = json.dumps({"id": "blank", "text": "   "})
    lines[NO_TEXT] = json.dumps({"id": 13, "body": "text is elsewhere"})
    return lines


def _assert_same_answers(ours: list[dict], theirs: list[dict]) -> None:
    """Two runs' answers on one head agree, up to float noise from batching the messages differently."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a["label"] == b["label"]
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-5)
        if (a["abstained"], a["reason"]) != (b["abstained"], b["reason"]):
            # Batches of another size give logits a few ulps apart, so a probability sitting exactly
            # on a cut-off may fall on the other side of it; nothing else may differ.
            assert a["probabilities"] != b["probabilities"]
            assert {a["reason"], b["reason"]} <= {None, "low_confidence", "low_margin"}


def _descendants(pid: int) -> set[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_classify_archive_keeps_every_row_resumes_and_leaves_no_ray_behind(tmp_path):
    import ray
    import ray.data  # sets up Ray Data's logging now, not inside CliRunner's captured stderr

    lines = _archive_lines()
    source = tmp_path / "archive.jsonl"
    source.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    with deployment(tmp_path) as d:
        ref = model_by_alias(CHAMPION, d.settings)
        assert ref is not None
        # Other tests' servers (session fixtures) are children of this process too: only what Ray starts counts.
        before_ray = _descendants(os.getpid())
        ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False, log_to_driver=False)
        try:
            args = ["classify-archive", str(source), str(out), "--block-rows", "10", "--batch-size", "8"]
            result = runner.invoke(app, [*args, "--keep-parts"])
            assert result.exit_code == 0, result.output
            first = pq.read_table(out)
            assert first.num_rows == 40
            assert first["row"].to_pylist() == list(range(40))
            expected_ids = [json.loads(line).get("id") if i != BAD_JSON else None for i, line in enumerate(lines)]
            assert first["id"].to_pylist() == [None if v is None else str(v) for v in expected_ids]
            api_fields = set(ClassifyResult.model_fields) - set(STORE_FIELDS)
            assert api_fields <= set(first.column_names) and "error" in first.column_names
            assert first.schema.field("intent").type.names == list(HeadResult.model_fields)
            errors = first["error"].to_pylist()
            assert [i for i, e in enumerate(errors) if e] == [BAD_JSON, BLANK, NO_TEXT]
            assert "invalid JSON" in errors[BAD_JSON] and "line 6" in errors[BAD_JSON]
            assert "whitespace" in errors[BLANK] and errors[NO_TEXT] == "missing text"
            records = first.to_pylist()
            assert records[BLANK]["intent"] is None and records[BLANK]["model"]["version"] == ref.version
            ok = [r for r in records if r["error"] is None]
            assert all(abs(sum(r["intent"]["probabilities"].values()) - 1) < 1e-4 for r in ok)
            for r in ok:
                probabilities = r["intent"]["probabilities"]
                assert r["intent"]["label"] == max(probabilities, key=probabilities.get)
            assert {r["intent"]["label"] for r in ok} <= set(default_taxonomy()["intent"].labels)

            parts = sorted((tmp_path / "out.parquet.parts").glob("*.parquet"))
            assert len(parts) == 4
            parts[2].unlink()
            tampered = pq.read_table(parts[0])
            tampered = tampered.set_column(1, "id", pa.array(["reused"] * tampered.num_rows))
            pq.write_table(tampered, parts[0])
            out.unlink()
            report = classify_archive(source, out, ref, d.settings, block_rows=10, batch_size=8)
            assert (report.blocks, report.blocks_reused, report.errors) == (4, 3, 3)
            second = pq.read_table(out)
            assert second["id"].to_pylist()[:10] == ["reused"] * 10
            assert second.slice(10).equals(first.slice(10))
            assert not (tmp_path / "out.parquet.parts").exists()
            assert classify_archive(source, out, ref, d.settings, block_rows=10).already_done

            valid = first.filter(pc.is_null(first["error"]))
            texts = [json.loads(lines[r])["text"] for r in valid["row"].to_pylist()]
            pq.write_table(pa.table({"text": texts, "external_id": valid["id"]}), tmp_path / "archive.parquet")
            from_parquet = classify_archive(tmp_path / "archive.parquet", tmp_path / "p.parquet", ref, d.settings)
            assert from_parquet.errors == 0
            again = pq.read_table(tmp_path / "p.parquet")
            assert again["external_id"].equals(valid["id"])
            for head in ("intent", "urgency", "sentiment"):
                _assert_same_answers(again[head].to_pylist(), valid[head].to_pylist())
        finally:
            ray_processes = _descendants(os.getpid()) - before_ray
            ray.shutdown()
    deadline = time.monotonic() + 120  # Ray's daemons exit asynchronously; slowly on a busy machine
    while (left := ray_processes & _descendants(os.getpid())) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"Ray processes still running: {sorted(left)}"
