"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from serving.deps import StateDep
from serving.store.db import is_up_to_date, ping

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (says nothing about the model or the store)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> JSONResponse:
    """Ready when a model is loaded and the store is reachable and migrated; 503 with reasons otherwise.

    A registry outage alone does not make the service unready: the loaded champion keeps serving.
    """
    model = state.host.current
    registry = state.host.registry
    store_ok = await run_in_threadpool(ping, state.engine)
    migrated = store_ok and await run_in_threadpool(is_up_to_date, state.engine)
    problems = []
    if model is None:
        problems.append(state.host.last_error or "no model loaded yet")
    if not store_ok:
        problems.append("the message store is unreachable")
    elif not migrated:
        problems.append("the message store needs migrating: run `tidings db upgrade`")
    body = {
        "ready": not problems,
        "model": {"name": model.ref.name, "version": model.ref.version, "backend": model.backend} if model else None,
        "store": "ok" if migrated else ("needs migration" if store_ok else "unreachable"),
        "registry": {
            "reachable": registry.reachable,
            "checked_at": registry.checked_at.isoformat() if registry.checked_at else None,
            "error": registry.error,
        },
        "problems": problems,
    }
    return JSONResponse(
        body, status_code=200 if not problems else 503, headers={} if not problems else {"Retry-After": "5"}
    )


@router.get("/metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    """Prometheus text format: requests, latency, predictions per label, abstentions, model in use."""
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
