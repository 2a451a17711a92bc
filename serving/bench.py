"""`tidings bench serve`: latency, throughput and memory of the ONNX int8 and torch paths, side by side."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np

from data.settings import Settings
from serving.model_host import ServingModel, load_serving_model, validation_texts
from serving.schemas import MAX_BATCH
from training.registry import ModelRef

# 30 words, the length the latency targets are stated for.
PROBE = (
    "hi team, since yesterday's update the mobile app logs me out every few minutes and I lose my "
    "draft replies, is this a known bug and when will it be fixed please"
)


@dataclass
class BackendFigures:
    """What one serving path measured."""

    backend: str
    reason: str
    inproc_p50_ms: float
    inproc_p99_ms: float
    batch_msgs_per_s: float
    http_p50_ms: float | None = None
    http_p99_ms: float | None = None
    http_batch_msgs_per_s: float | None = None
    peak_rss_mib: float | None = None


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile in milliseconds of samples given in seconds."""
    return float(np.percentile(np.asarray(samples) * 1000, q))


def time_calls(call: Callable[[], object], n: int, warmup: int = 20) -> list[float]:
    """Seconds per call over n calls after a warm-up."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def throughput(model: ServingModel, texts: Sequence[str], batch: int = MAX_BATCH) -> float:
    """Messages per second classifying `texts` in batches, as the batch endpoint does."""
    model.classify_now(texts[:batch])
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        model.classify_now(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - start)


def in_process(ref: ModelRef, settings: Settings, backend: str, texts: Sequence[str], n: int) -> BackendFigures:
    """Single-message latency and batch throughput without HTTP."""
    model = load_serving_model(ref, settings.model_copy(update={"serving_backend": backend}))
    samples = time_calls(lambda: model.classify_now([PROBE]), n)
    figures = BackendFigures(
        backend=model.backend,
        reason=model.backend_reason,
        inproc_p50_ms=percentile(samples, 50),
        inproc_p99_ms=percentile(samples, 99),
        batch_msgs_per_s=throughput(model, texts),
    )
    model.executor.shutdown()
    return figures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_rss_mib(pid: int) -> float | None:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def over_http(backend: str, key: str, texts: Sequence[str], n: int, figures: BackendFigures) -> None:
    """Start `tidings serve` with one backend and measure it from a keep-alive client on loopback."""
    port = _free_port()
    env = {**os.environ, "TIDINGS_SERVING_BACKEND": backend, "TIDINGS_REGISTRY_POLL_SECONDS": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "serving.cli", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            else:
                raise RuntimeError(f"the {backend} server was not ready in 180 s")
            body = {"text": PROBE, "store": False}
            samples = time_calls(lambda: client.post("/v1/classify", json=body).raise_for_status(), n)
            figures.http_p50_ms = percentile(samples, 50)
            figures.http_p99_ms = percentile(samples, 99)
            batches = [
                {"messages": [{"text": t, "store": False} for t in texts[i : i + MAX_BATCH]]}
                for i in range(0, len(texts), MAX_BATCH)
            ]
            client.post("/v1/classify/batch", json=batches[0]).raise_for_status()
            start = time.perf_counter()
            for b in batches:
                client.post("/v1/classify/batch", json=b).raise_for_status()
            figures.http_batch_msgs_per_s = len(texts) / (time.perf_counter() - start)
        figures.peak_rss_mib = _peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(30)


def run_serving_bench(
    ref: ModelRef, settings: Settings, key: str | None, n: int = 300, messages: int = 2000
) -> list[BackendFigures]:
    """Every serving path in one run, in-process and (with a key) over HTTP."""
    pool = validation_texts()
    texts = [pool[i % len(pool)] for i in range(messages)]
    results = []
    for backend in ("onnx-int8", "onnx-fp32", "torch"):
        figures = in_process(ref, settings, backend, texts, n)
        if key:
            over_http(backend, key, texts, n, figures)
        results.append(figures)
    return results


def write_figures(results: Sequence[BackendFigures], meta: dict[str, object], directory: Path) -> Path:
    """Keep the figures as JSON beside the other reports."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{time.strftime('%Y-%m-%d')}-serve.json"
    path.write_text(json.dumps({**meta, "results": [asdict(r) for r in results]}, indent=2), encoding="utf-8")
    return path
