"""Classify a brand's message archive with Ray Data: one output row per input row, resumable by block.

The input (JSONL or Parquet) is planned into blocks of consecutive rows. Ray tasks read the blocks,
Ray actors (one model each, loaded like the API loads it) classify them in batches, and the driver
writes each finished block to a part file in a work folder beside the output. A rerun after a
crash reuses the parts whose input fingerprint and block index match, then assembles one Parquet
file. Rows that cannot be classified (unreadable JSON, blank or missing text) keep their place with
an `error` and no prediction.

On a cluster (`address`), the input path and the MLflow store must be readable from every node.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from serving.schemas import ClassifyResult, HeadResult, MessageIn, head_results

# Ray's read tasks import this module: torch and MLflow load only where a model does (workers, driver).
if TYPE_CHECKING:
    from data.settings import Settings
    from data.taxonomy import Taxonomy
    from training.registry import ModelRef

log = logging.getLogger("tidings.archive")

# Changes whenever the output's layout does, so parts written by an older layout are never reused.
ARCHIVE_LAYOUT = "archive.v1"
METADATA_KEY = b"tidings.archive"
FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
# ClassifyResult fields about the message store: an archive run classifies without storing.
STORE_FIELDS = ("message_id", "stored", "duplicate")
INPUT_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("id", pa.string()),
        ("external_id", pa.string()),
        ("text", pa.string()),
        ("error", pa.string()),
    ]
)


@dataclass(frozen=True)
class ArchiveBlock:
    """Consecutive input rows classified and stored together; `offset` is a JSONL byte offset."""

    index: int
    first_row: int
    rows: int
    offset: int = 0
    first_line: int = 0


@dataclass(frozen=True)
class ArchivePlan:
    """The input file cut into blocks, with a digest of its bytes."""

    source: Path
    fmt: str
    digest: str
    rows: int
    block_rows: int
    blocks: tuple[ArchiveBlock, ...]


@dataclass
class ArchiveReport:
    """What a run did."""

    output: Path
    rows: int
    errors: int
    blocks: int
    blocks_reused: int
    seconds: float
    model: str
    backend: str
    workers: int
    already_done: bool = False
    ray_start_seconds: float = 0.0
    steady_rows_per_second: float | None = None

    @property
    def rows_per_second(self) -> float:
        """End-to-end throughput of this run (Ray start-up and model loads included)."""
        return self.rows / self.seconds if self.seconds else 0.0


def input_format(path: Path) -> str:
    """`jsonl` or `parquet`, from the file name; anything else is refused."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unsupported archive format {path.suffix!r}; use .jsonl or .parquet")
    return fmt


def plan_archive(source: Path, block_rows: int) -> ArchivePlan:
    """Cut `source` into blocks of `block_rows` rows, hashing its bytes on the way."""
    if block_rows < 1:
        raise ValueError("block_rows must be at least 1")
    fmt = input_format(source)
    if fmt == "jsonl":
        digest, starts = _scan_jsonl(source, block_rows)
        rows = starts.pop()[0]
        blocks = [
            ArchiveBlock(i, first, min(block_rows, rows - first), offset, line)
            for i, (first, offset, line) in enumerate(starts)
        ]
    else:
        digest = _file_digest(source)
        schema = pq.read_schema(source)
        if "text" not in schema.names:
            raise ValueError(f"{source}: no `text` column (columns: {', '.join(schema.names)})")
        rows = pq.ParquetFile(source).metadata.num_rows
        blocks = [
            ArchiveBlock(i, first, min(block_rows, rows - first)) for i, first in enumerate(range(0, rows, block_rows))
        ]
    return ArchivePlan(source.resolve(), fmt, digest, rows, block_rows, tuple(blocks))


def _file_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _scan_jsonl(path: Path, block_rows: int) -> tuple[str, list[tuple[int, int, int]]]:
    """The file's digest and (first row, byte offset, line number) of every block, then (rows, end, lines)."""
    digest = hashlib.blake2b(digest_size=16)
    starts: list[tuple[int, int, int]] = []
    rows = offset = line_number = 0
    with open(path, "rb") as f:
        for line in f:
            line_number += 1
            digest.update(line)
            if line.strip():
                if rows % block_rows == 0:
                    starts.append((rows, offset, line_number))
                rows += 1
            offset += len(line)
    starts.append((rows, offset, line_number))
    return digest.hexdigest(), starts


def text_problem(value: object) -> str | None:
    """Why `value` cannot be classified, with the API's own rules for `text`; None when it can."""
    if value is None:
        return "missing text"
    try:
        MessageIn.model_validate({"text": value})
    except ValidationError as e:
        return f"invalid text: {e.errors()[0]['msg']}"
    return None


def read_block(path: str, fmt: str, block: dict[str, int]) -> pa.Table:
    """The rows of one block with `row`, `id`, `external_id`, `text` and `error` (null when readable)."""
    records = _jsonl_block(path, block) if fmt == "jsonl" else _parquet_block(path, block)
    out = []
    for number, raw, problem in records:
        record: dict[str, Any] = dict.fromkeys(INPUT_SCHEMA.names)
        record["row"] = number
        if raw is not None:
            for key in ("id", "external_id"):
                if raw.get(key) is not None:
                    record[key] = str(raw[key])
            problem = text_problem(raw.get("text"))
            if problem is None:
                record["text"] = raw["text"]
        record["error"] = problem
        out.append(record)
    return pa.Table.from_pylist(out, schema=INPUT_SCHEMA)


def _jsonl_block(path: str, block: dict[str, int]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    row, line_number, remaining = block["first_row"], block["first_line"] - 1, block["rows"]
    with open(path, "rb") as f:
        f.seek(block["offset"])
        while remaining:
            line = f.readline()
            line_number += 1
            if not line:
                raise RuntimeError(f"{path} changed while it was being classified (ended at line {line_number})")
            if not line.strip():
                continue
            yield row, *_parse_line(line, line_number)
            row += 1
            remaining -= 1


def _parse_line(line: bytes, number: int) -> tuple[dict[str, Any] | None, str | None]:
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as e:
        return None, f"line {number}: undecodable bytes (not UTF-8) at byte {e.start}"
    except json.JSONDecodeError as e:
        return None, f"line {number}: invalid JSON: {e.msg}"
    if not isinstance(obj, dict):
        return None, f"line {number}: not a JSON object"
    return obj, None


def _parquet_block(path: str, block: dict[str, int]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    parquet = pq.ParquetFile(path)
    columns = [c for c in ("id", "external_id", "text") if c in parquet.schema_arrow.names]
    first, stop = block["first_row"], block["first_row"] + block["rows"]
    groups, group_start, start = [], 0, None
    for g in range(parquet.metadata.num_row_groups):
        n = parquet.metadata.row_group(g).num_rows
        if group_start < stop and group_start + n > first:
            groups.append(g)
            start = group_start if start is None else start
        group_start += n
    table = parquet.read_row_groups(groups, columns=columns).slice(first - (start or 0), block["rows"])
    for offset, raw in enumerate(table.to_pylist()):
        text = raw.get("text")
        if isinstance(text, bytes):
            try:
                raw["text"] = text.decode("utf-8")
            except UnicodeDecodeError:
                yield first + offset, None, "undecodable bytes (not UTF-8) in column 'text'"
                continue
        yield first + offset, raw, None


def output_schema(taxonomy: Taxonomy, heads: Sequence[str]) -> pa.Schema:
    """The output rows: the input's row, id and external_id, the API's result fields, and `error`."""
    types = {"label": pa.string(), "probability": pa.float64(), "abstained": pa.bool_(), "reason": pa.string()}
    head_fields = []
    for head in heads:
        probabilities = pa.struct([(label, pa.float64()) for label in taxonomy[head].labels])
        parts = [(name, probabilities if name == "probabilities" else types[name]) for name in HeadResult.model_fields]
        head_fields.append(pa.field(head, pa.struct(parts)))
    result: dict[str, pa.Field] = {f.name: f for f in head_fields}
    result["needs_review"] = pa.field("needs_review", pa.bool_())
    result["model"] = pa.field("model", pa.struct([("name", pa.string()), ("version", pa.string())]))
    missing = set(ClassifyResult.model_fields) - set(STORE_FIELDS) - set(result)
    if missing:
        raise ValueError(f"the archive output lacks the API result fields {sorted(missing)}")
    keys = [INPUT_SCHEMA.field(name) for name in ("row", "id", "external_id")]
    return pa.schema([*keys, *result.values(), INPUT_SCHEMA.field("error")])


class ArchiveWorker:
    """A Ray Data map worker holding one served model; classifies batches of read rows."""

    def __init__(self, ref: ModelRef, settings: Settings) -> None:
        from serving.model_host import load_serving_model

        self.served = load_serving_model(ref, settings)
        classifier = self.served.classifier
        self.schema = output_schema(classifier.taxonomy, classifier.head_names)
        self.model = {"name": ref.name, "version": ref.version}

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Predictions for the readable rows; error rows pass through with nulls."""
        rows = batch.to_pylist()
        ok = [r for r in rows if r["error"] is None]
        classified = iter(self.served.classify_now([r["text"] for r in ok]) if ok else [])
        out = []
        for r in rows:
            record: dict[str, Any] = {"row": r["row"], "id": r["id"], "external_id": r["external_id"]}
            record["model"] = self.model
            record["error"] = r["error"]
            if r["error"] is None:
                prediction = next(classified).prediction
                record.update({name: h.model_dump() for name, h in head_results(prediction).items()})
                record["needs_review"] = prediction.needs_review
            out.append(record)
        return pa.Table.from_pylist(out, schema=self.schema)


@dataclass
class WorkFolder:
    """Finished blocks of one run, as Parquet parts named by input fingerprint and block index."""

    path: Path
    fingerprint: str
    stale: list[Path] = field(default_factory=list)

    @classmethod
    def beside(cls, output: Path, fingerprint: str) -> WorkFolder:
        """The folder `OUTPUT.parts/`; parts from another fingerprint are set aside as stale."""
        folder = cls(output.with_name(output.name + ".parts"), fingerprint)
        folder.path.mkdir(parents=True, exist_ok=True)
        folder.stale = [p for p in folder.path.iterdir() if not p.name.startswith(fingerprint)]
        return folder

    def part(self, index: int) -> Path:
        """Where block `index` is kept."""
        return self.path / f"{self.fingerprint}-{index:06d}.parquet"

    def finished(self, blocks: Sequence[ArchiveBlock]) -> set[int]:
        """Indices of blocks whose part is complete (parts are renamed into place when written)."""
        return {b.index for b in blocks if self.part(b.index).exists()}

    def write(self, index: int, table: pa.Table) -> None:
        """Keep a finished block; a crash mid-write leaves no part behind."""
        tmp = self.path / f".{index:06d}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.part(index))

    def clear_stale(self) -> int:
        """Delete parts of other inputs, models or layouts; returns how many."""
        for p in self.stale:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
        return len(self.stale)


def fingerprint(plan: ArchivePlan, ref: ModelRef, backend: str) -> str:
    """Same input bytes, blocking, model version, backend and layout: same parts."""
    key = json.dumps([ARCHIVE_LAYOUT, plan.digest, plan.block_rows, ref.name, ref.version, backend])
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def finished_output(output: Path, key: str) -> bool:
    """True when `output` is already the assembled result of this fingerprint."""
    if not output.exists():
        return False
    try:
        meta = pq.read_schema(output).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return False
    return json.loads(meta.get(METADATA_KEY, b"{}")).get("fingerprint") == key


@dataclass(frozen=True)
class RayOptions:
    """How to reach Ray: a local instance with these resources, or a running cluster at `address`."""

    address: str | None = None
    num_cpus: int | None = None
    object_store_mib: int = 256


def classify_archive(
    source: Path,
    output: Path,
    ref: ModelRef,
    settings: Settings,
    *,
    workers: int = 1,
    batch_size: int = 256,
    block_rows: int = 10_000,
    ray_options: RayOptions | None = None,
    keep_parts: bool = False,
    on_plan: Callable[[int, int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> ArchiveReport:
    """Classify every row of `source` with `ref` into the Parquet file `output`.

    `on_plan(total_rows, rows_already_done)` is called once before classifying, `on_rows(n)` as
    blocks finish. Ray is started (and shut down) here unless the caller has already started it.
    """
    if workers < 1 or batch_size < 1:
        raise ValueError("workers and batch_size must be at least 1")
    started = time.perf_counter()
    plan = plan_archive(source, block_rows)
    backend, taxonomy, heads = prepare_backend(ref, settings)
    key = fingerprint(plan, ref, backend)
    report = ArchiveReport(
        output, plan.rows, 0, len(plan.blocks), 0, 0.0, f"{ref.name} v{ref.version}", backend, workers
    )
    if finished_output(output, key):
        report.already_done, report.blocks_reused = True, len(plan.blocks)
        report.errors = _count_errors(output)
        report.seconds = time.perf_counter() - started
        if on_plan:
            on_plan(plan.rows, plan.rows)
        return report
    output.parent.mkdir(parents=True, exist_ok=True)
    work = WorkFolder.beside(output, key)
    if removed := work.clear_stale():
        log.info("removed %d parts left by another input, model or layout", removed)
    done = work.finished(plan.blocks)
    pending = [b for b in plan.blocks if b.index not in done]
    report.blocks_reused = len(done)
    if on_plan:
        on_plan(plan.rows, sum(b.rows for b in plan.blocks if b.index in done))
    if pending:
        worker_settings = settings.model_copy(update={"serving_backend": backend})
        report.ray_start_seconds, report.steady_rows_per_second = _run_pipeline(
            plan, pending, work, ref, worker_settings, workers, batch_size, ray_options or RayOptions(), on_rows
        )
    schema = output_schema(taxonomy, heads)
    meta = {
        "fingerprint": key,
        "source": str(plan.source),
        "rows": plan.rows,
        "model": report.model,
        "backend": backend,
    }
    _assemble(output, [work.part(b.index) for b in plan.blocks], schema, meta, plan.rows)
    report.errors = _count_errors(output)
    if not keep_parts:
        shutil.rmtree(work.path)
    report.seconds = time.perf_counter() - started
    return report


def prepare_backend(ref: ModelRef, settings: Settings) -> tuple[str, Taxonomy, tuple[str, ...]]:
    """Choose the serving backend as the API does (preparing the ONNX export once, before any worker
    starts, so workers never race to write it); returns it with the model's taxonomy and heads."""
    from serving.model_host import load_serving_model

    served = load_serving_model(ref, settings)
    served.executor.shutdown()
    return served.backend, served.classifier.taxonomy, served.classifier.head_names


def _run_pipeline(
    plan: ArchivePlan,
    pending: Sequence[ArchiveBlock],
    work: WorkFolder,
    ref: ModelRef,
    settings: Settings,
    workers: int,
    batch_size: int,
    options: RayOptions,
    on_rows: Callable[[int], None] | None,
) -> tuple[float, float | None]:
    """Run the blocks through Ray; returns the seconds Ray took to start (0 when already running)
    and the rows per second after the first block (None with a single block)."""
    import ray
    import ray.data

    started = time.perf_counter()
    own_ray = not ray.is_initialized()
    if own_ray:
        _start_ray(options)
    ray_seconds = time.perf_counter() - started
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        threads = max(1, cpus // workers)
        _quiet_ray_data()
        blocks = ray.data.from_items([asdict(b) for b in pending], override_num_blocks=len(pending))
        rows = blocks.map_batches(
            partial(_read_blocks, path=str(plan.source), fmt=plan.fmt),
            batch_size=1,
            batch_format="pyarrow",
            # Reading is light I/O: it must not wait for the CPUs the model workers hold.
            num_cpus=0,
            compute=ray.data.TaskPoolStrategy(size=min(2, len(pending))),
        )
        results = rows.map_batches(
            ArchiveWorker,
            fn_constructor_kwargs={"ref": ref, "settings": settings.model_copy(update={"threads": threads})},
            batch_size=batch_size,
            batch_format="pyarrow",
            num_cpus=min(threads, cpus),
            compute=ray.data.ActorPoolStrategy(size=workers),
            # The ONNX encoder reads its thread count from the environment's settings.
            runtime_env={"env_vars": {"TIDINGS_THREADS": str(threads)}},
        )
        steady = _write_parts(
            results.iter_batches(batch_format="pyarrow", batch_size=None), pending, plan.block_rows, work, on_rows
        )
    finally:
        if own_ray:
            ray.shutdown()
    return ray_seconds, steady


def _write_parts(
    batches: Iterable[pa.Table],
    pending: Sequence[ArchiveBlock],
    block_rows: int,
    work: WorkFolder,
    on_rows: Callable[[int], None] | None,
) -> float | None:
    """Gather classified rows by block and write each block once complete; returns the steady rate."""
    sizes = {b.index: b.rows for b in pending}
    collected: dict[int, list[pa.Table]] = {}
    counts: dict[int, int] = {}
    first_done: tuple[float, int] | None = None
    for batch in batches:
        for index, table in _split_by_block(batch, block_rows):
            collected.setdefault(index, []).append(table)
            counts[index] = counts.get(index, 0) + table.num_rows
            if counts[index] == sizes[index]:
                work.write(index, pa.concat_tables(collected.pop(index)).sort_by("row"))
                first_done = first_done or (time.perf_counter(), sizes[index])
                if on_rows:
                    on_rows(sizes[index])
    missing = sorted(set(sizes) - work.finished(pending))
    if missing:
        raise RuntimeError(f"blocks {missing[:10]} came back incomplete from Ray")
    if first_done is None or len(pending) < 2:
        return None
    seconds = time.perf_counter() - first_done[0]
    return (sum(sizes.values()) - first_done[1]) / seconds if seconds > 0 else None


def _read_blocks(batch: pa.Table, path: str, fmt: str) -> pa.Table:
    return pa.concat_tables([read_block(path, fmt, b) for b in batch.to_pylist()])


def _split_by_block(batch: pa.Table, block_rows: int) -> Iterator[tuple[int, pa.Table]]:
    import pyarrow.compute as pc

    block_of = pc.divide(batch["row"], pa.scalar(block_rows, pa.int64()))
    for index in pc.unique(block_of).to_pylist():
        yield index, batch.filter(pc.equal(block_of, index))


def _start_ray(options: RayOptions) -> None:
    import ray

    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if options.address:
        ray.init(address=options.address, **kwargs)
    else:
        ray.init(
            num_cpus=options.num_cpus or os.cpu_count() or 1,
            object_store_memory=options.object_store_mib * 1024 * 1024,
            **kwargs,
        )


def _quiet_ray_data() -> None:
    """Our own progress bar reports progress; Ray Data's bars and per-run banners would interleave."""
    import ray.data

    with warnings.catch_warnings():
        # Ray 2.60's DataContext sets its own deprecated field while constructing itself.
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def _assemble(output: Path, parts: Sequence[Path], schema: pa.Schema, meta: dict[str, Any], rows: int) -> None:
    """Write the parts, in block order, as one Parquet file; renamed into place when complete."""
    tmp = output.with_name(f".{output.name}.tmp")
    schema = schema.with_metadata({METADATA_KEY: json.dumps(meta).encode()})
    written = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for part in parts:
            table = pq.read_table(part).cast(schema)
            writer.write_table(table)
            written += table.num_rows
    if written != rows:
        tmp.unlink()
        raise RuntimeError(f"assembled {written} rows for {rows} input rows")
    os.replace(tmp, output)


def _count_errors(path: Path) -> int:
    errors = pq.read_table(path, columns=["error"])["error"]
    return len(errors) - errors.null_count
