import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import models.onnx_encoder as onnx_encoder
from data.seed import load_seed
from data.taxonomy import default_taxonomy
from models.classifier import ClassifierSpec, HeadFitParams, MessageClassifier
from models.encoders import HashingEncoder, SentenceTransformerEncoder, load_encoder, minilm_path
from models.onnx_encoder import OnnxEncoder, check_agreement, prepare_fast_path
from models.onnx_export import METADATA_FILE, MODEL_FILE, TOKENIZER_FILE, export_onnx
from tests.conftest import tiny_rows

MIXED = [
    "ok",
    "Where IS my Refund?? order #4471",
    "   leading and trailing spaces   ",
    "😂😂 !!",
    "the app crashes every time I open the settings page on my phone, please fix it",
    "",
]
LONG = "my parcel never arrived and nobody answers " * 40


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEncoder:
    """A random 2-layer, 32-d BERT saved as a sentence-transformer with MiniLM's tokenizer."""
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny-bert")
    source = minilm_path()
    shutil.copytree(
        source, path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model.safetensors", "config.json", "*.md")
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        initializer_range=0.2,
    )
    BertModel(config).save_pretrained(path)
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    (path / "1_Pooling" / "config.json").write_text(json.dumps({**pooling, "word_embedding_dimension": 32}))
    encoder = load_encoder("sentence-transformers:tiny-bert", path=path, max_seq_length=24)
    assert isinstance(encoder, SentenceTransformerEncoder)
    return encoder


@pytest.fixture(scope="session")
def tiny_export(tiny_encoder: SentenceTransformerEncoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(tiny_encoder, tmp_path_factory.mktemp("tiny-onnx"))


@pytest.fixture(scope="session")
def tiny_onnx(tiny_export: Path) -> OnnxEncoder:
    return OnnxEncoder(tiny_export, threads=1)


@pytest.fixture(scope="session")
def toy_classifier(tiny_encoder: SentenceTransformerEncoder) -> MessageClassifier:
    rows = tiny_rows()
    model = MessageClassifier(default_taxonomy(), tiny_encoder, ClassifierSpec(hidden=0))
    embeddings = model.embed([r["text"] for r in rows])
    return model.fit(embeddings, model.encode_targets(rows), params=HeadFitParams(epochs=10, lr=0.05, batch_size=8))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_export_writes_the_int8_graph_tokenizer_and_description(tiny_export, tiny_encoder):
    assert sorted(p.name for p in tiny_export.iterdir()) == sorted([MODEL_FILE, TOKENIZER_FILE, METADATA_FILE])
    meta = json.loads((tiny_export / METADATA_FILE).read_text())
    assert meta["encoder"] == tiny_encoder.describe()
    assert meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert meta["max_seq_length"] == 24 and meta["opset"] == 17
    assert meta["quantization"]["per_channel"] and meta["quantization"]["weight_type"] == "QInt8"
    assert meta["quantization"]["reduce_range"]
    assert meta["versions"]["onnxruntime"]


def test_onnx_embeddings_are_normalised_float32_and_close_to_torch(tiny_onnx, tiny_encoder):
    texts = [r["text"] for r in tiny_rows()] + MIXED
    got, expected = tiny_onnx.encode(texts), tiny_encoder.encode(texts)
    assert got.shape == (len(texts), 32) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    # int8 on this random model measures >= 0.9995 per row; MiniLM itself is checked below.
    assert cosines(got, expected).min() > 0.995


def test_onnx_encoder_names_itself_like_its_source(tiny_onnx, tiny_encoder):
    assert (tiny_onnx.name, tiny_onnx.dim) == (tiny_encoder.name, tiny_encoder.dim)
    assert not tiny_onnx.trainable
    description = tiny_onnx.describe()
    assert description["backend"] == "onnx-int8"
    assert description["source"] == tiny_encoder.describe()


def test_empty_input_gives_an_empty_matrix(tiny_onnx):
    out = tiny_onnx.encode([])
    assert out.shape == (0, 32) and out.dtype == np.float32


def test_mixed_lengths_keep_their_order_and_report_progress(tiny_onnx):
    seen: list[int] = []
    batched = tiny_onnx.encode(MIXED, batch_size=4, progress=seen.append)
    alone = np.concatenate([tiny_onnx.encode([t]) for t in MIXED])
    assert sum(seen) == len(MIXED)
    # Activation ranges are per batch, so a text's vector moves a little with its batch-mates.
    assert cosines(batched, alone).min() > 0.999
    assert (np.argmax(batched @ alone.T, axis=1) == np.arange(len(MIXED))).all()


def test_many_messages_spread_over_lanes_give_the_same_vectors(tiny_export):
    texts = [f"message {i} " + "word " * (i % 17) for i in range(100)]
    one_lane = OnnxEncoder(tiny_export, threads=1)
    lanes = OnnxEncoder(tiny_export, threads=2)
    assert len(lanes._lanes) == 2
    seen = []
    spread = lanes.encode(texts, batch_size=8, progress=seen.append)
    np.testing.assert_allclose(spread, one_lane.encode(texts, batch_size=8), atol=1e-6)
    assert sum(seen) == 100


def test_tokenizer_matches_sentence_transformers_including_case_and_truncation(tiny_onnx, tiny_encoder):
    texts = [*MIXED, LONG]
    features = tiny_encoder.model.preprocess(texts)
    encodings = tiny_onnx.tokenizer.encode_batch_fast(texts)
    for name, attribute in (("input_ids", "ids"), ("attention_mask", "attention_mask")):
        np.testing.assert_array_equal(np.array([getattr(e, attribute) for e in encodings]), features[name].numpy())
    assert len(encodings[-1].ids) == 24


def test_long_text_is_truncated_like_torch(tiny_onnx, tiny_encoder):
    got, expected = tiny_onnx.encode([LONG, LONG[:150]]), tiny_encoder.encode([LONG, LONG[:150]])
    assert cosines(got, expected).min() > 0.995


def test_with_encoder_shares_the_fitted_parts(toy_classifier, tiny_onnx):
    fast = toy_classifier.with_encoder(tiny_onnx)
    assert fast.encoder is tiny_onnx and toy_classifier.encoder is not tiny_onnx
    assert fast.net_ is toy_classifier.net_ and fast.thresholds_ is toy_classifier.thresholds_
    assert fast.spec is toy_classifier.spec and fast.taxonomy is toy_classifier.taxonomy
    with pytest.raises(ValueError, match="64-d"):
        toy_classifier.with_encoder(HashingEncoder(dim=64))


def test_check_agreement_counts_matching_labels_per_head(toy_classifier, tiny_onnx):
    texts = [r["text"] for r in tiny_rows()] + ["  "]
    same = check_agreement(toy_classifier, toy_classifier, texts)
    assert same.n == len(texts) - 1
    assert same.heads == {"intent": 1.0, "urgency": 1.0, "sentiment": 1.0}
    assert same.cosine_min == pytest.approx(1.0, abs=1e-5) and same.accepted()

    fast = check_agreement(toy_classifier, toy_classifier.with_encoder(tiny_onnx), texts)
    assert set(fast.heads) == {"intent", "urgency", "sentiment"}
    assert fast.min_agreement == min(fast.heads.values()) > 0.5
    assert fast.accepted(0.0) and not fast.accepted(1.01)
    assert json.loads(json.dumps(fast.to_dict()))["n"] == fast.n


def test_agreement_on_no_texts_is_never_accepted(toy_classifier):
    agreement = check_agreement(toy_classifier, toy_classifier, ["", " "])
    assert agreement.n == 0 and not agreement.accepted()


def test_prepare_fast_path_exports_once_then_reuses(toy_classifier, tmp_path, monkeypatch):
    texts = [r["text"] for r in tiny_rows()]
    first = prepare_fast_path(toy_classifier, tmp_path, texts, min_agreement=0.0, threads=1)
    assert first.backend == "onnx-int8" and isinstance(first.model.encoder, OnnxEncoder)
    assert first.agreement is not None and first.model.net_ is toy_classifier.net_
    assert first.reason.startswith("onnx-int8 agrees with torch on") and "of 24 validation messages" in first.reason
    recorded = json.loads((tmp_path / "onnx" / "agreement.json").read_text())
    assert recorded["accepted"] is True and recorded["n"] == 24
    mtime = (tmp_path / "onnx" / MODEL_FILE).stat().st_mtime_ns

    def must_not_run(*args, **kwargs):
        raise AssertionError("the export and its agreement should have been reused")

    monkeypatch.setattr(onnx_encoder, "export_onnx", must_not_run)
    monkeypatch.setattr(onnx_encoder, "check_agreement", must_not_run)
    second = prepare_fast_path(toy_classifier, tmp_path, texts, min_agreement=0.0, threads=1)
    assert (second.backend, second.agreement) == (first.backend, first.agreement)
    assert (tmp_path / "onnx" / MODEL_FILE).stat().st_mtime_ns == mtime


def test_prepare_fast_path_serves_torch_below_the_agreement_threshold(toy_classifier, tmp_path):
    fast = prepare_fast_path(toy_classifier, tmp_path, [r["text"] for r in tiny_rows()], min_agreement=1.01)
    assert fast.backend == "torch" and fast.model is toy_classifier
    assert "onnx-int8 agreed with torch on only" in fast.reason and "< 101%: serving torch" in fast.reason
    assert "onnx-fp32 agreed with torch on only" in fast.reason
    assert json.loads((tmp_path / "onnx" / "agreement.json").read_text())["accepted"] is False


def test_prepare_fast_path_falls_back_to_fp32_when_int8_disagrees(toy_classifier, tmp_path, monkeypatch):
    texts = [r["text"] for r in tiny_rows()]
    real = onnx_encoder.check_agreement

    def int8_disagrees(torch_model, onnx_model, texts):
        found = real(torch_model, onnx_model, texts)
        if onnx_model.encoder.describe()["backend"] == "onnx-int8":
            return onnx_encoder.Agreement({h: 0.5 for h in found.heads}, found.n, found.cosine_mean, found.cosine_min)
        return found

    monkeypatch.setattr(onnx_encoder, "check_agreement", int8_disagrees)
    fast = prepare_fast_path(toy_classifier, tmp_path, texts, threads=1)
    assert fast.backend == "onnx-fp32" and isinstance(fast.model.encoder, OnnxEncoder)
    assert fast.agreement is not None and fast.agreement.min_agreement == 1.0
    assert (tmp_path / "onnx-fp32" / "encoder.fp32.onnx").exists()
    assert [(a["backend"], a["accepted"]) for a in fast.attempts] == [("onnx-int8", False), ("onnx-fp32", True)]


def test_prepare_fast_path_serves_torch_when_the_export_fails(toy_classifier, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(onnx_encoder, "export_onnx", broken)
    fast = prepare_fast_path(toy_classifier, tmp_path, ["where is my refund"])
    assert fast.backend == "torch" and fast.model is toy_classifier and fast.agreement is None
    assert "RuntimeError: exporter exploded" in fast.reason


def test_prepare_fast_path_leaves_the_hashing_encoder_on_torch(tmp_path):
    model = MessageClassifier(default_taxonomy(), HashingEncoder(dim=64), ClassifierSpec(hidden=0))
    fast = prepare_fast_path(model, tmp_path, ["where is my refund"])
    assert fast.backend == "torch" and fast.model is model and fast.agreement is None
    assert fast.reason == "the hashing.v1:64 encoder has no ONNX export: serving torch"
    assert not (tmp_path / "onnx").exists()


def _median_ms(call, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


@pytest.mark.slow
@pytest.mark.integration
def test_minilm_int8_export_stays_close_to_torch(tmp_path):
    torch_encoder = load_encoder("minilm-l6.v1", max_seq_length=64)
    assert isinstance(torch_encoder, SentenceTransformerEncoder)
    onnx = OnnxEncoder(export_onnx(torch_encoder, tmp_path))
    texts = [item.message.text for item in load_seed("eval").items][:200]
    expected, got = torch_encoder.encode(texts), onnx.encode(texts)
    similarity = cosines(got, expected)
    # Measured on these 200 messages: mean 0.992, min 0.972.
    assert similarity.mean() > 0.985 and similarity.min() > 0.95

    message = " ".join(["my order from last week still has not arrived and the tracking page is stuck"] * 2)
    print(f"\nint8 cosine to torch: mean {similarity.mean():.4f}, min {similarity.min():.4f}")
    for backend, encoder in (("torch", torch_encoder), ("onnx-int8", onnx)):
        encoder.encode([message])
        single = _median_ms(lambda encoder=encoder: encoder.encode([message]), 30)
        start = time.perf_counter()
        encoder.encode(texts)
        rate = len(texts) / (time.perf_counter() - start)
        print(f"{backend}: one {len(message.split())}-word message {single:.1f} ms; {rate:.0f} messages/s in batches")
