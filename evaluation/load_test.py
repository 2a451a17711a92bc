"""Load test of the HTTP API on loopback: throughput, p50/p99 latency and error rate of `POST /v1/classify`.

Starts `tidings serve --workers N` itself (one process per N), with a classify key created for the
run and revoked after it, and sends single-message requests from an async client at a few
concurrency levels. Every level is bounded in requests and in seconds, so it always stops.

    python -m evaluation.load_test --workers 1 --workers 2 --concurrency 1 --concurrency 8 --concurrency 32
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from ipaddress import ip_address
from pathlib import Path
from types import TracebackType
from typing import Annotated

import httpx
import numpy as np
import typer

LOOPBACK_NAMES = {"localhost"}


@dataclass(frozen=True)
class LoadStats:
    """What one concurrency level measured."""

    workers: int
    concurrency: int
    requests: int
    errors: int
    seconds: float
    requests_per_s: float
    p50_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        """Share of requests that failed (a transport error or any status but 200)."""
        return self.errors / self.requests if self.requests else 0.0


def summarize(workers: int, concurrency: int, latencies_s: Sequence[float], errors: int, seconds: float) -> LoadStats:
    """Statistics of one level: latencies are those of successful requests, throughput counts every request."""
    total = len(latencies_s) + errors
    ms = np.asarray(latencies_s, dtype=float) * 1000
    return LoadStats(
        workers=workers,
        concurrency=concurrency,
        requests=total,
        errors=errors,
        seconds=seconds,
        requests_per_s=total / seconds if seconds > 0 else 0.0,
        p50_ms=float(np.percentile(ms, 50)) if len(ms) else None,
        p99_ms=float(np.percentile(ms, 99)) if len(ms) else None,
    )


def require_loopback(base_url: str) -> None:
    """Refuse any target but this machine: a load test must never hit someone else's server."""
    host = httpx.URL(base_url).host
    try:
        loopback = ip_address(host).is_loopback
    except ValueError:
        loopback = host in LOOPBACK_NAMES
    if not loopback:
        raise ValueError(f"load tests run against loopback only, not {host!r}")


async def run_level(
    base_url: str,
    key: str,
    texts: Sequence[str],
    *,
    workers: int,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadStats:
    """`concurrency` clients in a closed loop, until `max_requests` are sent or `max_seconds` pass."""
    require_loopback(base_url)
    if not texts:
        raise ValueError("no texts to send")
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30, limits=limits, transport=transport)
    async with client:
        deadline = time.monotonic() + max_seconds

        async def client_loop() -> None:
            nonlocal errors
            while (i := next(counter)) < max_requests and time.monotonic() < deadline:
                body = {"text": texts[i % len(texts)], "store": False}
                start = time.perf_counter()
                try:
                    ok = (await client.post("/v1/classify", json=body)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return summarize(workers, concurrency, latencies, errors, seconds)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tidings(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "serving.cli", *args], capture_output=True, text=True, check=True, timeout=300
    )


class LiveServer:
    """`tidings serve` on a free loopback port with a fresh classify key; stopped and the key revoked on exit."""

    def __init__(self, workers: int = 1, ready_timeout: float = 600) -> None:
        self.workers = workers
        self.ready_timeout = ready_timeout
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.key = ""
        self._key_id = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="tidings-serve-", suffix=".log", delete=False)  # noqa: SIM115

    def __enter__(self) -> LiveServer:
        created = _tidings("keys", "create", "--role", "classify", "--name", "load test")
        self.key = created.stdout.strip().splitlines()[-1]
        found = re.search(r"\(id (\S+)\)", created.stderr)
        self._key_id = found.group(1) if found else ""
        env = {**os.environ, "TIDINGS_REGISTRY_POLL_SECONDS": "0"}
        command = ["serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]
        self._process = subprocess.Popen(
            [sys.executable, "-m", "serving.cli", *command, "--log-level", "warning"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        # With several workers each loads the model itself: wait until many answers in a row say ready.
        needed, streak = 10 * self.workers, 0
        deadline = time.monotonic() + self.ready_timeout
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while streak < needed:
                if self._process is not None and self._process.poll() is not None:
                    raise RuntimeError(f"`tidings serve` exited with {self._process.returncode}; log: {self._log.name}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server was not ready in {self.ready_timeout:.0f} s; log: {self._log.name}")
                try:
                    ready = client.get("/readyz", headers={"Connection": "close"}).status_code == 200
                except httpx.TransportError:
                    ready = False
                streak = streak + 1 if ready else 0
                time.sleep(0.05 if ready else 0.5)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None
        if self._key_id:
            _tidings("keys", "revoke", self._key_id)
            self._key_id = ""
        self._log.close()


def probe_texts() -> list[str]:
    """The seed corpus's held-out messages: real lengths, not one repeated probe."""
    from data.seed import load_seed

    return [item.message.text for item in load_seed("eval").items]


def run_load_test(
    worker_counts: Sequence[int], levels: Sequence[int], max_requests: int, max_seconds: float
) -> list[LoadStats]:
    """Every worker count against every concurrency level, a short warm-up before each level."""
    texts = probe_texts()
    results = []
    for workers in worker_counts:
        with LiveServer(workers=workers) as server:

            def level(concurrency: int, n: int, limit: float, workers: int = workers) -> LoadStats:
                return asyncio.run(
                    run_level(
                        server.base_url,
                        server.key,
                        texts,
                        workers=workers,
                        concurrency=concurrency,
                        max_requests=n,
                        max_seconds=limit,
                    )
                )

            for concurrency in levels:
                level(concurrency, 4 * concurrency, 10.0)
                results.append(level(concurrency, max_requests, max_seconds))
    return results


def main(
    workers: Annotated[list[int] | None, typer.Option("--workers", "-w", help="uvicorn worker counts.")] = None,
    concurrency: Annotated[list[int] | None, typer.Option("--concurrency", "-c", help="Concurrent clients.")] = None,
    requests: Annotated[int, typer.Option(min=1, help="At most this many requests per level.")] = 1000,
    seconds: Annotated[float, typer.Option(min=1, help="At most this long per level.")] = 30.0,
    report: Annotated[Path | None, typer.Option(help="Write the figures here as JSON.")] = None,
) -> None:
    """Load-test `POST /v1/classify` on loopback and print throughput, p50/p99 and error rate."""
    from rich.console import Console
    from rich.table import Table

    results = run_load_test(workers or [1, 2], concurrency or [1, 8, 32], requests, seconds)
    table = Table(title="POST /v1/classify (store=false), loopback")
    for col in ("workers", "concurrency", "requests", "req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(col)
    for s in results:
        table.add_row(
            str(s.workers),
            str(s.concurrency),
            str(s.requests),
            f"{s.requests_per_s:.1f}",
            "" if s.p50_ms is None else f"{s.p50_ms:.1f}",
            "" if s.p99_ms is None else f"{s.p99_ms:.1f}",
            f"{s.errors} ({s.error_rate:.1%})",
        )
    Console().print(table)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        rows = [{**asdict(s), "error_rate": s.error_rate} for s in results]
        report.write_text(json.dumps({"cpus": os.cpu_count(), "results": rows}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    typer.run(main)
