"""The trainer against a real MLflow store and registry, with the hashing encoder for speed."""

import json
import random
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.conftest import tiny_config, tiny_rows, write_jsonl
from training.config import TrainingConfig
from training.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, load_version, model_by_alias
from training.trainer import Trainer

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
