"""`/v1/models`: which versions the registry holds and which one this process serves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from serving.deps import AdminCaller, AnyCaller, HostDep
from serving.errors import documented
from serving.model_host import ModelHost
from serving.schemas import ModelsOut, ServedModel
from training.registry import CHALLENGER, CHAMPION, ModelRef, model_by_alias

router = APIRouter(prefix="/v1/models", tags=["models"], responses=documented(401, 403, 429))


def _run_metrics(run_id: str | None) -> dict[str, Any]:
    """Headline figures logged by the training run, nested as {set: {head: {metric: value}}}."""
    if not run_id:
        return {}
    import mlflow

    flat = mlflow.get_run(run_id).data.metrics
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if len(parts) != 3:  # per-class F1s and training curves stay in MLflow
            continue
        set_name, head, metric = parts
        nested.setdefault(set_name, {}).setdefault(head, {})[metric] = round(value, 4)
    return nested


def _describe(ref: ModelRef | None, host: ModelHost, registry_up: bool = True) -> ServedModel | None:
    if ref is None:
        return None
    serving = host.current
    is_served = serving is not None and serving.ref.version == ref.version
    if registry_up:
        metrics = _run_metrics(ref.run_id)
    else:  # what the loaded model carries is all that is known without the registry
        metrics = serving.classifier.metrics_ if serving is not None and is_served else {}
    return ServedModel(
        name=ref.name,
        version=ref.version,
        aliases=list(ref.aliases),
        trained_at=datetime.fromtimestamp(ref.created / 1000, UTC) if ref.created else None,
        run_id=ref.run_id,
        metrics=metrics,
        serving=is_served,
        backend=serving.backend if is_served and serving else None,
        backend_reason=serving.backend_reason if is_served and serving else None,
    )


def _models(host: ModelHost) -> ModelsOut:
    serving = host.current.ref if host.current else None
    try:
        champion = _describe(model_by_alias(CHAMPION, host.settings), host)
        challenger = _describe(model_by_alias(CHALLENGER, host.settings), host)
        served = _describe(serving, host)
        host.record_registry_check(None)
        return ModelsOut(
            champion=champion,
            challenger=challenger,
            serving=served,
            registry_reachable=True,
            last_error=host.last_error,
        )
    except Exception as e:  # the registry being down is reported, not raised
        host.record_registry_check(e)
        return ModelsOut(
            champion=None,
            challenger=None,
            serving=_describe(serving, host, registry_up=False),
            registry_reachable=False,
            last_error=host.last_error,
        )


@router.get("", response_model=ModelsOut)
async def list_models(caller: AnyCaller, host: HostDep) -> ModelsOut:
    """Champion and challenger with their metrics and training dates, and the version served here."""
    return await run_in_threadpool(_models, host)


@router.post("/reload", response_model=ModelsOut)
async def reload_models(caller: AdminCaller, host: HostDep) -> ModelsOut:
    """Check the registry now and swap in a new champion if it moved (admin)."""
    await host.refresh_async()
    return await run_in_threadpool(_models, host)
