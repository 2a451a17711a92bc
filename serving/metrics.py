"""Prometheus metrics for `/metrics`: traffic, latency, what the model says and which model says it."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.prediction import Prediction

LATENCY_BUCKETS = (0.002, 0.004, 0.006, 0.008, 0.012, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """One registry per app, so tests and multiple apps in a process never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tidings_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tidings_http_request_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "tidings_predictions", "Predicted labels per head.", ["head", "label"], registry=self.registry
        )
        self.abstentions = Counter(
            "tidings_abstentions",
            "Heads that abstained; divide by tidings_predictions_total summed per head for the rate.",
            ["head", "reason"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "tidings_model_info",
            "The model version being served (value 1).",
            ["name", "version", "backend"],
            registry=self.registry,
        )

    def observe_prediction(self, prediction: Prediction) -> None:
        """Count one message's labels and abstentions."""
        for head, h in prediction.heads.items():
            self.predictions.labels(head, h.label).inc()
            if h.abstained:
                self.abstentions.labels(head, str(h.reason)).inc()

    def set_model(self, name: str, version: str, backend: str) -> None:
        """Record the model in use (and only that one)."""
        self.model_info.clear()
        self.model_info.labels(name, version, backend).set(1)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request and counts it by its route template (not the raw path)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
