"""The FastAPI application: built by `create_app`, models and store opened in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from data.settings import Settings, get_settings
from serving import errors, web
from serving.auth import KeyVerifier
from serving.classification import Classifier
from serving.deps import AppState
from serving.metrics import MetricsMiddleware, ServiceMetrics
from serving.model_host import ModelHost, NoModel
from serving.retrain_trigger import RetrainAfterReviews
from serving.routes import admin, classify, health, models, review, themes
from serving.store.db import make_engine, make_sessionmaker
from serving.store.review_queue import QueueRules

# 512 messages of 5,000 characters, 4 bytes each at worst, plus JSON framing.
MAX_BODY_BYTES = 12 * 1024 * 1024
log = logging.getLogger("tidings.serving")

DESCRIPTION = """
Tidings reads a community inbox: for every message it says the **intent**, **urgency** and
**sentiment**, each with a calibrated probability and an honest `abstained` flag, and stores the
message for the review queue and the monthly themes.

Send an API key as `Authorization: Bearer <key>` (create one with `tidings keys create --role classify`).
Every error is an RFC 9457 problem (`application/problem+json`) naming the offending field.
"""


class BodyLimit:
    """Refuses bodies over the limit before reading them whole (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = errors.problem(413, f"the body is over {self.limit // (1024 * 1024)} MiB").model_dump_json(
            exclude_none=True
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", errors.PROBLEM_JSON.encode()), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


class _TooLarge(Exception):
    pass


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; nothing heavy happens until it starts (the lifespan)."""
    settings = settings or get_settings()
    metrics = ServiceMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.store_url)
        sessions = make_sessionmaker(engine)
        host = ModelHost(settings)
        app.state.tidings = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            host=host,
            metrics=metrics,
            keys=KeyVerifier(sessions),
            classifier=Classifier(
                sessions, metrics, QueueRules.from_settings(settings), redact_stored_text=settings.redact_stored_text
            ),
        )
        if settings.auth_disabled:
            log.warning("API keys are OFF (TIDINGS_AUTH_DISABLED): development mode, never for production")
        # Loading runs in the background so /healthz answers at once and /readyz tells the truth.
        watcher = asyncio.create_task(_watch(host, metrics), name="champion-watch")
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await host.close()
            engine.dispose()

    app = FastAPI(
        title="Tidings",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=errors.documented(500),
    )
    errors.install(app)

    @app.exception_handler(NoModel)
    async def _no_model(request: Request, exc: Exception) -> JSONResponse:
        body = errors.problem(503, f"no model is loaded yet: {exc}", instance=request.url.path)
        return errors.problem_response(body, {"Retry-After": "5"})

    app.include_router(classify.router)
    app.include_router(models.router)
    app.include_router(review.router)
    app.include_router(themes.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    web.install(app, settings)
    app.add_middleware(RetrainAfterReviews)
    app.add_middleware(BodyLimit)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


async def _watch(host: ModelHost, metrics: ServiceMetrics) -> None:
    """Keep the champion current and the model gauge in step with it."""
    interval = host.settings.registry_poll_seconds
    while True:
        try:
            await host.refresh_async()
        except Exception:
            log.exception("champion check failed")
        if host.current is not None:
            metrics.set_model(host.current.ref.name, host.current.ref.version, host.current.backend)
        if interval <= 0:
            return
        await asyncio.sleep(interval)
