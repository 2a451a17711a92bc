"""The `tidings` command end to end on a tiny config (hashing encoder, real MLflow store)."""

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from data.settings import get_settings
from serving.cli import app
from tests.conftest import tiny_config, tiny_rows, write_jsonl

pytestmark = [pytest.mark.integration, pytest.mark.slow]
runner = CliRunner()


@pytest.fixture
def tiny_setup(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rows = tiny_rows()
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    gate = write_jsonl(tmp_path / "gate.jsonl", [{**r, "text": r["text"] + " thanks"} for r in rows])
    corpora = tmp_path / "corpora"
    corpora.mkdir()
    write_jsonl(corpora / "gold_dev.jsonl", [{**r, "id": f"g{n}"} for n, r in enumerate(rows)])
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(train, gate)))
    monkeypatch.setenv("TIDINGS_DEFAULT_CONFIG", str(path))
    monkeypatch.setenv("TIDINGS_CORPORA_DIR", str(corpora))
    get_settings.cache_clear()
    return path


def test_predict_without_a_champion_bootstraps_the_default_model(tiny_setup):
    result = runner.invoke(app, ["predict", "--json", "how much is the pro plan"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output[result.output.index("{") :])
    assert line["intent"]["label"] == "sales_question"
    assert set(line["intent"]) == {"label", "probability", "probabilities", "abstained", "reason"}
    assert line["model"] == {"name": "tidings-classifier", "version": "1"}


def test_train_with_a_seed_override_logs_that_seed_on_the_run(tiny_setup):
    result = runner.invoke(app, ["train", "--config", str(tiny_setup), "--seed", "7", "--no-register"])
    assert result.exit_code == 0, result.output
    run_id = result.output.split("run ", 1)[1].split()[0]
    assert MlflowClient().get_run(run_id).data.params["seed"] == "7"


def test_evaluate_writes_metrics_for_the_heads_the_file_labels(tiny_setup, tmp_path):
    only_sentiment = write_jsonl(
        tmp_path / "s.jsonl", [{"text": r["text"], "sentiment": r["sentiment"]} for r in tiny_rows()]
    )
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", str(only_sentiment), "--json", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert "intent" not in metrics and "urgency" not in metrics
    sentiment = metrics["sentiment"]
    assert {"macro_f1", "macro_recall", "accuracy", "ece", "n"} <= set(sentiment)
    assert sentiment["n"] == 24
    low, high = sentiment["interval_95"]["macro_f1"]
    assert low <= sentiment["macro_f1"] <= high
    assert sentiment["ece_if_calibrated"] > 0
    assert "bootstrap interval" in result.output and "floor" in result.output


def test_evaluate_scores_the_version_an_alias_names_and_refuses_an_unknown_alias(tiny_setup, tmp_path):
    file = write_jsonl(tmp_path / "s.jsonl", tiny_rows())
    assert runner.invoke(app, ["evaluate", str(file)]).exit_code == 0  # bootstraps v1: champion and challenger
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["evaluate", str(file), "--alias", "challenger", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["model"]["version"] == "1"
    missing = runner.invoke(app, ["evaluate", str(file), "--alias", "nightly"])
    assert missing.exit_code == 1 and "holds the alias 'nightly'" in missing.output


def test_evaluate_reports_rejected_rows_and_fails_on_a_file_with_none_usable(tiny_setup, tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "  "}, {"text": "x", "intent": "praise"}])
    result = runner.invoke(app, ["evaluate", str(bad)])
    assert result.exit_code == 1
    assert "rejected" in result.output and "unknown intent label 'praise'" in result.output


def test_predict_file_skips_bad_rows_and_classifies_the_rest(tiny_setup, tmp_path):
    file = write_jsonl(tmp_path / "in.jsonl", [{"text": "subscribe to my channel"}, {"text": ""}])
    result = runner.invoke(app, ["predict", "--file", str(file), "--json"])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and '"spam"' in result.output


def test_benchmark_gold_suite_prints_baselines_beside_the_model_and_writes_a_report(tiny_setup, tmp_path, monkeypatch):
    monkeypatch.setattr("evaluation.report.REPORTS_DIR", tmp_path / "reports")
    result = runner.invoke(app, ["benchmark", "-s", "gold_dev", "--name", "test"])
    assert result.exit_code == 0, result.output
    assert "TF-IDF + LR" in result.output and "VADER" in result.output and "Tidings" in result.output
    (report,) = (tmp_path / "reports").glob("*-test.md")
    text = report.read_text()
    assert "| gold_dev | intent.macro_f1 | 24 |" in text
    assert report.with_suffix(".png").exists() and report.with_suffix(".json").exists()
