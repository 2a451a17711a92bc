"""The model host: swaps champions atomically, refuses broken ones, survives registry outages."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from data.taxonomy import default_taxonomy
from models.classifier import MessageClassifier
from models.encoders import HashingEncoder
from serving import model_host
from serving.model_host import ModelHost, NoModel, ServingModel
from training.registry import ModelRef


def ref(version: str) -> ModelRef:
    return ModelRef("tidings-classifier", version, None, ("champion",), None, {})


def serving_model(version: str) -> ServingModel:
    return ServingModel(ref(version), MessageClassifier(default_taxonomy(), HashingEncoder(64)), "torch", "test")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, settings):
    state: dict = {"champion": ref("1"), "broken": set(), "down": False}

    def by_alias(alias, settings=None):
        if state["down"]:
            raise ConnectionError("registry down")
        return state["champion"]

    def load(r, settings):
        if r.version in state["broken"]:
            raise ValueError("config.json is not a MessageClassifier")
        return serving_model(r.version)

    monkeypatch.setattr(model_host, "model_by_alias", by_alias)
    monkeypatch.setattr(model_host, "load_serving_model", load)
    return state


def test_swap_waits_for_requests_on_the_old_model(registry, settings):
    async def main():
        host = ModelHost(settings)
        assert await host.refresh_async() is True
        async with host.lease() as old:
            registry["champion"] = ref("2")
            swap = asyncio.create_task(host.refresh_async())
            await asyncio.sleep(0.1)
            assert host.current is not None and host.current.ref.version == "2"
            assert not swap.done()  # the old model is kept until this request finishes
            result = await old.classify("still answered by v1")
            assert result.embedding.shape == (64,)
        await swap
        assert old.executor._shutdown
        await host.close()

    asyncio.run(main())


def test_a_broken_champion_is_refused_and_the_old_one_keeps_serving(registry, settings):
    async def main():
        host = ModelHost(settings)
        await host.refresh_async()
        registry["champion"], registry["broken"] = ref("3"), {"3"}
        assert await host.refresh_async() is False
        assert host.current.ref.version == "1"
        assert "v3 could not be loaded" in host.last_error
        await host.close()

    asyncio.run(main())


def test_a_registry_outage_keeps_the_current_model(registry, settings):
    async def main():
        host = ModelHost(settings)
        await host.refresh_async()
        registry["down"] = True
        assert await host.refresh_async() is False
        assert host.current.ref.version == "1"
        assert host.registry_reachable is False
        assert "registry unreachable" in host.last_error
        await host.close()

    asyncio.run(main())


def test_no_model_yet_is_an_explicit_error(registry, settings):
    registry["champion"] = None

    async def main():
        host = ModelHost(settings)
        await host.refresh_async()
        with pytest.raises(NoModel, match="no champion"):
            async with host.lease():
                pass

    asyncio.run(main())


def test_classify_now_returns_prediction_and_embedding():
    m = serving_model("1")
    [c] = m.classify_now(["hello there"])
    assert set(c.prediction.heads) == {"intent", "urgency", "sentiment"}
    assert np.isclose(np.linalg.norm(c.embedding), 1.0, atol=1e-5)
    m.executor.shutdown()


def test_the_fast_path_verdict_is_logged_on_the_training_run(settings):
    import mlflow

    from training.registry import configure_mlflow

    configure_mlflow(settings)
    with mlflow.start_run() as run:
        pass
    attempts = [
        {"backend": "onnx-int8", "heads": {"intent": 0.94}, "accepted": False, "reason": "only 94.0%"},
        {"backend": "onnx-fp32", "heads": {"intent": 1.0}, "accepted": True, "reason": "agrees on 100.0%"},
    ]
    model_host.log_fast_path(ModelRef("m", "1", run.info.run_id, (), None, {}), "onnx-fp32", attempts)
    logged = mlflow.get_run(run.info.run_id).data
    assert logged.tags["serving.backend"] == "onnx-fp32"
    assert logged.metrics["serving.onnx_int8.agreement.intent"] == 0.94
    assert logged.tags["serving.onnx_fp32.verdict"] == "agrees on 100.0%"
