"""Micro-batching: concurrent single-message requests share one encoder pass."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """Collects items submitted concurrently and runs them through `run_batch` together.

    There is no waiting window: an item that arrives while the worker is idle runs at once,
    alone; items that arrive while a batch is running form the next one. So a lone request pays
    no extra latency, and under load the batch size grows with the queue.
    """

    def __init__(self, run_batch: Callable[[Sequence[T]], Sequence[R]], executor: Executor, max_batch: int = 64):
        self._run_batch = run_batch
        self._executor = executor
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        """Queue one item and wait for its result (or the batch's exception)."""
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="micro-batcher")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._resolve(loop, batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _resolve(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        # A caller that gave up (client disconnected) no longer needs its slot.
        live = [(item, fut) for item, fut in batch if not fut.done()]
        if not live:
            return
        try:
            results = await loop.run_in_executor(self._executor, self._run_batch, [item for item, _ in live])
        except Exception as e:  # the batch's callers get the error; the worker keeps serving
            for _, fut in live:
                if not fut.done():
                    fut.set_exception(e)
            return
        self.batches += 1
        self.items += len(live)
        for (_, fut), result in zip(live, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    async def close(self) -> None:
        """Stop the worker once every queued item has its answer."""
        await self._queue.join()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
