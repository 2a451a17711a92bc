"""Serving a classifier's encoder through ONNX Runtime int8, and deciding whether to.

`OnnxEncoder` runs a directory written by `models.onnx_export.export_onnx`. `prepare_fast_path`
exports a classifier's encoder once, checks the int8 labels against torch on validation texts
and hands back whichever model should serve, with the reason in plain words.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data.settings import get_settings
from models.classifier import MessageClassifier
from models.encoders import Encoder, ProgressCallback, SentenceTransformerEncoder
from models.onnx_export import (
    BACKEND,
    FP32,
    METADATA_FILE,
    TOKENIZER_FILE,
    QuantizationSettings,
    export_matches,
    export_onnx,
)

log = logging.getLogger(__name__)

AGREEMENT_FILE = "agreement.json"
_FEATURE_OF_INPUT = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


class OnnxEncoder(Encoder):
    """The int8 ONNX export of a sentence-transformer, run by ONNX Runtime on the CPU.

    Same `name` and `dim` as the encoder it was exported from, so it slots into that encoder's
    classifier. `threads` is ONNX Runtime's intra-op thread count (default: the `threads`
    setting). A few messages run on one session using every thread (lowest latency); many run as
    batches spread over one single-threaded session per thread ("lanes"), which measured 434
    msg/s against 375 for one two-threaded session on two cores. Not for concurrent use: call
    `encode` from one thread at a time (serving gives each model a single inference thread).
    """

    def __init__(self, directory: Path | str, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.directory = Path(directory)
        self.metadata: dict[str, Any] = json.loads((self.directory / METADATA_FILE).read_text(encoding="utf-8"))
        if self.metadata.get("kind") != "tidings.OnnxEncoder":
            raise ValueError(f"{self.directory} is not an ONNX encoder export")
        self.name = self.metadata["encoder"]["name"]
        self.dim = int(self.metadata["encoder"]["dim"])
        self.threads = threads or get_settings().threads
        self.tokenizer = Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(
            max_length=self.metadata["max_seq_length"], direction=self.metadata["truncation_side"]
        )
        self.tokenizer.enable_padding(
            direction=self.metadata["padding_side"],
            pad_id=self.metadata["pad_token_id"],
            pad_token=self.metadata["pad_token"],
        )
        self.session = self._session(ort, self.threads)
        self._lanes = [self._session(ort, 1) for _ in range(self.threads)] if self.threads > 1 else []
        self._inputs: tuple[str, ...] = tuple(self.metadata["inputs"])

    def _session(self, ort: Any, threads: int) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(
            str(self.directory / self.metadata["model_file"]), options, providers=["CPUExecutionProvider"]
        )

    def encode(
        self, texts: Sequence[str], batch_size: int = 16, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Embed in length-sorted batches; returns L2-normalised float32 (n, dim)."""
        texts = [t.lower() for t in texts] if self.metadata["do_lower_case"] else list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding, and so wasted compute, low within a batch.
        order = np.argsort([len(t) for t in texts], kind="stable")
        batches = [order[start : start + batch_size] for start in range(0, len(texts), batch_size)]
        if len(self._lanes) < 2 or len(batches) < 2 * len(self._lanes):
            self._run_batches(self.session, texts, batches, out, progress)
            return out
        n = len(self._lanes)
        with ThreadPoolExecutor(n, thread_name_prefix="onnx-lane") as pool:
            # ONNX Runtime and the tokenizer release the GIL, so the lanes really run in parallel.
            jobs = [
                pool.submit(self._run_batches, lane, texts, batches[k::n], out, progress)
                for k, lane in enumerate(self._lanes)
            ]
            for job in jobs:
                job.result()
        return out

    def _run_batches(
        self,
        session: Any,
        texts: list[str],
        batches: list[np.ndarray],
        out: np.ndarray,
        progress: ProgressCallback | None,
    ) -> None:
        for idx in batches:
            out[idx] = self._run([texts[i] for i in idx], session)
            if progress:
                progress(len(idx))

    def _run(self, batch: list[str], session: Any = None) -> np.ndarray:
        encodings = self.tokenizer.encode_batch_fast(batch)
        feeds = {
            name: np.array([getattr(e, _FEATURE_OF_INPUT[name]) for e in encodings], dtype=np.int64)
            for name in self._inputs
        }
        (vectors,) = (session or self.session).run([self.metadata["output"]], feeds)
        return np.asarray(vectors, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """Name, dimension, backend and what the export was built from."""
        return {
            **super().describe(),
            "backend": self.metadata.get("backend", BACKEND),
            "source": self.metadata["encoder"],
            "weights_sha1": self.metadata["weights_sha1"],
            "max_seq_length": self.metadata["max_seq_length"],
            "quantization": self.metadata["quantization"],
        }


@dataclass(frozen=True)
class Agreement:
    """How often two classifiers predict the same label, per head, on the same texts.

    `cosine_mean` and `cosine_min` compare the two encoders' embeddings row by row.
    """

    heads: Mapping[str, float]
    n: int
    cosine_mean: float
    cosine_min: float

    @property
    def min_agreement(self) -> float:
        """The worst head's agreement; 0 when there were no texts."""
        return min(self.heads.values(), default=0.0) if self.n else 0.0

    def accepted(self, threshold: float = 0.99) -> bool:
        """Whether every head agrees on at least `threshold` of the texts."""
        return self.min_agreement >= threshold

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "n": self.n,
            "heads": dict(self.heads),
            "min_agreement": self.min_agreement,
            "cosine_mean": self.cosine_mean,
            "cosine_min": self.cosine_min,
        }


def check_agreement(torch_model: MessageClassifier, onnx_model: MessageClassifier, texts: Sequence[str]) -> Agreement:
    """Per-head fraction of texts on which both models' top label is the same.

    Blank texts are left out: the classifier abstains on them without consulting the encoder.
    """
    texts = [t for t in texts if t.strip()]
    if not texts:
        return Agreement({h: 0.0 for h in torch_model.head_names}, 0, 0.0, 0.0)
    reference, candidate = torch_model.embed(texts), onnx_model.embed(texts)
    expected = torch_model.proba_from_embeddings(reference)
    got = onnx_model.proba_from_embeddings(candidate)
    heads = {h: float(np.mean(expected[h].argmax(1) == got[h].argmax(1))) for h in torch_model.head_names}
    cosine = np.sum(reference * candidate, axis=1)
    return Agreement(heads, len(texts), float(cosine.mean()), float(cosine.min()))


@dataclass(frozen=True)
class FastPath:
    """The classifier to serve, which backend it runs on, and why."""

    backend: str
    model: MessageClassifier
    agreement: Agreement | None
    reason: str
    attempts: tuple[dict[str, Any], ...] = ()


def prepare_fast_path(
    model: MessageClassifier,
    directory: Path | str,
    validation_texts: Sequence[str],
    min_agreement: float = 0.99,
    threads: int | None = None,
    quantization: QuantizationSettings | None = None,
    candidates: Sequence[str] = ("onnx-int8", "onnx-fp32"),
) -> FastPath:
    """Serve `model` through its int8 ONNX export when the labels agree with torch, else through
    the fp32 export when that agrees, else torch.

    Exports into `directory/onnx/` (int8) and `directory/onnx-fp32/` unless a matching export is
    already there, and measures the agreement on `validation_texts` unless the export's
    `agreement.json` already holds it for this export, these heads and these texts. Never raises
    for a failed export: the next option serves and the reason says what went wrong.
    """
    encoder = model.encoder
    if not isinstance(encoder, SentenceTransformerEncoder):
        return FastPath("torch", model, None, f"the {encoder.name} encoder has no ONNX export: serving torch")
    texts = list(validation_texts)
    tried: list[str] = []
    attempts: list[dict[str, Any]] = []
    # int8 first (fastest); the fp32 graph when int8 moves too many labels; torch last.
    options = {
        BACKEND: (quantization or QuantizationSettings(), Path(directory) / "onnx"),
        FP32.backend: (FP32, Path(directory) / "onnx-fp32"),
    }
    for settings, out_dir in (options[c] for c in candidates):
        outcome, record = _try_export(model, encoder, out_dir, settings, texts, min_agreement, threads)
        attempts.append({"backend": settings.backend, **record})
        if isinstance(outcome, FastPath):
            return FastPath(outcome.backend, outcome.model, outcome.agreement, outcome.reason, tuple(attempts))
        tried.append(outcome)
    return FastPath("torch", model, None, "; ".join(tried) + ": serving torch", tuple(attempts))


def _try_export(
    model: MessageClassifier,
    encoder: SentenceTransformerEncoder,
    out_dir: Path,
    quantization: QuantizationSettings,
    texts: list[str],
    min_agreement: float,
    threads: int | None,
) -> tuple[FastPath | str, dict[str, Any]]:
    """The fast path through one export when it agrees well enough, else why not (in words);
    with the record of the attempt."""
    backend = quantization.backend
    try:
        if not export_matches(encoder, out_dir, quantization):
            log.info("exporting %s to %s in %s", encoder.name, backend, out_dir)
            (out_dir / AGREEMENT_FILE).unlink(missing_ok=True)
            export_onnx(encoder, out_dir, quantization)
        fast = model.with_encoder(OnnxEncoder(out_dir, threads=threads))
        key = _agreement_key(model, out_dir, texts)
        agreement = _recorded_agreement(out_dir / AGREEMENT_FILE, key) or check_agreement(model, fast, texts)
    except Exception as e:  # any export or runtime failure means the next option, never no model
        log.warning("%s unavailable for %s", backend, encoder.name, exc_info=True)
        reason = f"{backend} failed ({type(e).__name__}: {e})"
        return reason, {"accepted": False, "reason": reason}
    share = f"{agreement.min_agreement:.1%}"
    accepted = agreement.accepted(min_agreement)
    if accepted:
        reason = f"{backend} agrees with torch on {share} of {agreement.n} validation messages (min over heads)"
    else:
        reason = f"{backend} agreed with torch on only {share} < {min_agreement * 100:g}%"
    record = {**agreement.to_dict(), "required": min_agreement, "accepted": accepted, "reason": reason, "key": key}
    _write_json(out_dir / AGREEMENT_FILE, record)
    return (FastPath(backend, fast, agreement, reason) if accepted else reason), record


def _agreement_key(model: MessageClassifier, out_dir: Path, texts: list[str]) -> str:
    """Changes whenever the export, the heads or the validation texts do."""
    digest = hashlib.sha1((out_dir / METADATA_FILE).read_bytes())
    for name, tensor in sorted(model.net_.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    digest.update(json.dumps(texts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _recorded_agreement(path: Path, key: str) -> Agreement | None:
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("key") != key:
            return None
        return Agreement(record["heads"], record["n"], record["cosine_mean"], record["cosine_min"])
    except (ValueError, KeyError):  # an unreadable record is measured again
        return None


def _write_json(path: Path, record: Mapping[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a read-only model directory still serves; only the record is lost
        log.warning("could not write %s", path, exc_info=True)
