"""The trainer against a real MLflow store and registry, with the hashing encoder for speed."""

import json
import random
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from tests.conftest import tiny_config, tiny_rows, write_jsonl
from training.config import TrainingConfig
from training.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, load_version, model_by_alias
from training.trainer import Trainer, assemble

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _config(train: Path, gate: Path, name: str = "tiny") -> TrainingConfig:
    return TrainingConfig.from_dict(tiny_config(train, gate, name))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rows = tiny_rows()
    train = write_jsonl(tmp_path / "train.jsonl", rows * 3)  # duplicates are removed by the trainer
    gate = write_jsonl(tmp_path / "gate.jsonl", [{**r, "text": r["text"] + " please"} for r in rows])
    return train, gate


def test_first_run_is_tracked_registered_and_becomes_champion(settings, files):
    result = Trainer(_config(*files), settings).run()

    assert result.version == "1" and result.verdict is not None and result.verdict.promote
    assert model_by_alias(CHAMPION, settings).version == "1"
    assert model_by_alias(CHALLENGER, settings).version == "1"
    run = MlflowClient().get_run(result.run_id)
    assert run.data.params["profile"] == "fast"
    assert run.data.params["classifier.encoder"] == "hashing.v1:256"
    assert "gate.intent.macro_f1" in run.data.metrics
    assert run.data.tags["gate.promote"] == "True"
    assert len(run.data.tags["dataset.digest"]) == 64
    artifacts = {a.path for a in MlflowClient().list_artifacts(result.run_id)}
    assert {"dataset", "metrics", "plots", "gate", "config.json", "environment"} <= artifacts
    fingerprint = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="dataset/fingerprint.json")
        ).read_text()
    )
    assert fingerprint["rows"]["tiny"] == 72 and sum(fingerprint["rows"][k] for k in ("train", "validation")) == 24
    plots = {a.path for a in MlflowClient().list_artifacts(result.run_id, "plots")}
    assert "plots/confusion-gate-intent.png" in plots and "plots/reliability-gate-urgency.png" in plots

    champion = load_version(model_by_alias(CHAMPION, settings), settings)
    assert champion.predict(["how much is the pro plan"])[0]["intent"].label == "sales_question"


def test_a_worse_challenger_is_registered_but_the_champion_is_kept(settings, files, tmp_path):
    Trainer(_config(*files), settings).run()
    rows = tiny_rows()
    shuffled = [r["intent"] for r in rows]
    random.Random(3).shuffle(shuffled)
    noisy = write_jsonl(tmp_path / "noisy.jsonl", [{**r, "intent": i} for r, i in zip(rows, shuffled, strict=True)])

    result = Trainer(_config(noisy, files[1], name="noisy"), settings).run()

    assert result.version == "2" and result.verdict is not None
    assert not result.verdict.promote and "drops" in result.verdict.reason
    assert model_by_alias(CHAMPION, settings).version == "1"
    assert model_by_alias(CHALLENGER, settings).version == "2"
    assert model_by_alias(PREVIOUS_CHAMPION, settings) is None
    comparison = mlflow.artifacts.load_text(f"runs:/{result.run_id}/gate/comparison.md")
    assert "| gate | intent |" in comparison


def test_the_registered_pyfunc_serves_the_whole_pipeline(settings, files):
    Trainer(_config(*files), settings).run()
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@{CHAMPION}")
    out = model.predict(pd.DataFrame({"text": ["subscribe to my channel", ""]}))
    assert next(iter(out["intent"])) == "spam"
    assert bool(out["needs_review"].iloc[1]) and out["intent_reason"].iloc[1] == "empty_text"


def test_a_soup_starts_every_run_from_one_point_and_keeps_the_mean_of_their_weights(settings, files, monkeypatch):
    config = TrainingConfig.from_dict(
        {
            **tiny_config(*files),
            "profile": "finetune",
            "seed": 13,
            "classifier": {"encoder": "minilm-l6.v1", "hidden": 0, "max_seq_length": 16},
            "finetune": {"epochs": 1, "runs": 2},
        }
    )
    starts: list[dict[str, torch.Tensor]] = []
    seeds, steps = [], []

    def shift_by_seed(model, texts, targets, weights, params, class_weight, seed, progress, on_epoch, **kw):
        # Stands in for fine-tuning: moves every weight by an amount only this seed gives.
        seeds.append(seed)
        named = dict(model.encoder.model.named_parameters()) | dict(model.net_.named_parameters())
        starts.append({k: v.detach().clone() for k, v in named.items()})
        with torch.no_grad():
            for w in named.values():
                w += seed / 1000
        model.encoder.finetuned = True
        on_epoch(1, 0.5)
        return [0.5]

    monkeypatch.setattr("training.trainer.finetune", shift_by_seed)
    monkeypatch.setattr(Trainer, "_log_epoch", staticmethod(lambda epoch, loss: steps.append(epoch)))
    result = Trainer(config, settings).run(register=False)
    soup = result.model

    assert seeds == [13, 14] and steps == [1, 2]
    # Each run's own gate-set scores are on the MLflow run beside the soup's.
    logged = MlflowClient().get_run(result.run_id).data.metrics
    for run in (0, 1):
        assert {f"soup_run{run}.gate.intent.macro_f1", f"soup_run{run}.gate.urgency.qwk"} <= logged.keys()
    assert soup.encoder.finetuned
    layer = next(k for k in starts[0] if "layer.0.attention" in k)
    # Both runs start from the pretrained encoder and one head initialisation, so the mean moves
    # every weight by (13 + 14) / 2 / 1000 from that start.
    head = "heads.intent.1.weight"
    for name in (layer, head):
        torch.testing.assert_close(starts[0][name], starts[1][name])
    torch.testing.assert_close(dict(soup.encoder.model.named_parameters())[layer], starts[0][layer] + 0.0135)
    torch.testing.assert_close(dict(soup.net_.named_parameters())[head], starts[0][head] + 0.0135)
    # The heads' start is seeded: the same config starts from it again in a new trainer.
    single = TrainingConfig.from_dict({**config.to_dict(), "finetune": {"epochs": 1, "runs": 1}})
    again = Trainer(single, settings)
    again.fit(assemble(single, again.taxonomy))
    torch.testing.assert_close(starts[2][head], starts[0][head])
