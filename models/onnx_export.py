"""Export a sentence-transformers encoder to one int8 ONNX graph that `OnnxEncoder` serves.

The graph holds the transformer, mean pooling and L2 normalisation, so ONNX Runtime returns the
same vectors `SentenceTransformerEncoder.encode` does, up to int8 rounding.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from models.classifier import package_versions
from models.encoders import SentenceTransformerEncoder

FORMAT_VERSION = 1
OPSET = 17
MODEL_FILE = "encoder.int8.onnx"
FP32_MODEL_FILE = "encoder.fp32.onnx"
TOKENIZER_FILE = "tokenizer.json"
METADATA_FILE = "onnx.json"
BACKEND = "onnx-int8"
EXPORT_PACKAGES = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "tokenizers")
FP32_BACKEND = "onnx-fp32"


@dataclass(frozen=True)
class QuantizationSettings:
    """How `quantize_dynamic` turns the fp32 graph into int8, recorded in `onnx.json`.

    Measured on all-MiniLM-L6-v2 over seed messages: per-channel QInt8 weights keep the mean
    cosine to torch at 0.992 where per-tensor drops to 0.958, and QUInt8 weights run 2.5x slower.
    `reduce_range` (7-bit weights) is on because CPUs without VNNI (AVX2 only) saturate the int8
    products: there a random model's worst cosine to torch measured 0.931 without it and 0.999
    with it, while MiniLM's mean cosine moved only from 0.991 to 0.990; an earlier measurement on
    an AVX512-VNNI CPU found it no better there. Quantizing `Gather` (the embedding tables) makes the file 23 MB instead
    of 59 MB at the same accuracy. `keep_float` names substrings of node names left in fp32:
    ("intermediate", "output/dense") keeps the feed-forward layers exact (mean cosine 0.998) at
    about twice the latency.
    """

    per_channel: bool = True
    reduce_range: bool = True
    weight_type: str = "QInt8"
    op_types: tuple[str, ...] = ("MatMul", "Gather")
    keep_float: tuple[str, ...] = ()

    @property
    def quantized(self) -> bool:
        """False for the fp32 export (`weight_type="none"`)."""
        return self.weight_type != "none"

    @property
    def model_file(self) -> str:
        """File name of the exported graph."""
        return MODEL_FILE if self.quantized else FP32_MODEL_FILE

    @property
    def backend(self) -> str:
        """How serving names this export."""
        return BACKEND if self.quantized else FP32_BACKEND

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "op_types": list(self.op_types), "keep_float": list(self.keep_float)}


# The unquantized graph: exact up to float rounding, slower than int8, still faster than torch's eager path.
FP32 = QuantizationSettings(weight_type="none", per_channel=False, op_types=())


class _SentenceEmbedding(torch.nn.Module):
    """Transformer, attention-masked mean pooling and L2 normalisation in one traceable module."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        tokens = self.transformer(input_ids=input_ids, attention_mask=attention_mask, **extra)[0]
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


def export_onnx(
    encoder: SentenceTransformerEncoder, out_dir: Path, quantization: QuantizationSettings | None = None
) -> Path:
    """Write `encoder.int8.onnx`, `tokenizer.json` and `onnx.json` into `out_dir`; returns `out_dir`.

    Only Transformer + mean Pooling (+ Normalize) models are supported; anything else raises
    ValueError. `onnx.json` is written last, so a directory without it is an unfinished export.
    """
    quantization = quantization or QuantizationSettings()
    transformer, do_lower_case = _transformer_of(encoder)
    tokenizer = transformer.tokenizer
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / METADATA_FILE).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".export-") as tmp:
        fp32, final = Path(tmp) / FP32_MODEL_FILE, Path(tmp) / quantization.model_file
        inputs = _trace_graph(transformer.auto_model, tokenizer, fp32)
        if quantization.quantized:
            _quantize(fp32, final, quantization)
        tokenizer.backend_tokenizer.save(str(Path(tmp) / TOKENIZER_FILE))
        os.replace(final, out_dir / quantization.model_file)
        os.replace(Path(tmp) / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    metadata = {
        **build_key(encoder, quantization),
        "kind": "tidings.OnnxEncoder",
        "backend": quantization.backend,
        "model_file": quantization.model_file,
        "inputs": inputs,
        "output": "sentence_embedding",
        "do_lower_case": do_lower_case,
        "pad_token": tokenizer.pad_token,
        "pad_token_id": tokenizer.pad_token_id,
        "padding_side": tokenizer.padding_side,
        "truncation_side": tokenizer.truncation_side,
        "versions": package_versions(EXPORT_PACKAGES),
    }
    tmp_meta = out_dir / f".{METADATA_FILE}.tmp"
    tmp_meta.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    os.replace(tmp_meta, out_dir / METADATA_FILE)
    return out_dir


def build_key(encoder: SentenceTransformerEncoder, quantization: QuantizationSettings) -> dict[str, Any]:
    """Everything that decides an export's contents; an export is reusable when these match."""
    return {
        "format_version": FORMAT_VERSION,
        "encoder": encoder.describe(),
        "weights_sha1": _weights_sha1(encoder.model),
        "max_seq_length": _max_seq_length(encoder),
        "opset": OPSET,
        "quantization": quantization.to_dict(),
    }


def export_matches(encoder: SentenceTransformerEncoder, out_dir: Path, quantization: QuantizationSettings) -> bool:
    """Whether `out_dir` holds a finished export of exactly this encoder with these settings."""
    path = Path(out_dir) / METADATA_FILE
    if not path.exists() or not (Path(out_dir) / quantization.model_file).exists():
        return False
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # a torn or hand-edited file: export again
        return False
    expected = build_key(encoder, quantization)
    return all(stored.get(k) == v for k, v in expected.items())


def _transformer_of(encoder: SentenceTransformerEncoder) -> tuple[Any, bool]:
    modules = list(encoder.model)
    if len(modules) < 2 or not hasattr(modules[0], "auto_model"):
        raise ValueError(f"{encoder.name}: expected a Transformer module followed by Pooling")
    mode = getattr(modules[1], "pooling_mode", None)
    if mode not in ("mean", ("mean",)):
        raise ValueError(f"{encoder.name}: only mean pooling is exported, not {mode!r}")
    if any(type(m).__name__ != "Normalize" for m in modules[2:]):
        raise ValueError(f"{encoder.name}: modules after pooling other than Normalize are not exported")
    return modules[0], bool(getattr(modules[0], "do_lower_case", False))


def _max_seq_length(encoder: SentenceTransformerEncoder) -> int:
    length = encoder.model.max_seq_length
    if length is None:
        raise ValueError(f"{encoder.name}: the ONNX export needs a fixed max_seq_length")
    return int(length)


def _trace_graph(auto_model: Any, tokenizer: Any, path: Path) -> list[str]:
    model = copy.deepcopy(auto_model).eval()
    # Eager attention traces to plain MatMul/Softmax; SDPA bakes a traced is_causal check in as a constant.
    model.set_attn_implementation("eager")
    # Two lengths, so the traced graph keeps the padding mask rather than a no-padding shortcut.
    example = tokenizer(["an example message to trace the graph with", "short"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(model.forward).parameters and "token_type_ids" in example:
        names.append("token_type_ids")
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    # The TorchScript exporter (dynamo=False): torch 2.13's default dynamo exporter needs
    # onnxscript, which Tidings does not install, and BERT traces cleanly without it.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export", DeprecationWarning)
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning, "torch.onnx")
        warnings.filterwarnings("ignore", "Exporting aten::index operator", UserWarning, "torch.onnx")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module="transformers")
        torch.onnx.export(
            _SentenceEmbedding(model),
            tuple(example[name] for name in names),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
        )
    return names


def _quantize(fp32: Path, int8: Path, settings: QuantizationSettings) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    excluded = []
    if settings.keep_float:
        graph = onnx.load(str(fp32), load_external_data=False).graph
        excluded = [n.name for n in graph.node if any(part in n.name for part in settings.keep_float)]
    # No quant_pre_process: its symbolic shape inference gives up on this graph, and the
    # session's own graph optimisations do the same fusions at load time.
    quantize_dynamic(
        fp32,
        int8,
        op_types_to_quantize=list(settings.op_types),
        per_channel=settings.per_channel,
        reduce_range=settings.reduce_range,
        weight_type=QuantType[settings.weight_type],
        nodes_to_exclude=excluded,
    )


def _weights_sha1(model: torch.nn.Module) -> str:
    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()
