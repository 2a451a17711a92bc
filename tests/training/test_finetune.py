"""Fine-tuning with the real MiniLM weights on a handful of messages."""

import numpy as np
import pytest
import torch

from data.taxonomy import default_taxonomy
from models.classifier import ClassifierSpec, MessageClassifier
from models.encoders import load_encoder
from tests.conftest import tiny_rows
from training.config import FinetuneParams
from training.finetune import WeightAverage, epoch_rows, finetune, length_bucketed_batches


def test_length_bucketed_batches_cover_every_row_once_and_group_similar_lengths():
    lengths = list(range(100))
    batches = length_bucketed_batches(lengths, 10, np.random.default_rng(0))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == lengths
    assert all(b.max() - b.min() < 20 for b in batches)


def test_epoch_rows_keep_every_unrotated_row_and_draw_a_fresh_quota_of_each_rotating_source():
    groups = ["labelled"] * 10 + ["tweets"] * 90
    rng = np.random.default_rng(0)
    first, second = epoch_rows(groups, {"tweets": 20}, rng), epoch_rows(groups, {"tweets": 20}, rng)
    for rows in (first, second):
        assert set(range(10)) <= set(rows.tolist())
        assert len(rows) == 30 and len(set(rows.tolist())) == 30
    assert set(first.tolist()) != set(second.tolist())
    # A quota larger than the source keeps all of it.
    assert len(epoch_rows(groups, {"tweets": 500}, rng)) == 100


def test_weight_average_is_the_mean_of_the_snapshots_and_refuses_another_architecture():
    frozen = torch.nn.Embedding(3, 2)
    frozen.weight.requires_grad_(False)
    table = frozen.weight.detach().clone()
    soup = torch.nn.Linear(2, 1)
    average = WeightAverage([soup, frozen])
    with pytest.raises(ValueError, match="no snapshot"):
        average.apply()
    for value in (1.0, 2.0, 6.0):
        run = torch.nn.Linear(2, 1)
        with torch.no_grad():
            run.weight.fill_(value)
            run.bias.fill_(-value)
        average.add([run, frozen])
    average.apply()
    torch.testing.assert_close(soup.weight, torch.full((1, 2), 3.0))
    torch.testing.assert_close(soup.bias, torch.full((1,), -3.0))
    # A frozen table every run shares is averaged with itself and stays as it was.
    torch.testing.assert_close(frozen.weight, table)
    with pytest.raises(ValueError, match="same architecture"):
        average.add([torch.nn.Linear(3, 1), frozen])


@pytest.mark.integration
@pytest.mark.slow
def test_finetuning_updates_the_encoder_and_the_saved_model_carries_it(tmp_path):
    torch.manual_seed(0)
    rows = tiny_rows()[:16]
    spec = ClassifierSpec(hidden=0, max_seq_length=16)
    model = MessageClassifier(default_taxonomy(), load_encoder("minilm-l6.v1", max_seq_length=16), spec)
    weights = dict(model.encoder.model.named_parameters())  # type: ignore[attr-defined]
    word_key = next(k for k in weights if "word_embeddings" in k)
    layer_key = next(k for k in weights if "layer.0.attention" in k and k.endswith("weight"))
    before = {k: weights[k].detach().clone() for k in (word_key, layer_key)}
    texts = [r["text"] for r in rows]
    epochs, seen = [], []
    history = finetune(
        model,
        texts,
        model.encode_targets(rows),
        np.ones(len(rows), dtype=np.float32),
        FinetuneParams(epochs=2, batch_size=8, encoder_lr=1e-4),
        progress=seen.append,
        on_epoch=lambda e, loss: epochs.append(e),
        # Half the rows rotate: each epoch trains on the other 8 and 4 of them.
        groups=["labelled"] * 8 + ["tweets"] * 8,
        quotas={"tweets": 4},
    )
    assert len(history) == 2 and all(np.isfinite(history)) and epochs == [1, 2]
    assert sum(seen) == 2 * 12
    assert model.encoder.finetuned
    # Transformer layers learn; the token-embedding table stays frozen (freeze_embeddings=True).
    assert not torch.equal(before[layer_key], weights[layer_key])
    assert torch.equal(before[word_key], weights[word_key])

    path = model.save(tmp_path / "tuned")
    assert (path / "encoder" / "model.safetensors").exists()
    assert not list(path.rglob("*.bin")) and not list(path.rglob("*.pkl"))
    loaded = MessageClassifier.load(path)
    assert loaded.encoder.finetuned
    np.testing.assert_allclose(loaded.predict_proba(texts)["intent"], model.predict_proba(texts)["intent"], atol=1e-5)
