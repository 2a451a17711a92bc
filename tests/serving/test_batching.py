"""Micro-batching: concurrent submissions share a pass; a lone one runs at once."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from serving.batching import MicroBatcher


def run(coro):
    return asyncio.run(coro)


def test_concurrent_items_share_batches_and_keep_their_own_results():
    calls: list[list[int]] = []
    gate = threading.Event()

    def square(items):
        gate.wait(1)  # hold the first batch so the rest queue up behind it
        calls.append(list(items))
        return [i * i for i in items]

    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(square, pool, max_batch=8)
            tasks = [asyncio.create_task(batcher.submit(i)) for i in range(20)]
            await asyncio.sleep(0.05)
            gate.set()
            results = await asyncio.gather(*tasks)
            await batcher.close()
            return results, batcher

    results, batcher = run(main())
    assert results == [i * i for i in range(20)]
    assert sorted(x for c in calls for x in c) == list(range(20))
    assert max(len(c) for c in calls) == 8
    assert batcher.batches == len(calls) < 20


def test_a_lone_item_runs_without_waiting_for_company():
    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(lambda items: [x + 1 for x in items], pool)
            loop = asyncio.get_running_loop()
            start = loop.time()
            result = await batcher.submit(1)
            elapsed = loop.time() - start
            await batcher.close()
            return result, elapsed

    result, elapsed = run(main())
    assert result == 2
    assert elapsed < 0.5


def test_a_failing_batch_fails_its_callers_and_the_worker_keeps_serving():
    def flaky(items):
        if "boom" in items:
            raise ValueError("boom")
        return [s.upper() for s in items]

    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = MicroBatcher(flaky, pool)
            with pytest.raises(ValueError, match="boom"):
                await batcher.submit("boom")
            ok = await batcher.submit("fine")
            await batcher.close()
            return ok

    assert run(main()) == "FINE"
