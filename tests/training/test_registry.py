"""Registry lookups: a missing model or alias is None, any other registry error is raised."""

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

from training import registry
from training.registry import CHAMPION, is_not_found, model_by_alias


def test_a_store_without_the_model_has_no_champion(settings):
    assert model_by_alias(CHAMPION, settings) is None


def test_a_registered_model_without_the_alias_has_no_champion(settings):
    registry.configure_mlflow(settings)
    registry._client().create_registered_model(settings.model_name)
    assert model_by_alias(CHAMPION, settings) is None


def test_other_registry_errors_are_raised_not_taken_for_no_champion(settings, monkeypatch):
    class Broken:
        def get_model_version_by_alias(self, name: str, alias: str) -> None:
            raise MlflowException("database is locked", INTERNAL_ERROR)

    monkeypatch.setattr(registry, "_client", Broken)
    with pytest.raises(MlflowException, match="locked"):
        model_by_alias(CHAMPION, settings)
    assert not is_not_found(MlflowException("database is locked", INTERNAL_ERROR))
