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

router = APIRouter(prefix="/v1/models", tags=["models"], responses=documented(401, 403))


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


def _describe(ref: ModelRef | None, host: ModelHost) -> ServedModel | None:
    if ref is None:
        return None
    serving = host.current
    is_served = serving is not None and serving.ref.version == ref.version
    return ServedModel(
        name=ref.name,
        version=ref.version,
        aliases=list(ref.aliases),
        trained_at=datetime.fromtimestamp(ref.created / 1000, UTC) if ref.created else None,
        run_id=ref.run_id,
        metrics=_run_metrics(ref.run_id),
        serving=is_served,
        backend=serving.backend if is_served and serving else None,
        backend_reason=serving.backend_reason if is_served and serving else None,
    )


def _models(host: ModelHost) -> ModelsOut:
    champion = challenger = None
    try:
        champion = model_by_alias(CHAMPION, host.settings)
        challenger = model_by_alias(CHALLENGER, host.settings)
        reachable = True
    except Exception as e:  # the registry being down is reported, not raised
        reachable = False
        host.last_error = f"registry unreachable: {e}"
    serving = host.current
    if reachable:
        served = _describe(serving.ref, host) if serving else None
    else:
        served = None
        if serving is not None:
            served = ServedModel(
                name=serving.ref.name,
                version=serving.ref.version,
                aliases=list(serving.ref.aliases),
                trained_at=None,
                run_id=serving.ref.run_id,
                metrics=serving.classifier.metrics_,
                serving=True,
                backend=serving.backend,
                backend_reason=serving.backend_reason,
            )
    return ModelsOut(
        champion=_describe(champion, host) if reachable else None,
        challenger=_describe(challenger, host) if reachable else None,
        serving=served,
        registry_reachable=reachable,
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
