"""The load test's statistics and bounds, against an in-memory transport (no server)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from evaluation.load_test import require_loopback, run_level, summarize


def test_summarize_counts_failures_in_throughput_but_not_in_latency():
    stats = summarize(workers=2, concurrency=4, latencies_s=[0.010] * 98 + [0.500, 1.000], errors=25, seconds=5.0)
    assert (stats.requests, stats.errors, stats.requests_per_s) == (125, 25, 25.0)
    assert stats.error_rate == pytest.approx(0.2)
    assert stats.p50_ms == pytest.approx(10.0)
    assert 500 < stats.p99_ms < 1000


def test_summarize_with_only_failures_has_no_latency():
    stats = summarize(workers=1, concurrency=1, latencies_s=[], errors=3, seconds=1.0)
    assert stats.p50_ms is None and stats.p99_ms is None and stats.error_rate == 1.0


@pytest.mark.parametrize("url", ["http://10.0.0.5:8000", "https://example.com", "http://0.0.0.0:8000"])
def test_only_loopback_targets_are_accepted(url):
    with pytest.raises(ValueError, match="loopback"):
        require_loopback(url)


def test_loopback_targets_pass():
    for url in ("http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:8000"):
        require_loopback(url)


def test_a_level_stops_at_its_request_budget_and_counts_errors():
    seen: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        assert request.headers["Authorization"] == "Bearer k" and request.url.path == "/v1/classify"
        return httpx.Response(503 if body["text"] == "bad" else 200, json={})

    stats = asyncio.run(
        run_level(
            "http://127.0.0.1:9",
            "k",
            ["good", "good", "good", "bad"],
            workers=1,
            concurrency=3,
            max_requests=40,
            max_seconds=30,
            transport=httpx.MockTransport(answer),
        )
    )
    assert len(seen) == stats.requests == 40
    assert stats.errors == 10 and all(b["store"] is False for b in seen)


def test_a_level_stops_at_its_time_budget():
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(200, json={})

    stats = asyncio.run(
        run_level(
            "http://127.0.0.1:9",
            "k",
            ["x"],
            workers=1,
            concurrency=2,
            max_requests=10_000,
            max_seconds=0.3,
            transport=httpx.MockTransport(slow),
        )
    )
    assert 4 <= stats.requests <= 20 and stats.seconds < 1.0
