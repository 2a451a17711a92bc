from pathlib import Path

import pytest

from data.schema import LabelledMessage, Labels, Message
from training.config import TrainingConfig
from training.gate import compare
from training.trainer import calibration_rows, rotation_quotas

CONFIGS = sorted(Path("training/configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_loads_and_round_trips(path):
    config = TrainingConfig.from_yaml(path)
    assert TrainingConfig.from_dict(config.to_dict()) == config


def test_default_config_needs_nothing_outside_the_repository():
    config = TrainingConfig.from_yaml("training/configs/default.yaml")
    assert {s.name for s in config.sources} | {s.name for s in config.gate_sets} == {"seed"}


def test_unknown_keys_and_bad_profiles_are_refused():
    with pytest.raises(ValueError, match="unknown key"):
        TrainingConfig.from_dict({"name": "x", "epochs": 3})
    with pytest.raises(ValueError, match="unknown key"):
        TrainingConfig.from_dict({"classifier": {"hiden": 3}})
    with pytest.raises(ValueError, match="profile"):
        TrainingConfig.from_dict({"profile": "turbo"})
    with pytest.raises(ValueError, match="runs must be at least 1"):
        TrainingConfig.from_dict({"finetune": {"runs": 0}})


def _row(source: str, text: str) -> LabelledMessage:
    return LabelledMessage(message=Message(text=text), labels=Labels(sentiment="neutral"), source=source)


def test_rotating_sources_and_calibration_sources_come_from_the_config():
    config = TrainingConfig.from_dict(
        {
            "sources": [{"name": "labelled_train"}, {"name": "semeval2017", "rows_per_epoch": 50}],
            "calibrate_on": ["labelled_train"],
        }
    )
    assert rotation_quotas(config, ["labelled_train", "semeval2017"]) == {"semeval2017": 50}
    assert rotation_quotas(config, ["labelled_train"]) == {}
    validation = [_row("labelled_train", "a"), _row("semeval2017", "b"), _row("seed", "c")]
    assert [r.message.text for r in calibration_rows(config, validation)] == ["a"]
    assert calibration_rows(TrainingConfig(), validation) == validation
    with pytest.raises(ValueError, match="no validation rows"):
        calibration_rows(config, validation[1:])
    with pytest.raises(ValueError, match="rows_per_epoch"):
        TrainingConfig.from_dict({"sources": [{"name": "seed", "rows_per_epoch": 0}]})


def _scores(**heads: float) -> dict:
    return {"gate": {h: {"macro_f1": v} for h, v in heads.items()}}


def test_first_model_is_promoted():
    verdict = compare(_scores(intent=0.5), None)
    assert verdict.promote and "first model" in verdict.reason


def test_a_drop_beyond_tolerance_on_any_head_blocks_promotion():
    verdict = compare(_scores(intent=0.80, urgency=0.58), _scores(intent=0.70, urgency=0.60))
    assert not verdict.promote
    assert "urgency" in verdict.reason
    assert "| gate | urgency | 0.600 | 0.580 | -0.020 |" in verdict.table()


def test_a_drop_within_tolerance_is_allowed_unless_improvement_is_required():
    assert compare(_scores(intent=0.695, urgency=0.6), _scores(intent=0.70, urgency=0.6)).promote
    strict = compare(_scores(intent=0.695, urgency=0.6), _scores(intent=0.70, urgency=0.6), require_improvement=True)
    assert not strict.promote
    assert compare(
        _scores(intent=0.72, urgency=0.6), _scores(intent=0.70, urgency=0.6), require_improvement=True
    ).promote
