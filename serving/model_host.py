"""The champion this process serves, loaded from the registry and swapped live when it moves."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from data.settings import Settings
from models.classifier import MessageClassifier
from models.prediction import Prediction
from serving.batching import MicroBatcher
from training.registry import CHAMPION, ModelRef, download_classifier, model_by_alias

log = logging.getLogger("tidings.serving")


@dataclass(frozen=True)
class Classified:
    """One message's prediction and the embedding it was made from."""

    prediction: Prediction
    embedding: np.ndarray


@dataclass
class ServingModel:
    """A loaded model version with its own inference thread and micro-batcher.

    A request holds on to the `ServingModel` it started with, so a swap never changes the model
    under a request in flight.
    """

    ref: ModelRef
    classifier: MessageClassifier
    backend: str
    backend_reason: str
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # One inference thread per model: the encoder already uses every core it is given.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-v{self.ref.version}")
        self.batcher: MicroBatcher[str, Classified] = MicroBatcher(self.classify_now, self.executor)
        self.in_flight = 0

    @property
    def encoder_key(self) -> str:
        """Names the embedding space, so stored embeddings are only compared within one."""
        return f"{self.ref.name}/{self.ref.version}"

    def classify_now(self, texts: Sequence[str]) -> list[Classified]:
        """Classify on the calling thread (use `classify` from async code)."""
        embeddings = self.classifier.embed(texts)
        predictions = self.classifier.predict_from_embeddings(texts, embeddings)
        return [Classified(p, e) for p, e in zip(predictions, embeddings, strict=True)]

    async def classify(self, text: str) -> Classified:
        """One message, micro-batched with whatever else is waiting."""
        return await self.batcher.submit(text)

    async def classify_many(self, texts: Sequence[str]) -> list[Classified]:
        """A batch of messages in one pass on this model's inference thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.classify_now, list(texts))

    async def close(self) -> None:
        """Wait for the requests holding this model, finish queued work, release the thread."""
        while self.in_flight:
            await asyncio.sleep(0.01)
        await self.batcher.close()
        self.executor.shutdown(wait=True)


def validation_texts() -> list[str]:
    """Texts the ONNX export is checked against: the seed corpus's held-out split (shipped in the repo)."""
    from data.seed import load_seed

    return [item.message.text for item in load_seed("eval").items]


def load_serving_model(ref: ModelRef, settings: Settings) -> ServingModel:
    """Download and load a version, preparing the ONNX int8 fast path unless torch is forced."""
    from models.onnx_encoder import prepare_fast_path

    directory = download_classifier(ref, settings)
    torch_model = MessageClassifier.load(directory)
    if settings.serving_backend == "torch":
        _torch_threads(settings.threads)
        return ServingModel(ref, torch_model, "torch", "torch forced by TIDINGS_SERVING_BACKEND")
    forced = settings.serving_backend != "auto"
    fast = prepare_fast_path(
        torch_model,
        directory,
        validation_texts(),
        min_agreement=0.0 if forced else 0.99,
        candidates=(settings.serving_backend,) if forced else ("onnx-int8", "onnx-fp32"),
    )
    log_fast_path(ref, fast.backend, fast.attempts)
    # With ONNX serving, torch only runs the small heads; its spinning thread pool would contend with
    # ONNX Runtime's for the same cores (measured: 8.0 ms per message with 2 torch threads, 5.1 with 1).
    _torch_threads(settings.threads if fast.backend == "torch" else 1)
    return ServingModel(ref, fast.model, fast.backend, fast.reason)


def _torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def log_fast_path(ref: ModelRef, backend: str, attempts: Sequence[dict[str, Any]]) -> None:
    """Record on the version's training run which backend serves it and how well each export agreed."""
    if not ref.run_id or not attempts:
        return
    try:
        from mlflow import MlflowClient

        client = MlflowClient()
        client.set_tag(ref.run_id, "serving.backend", backend)
        for attempt in attempts:
            name = attempt["backend"].replace("-", "_")
            for head, share in attempt.get("heads", {}).items():
                client.log_metric(ref.run_id, f"serving.{name}.agreement.{head}", share)
            client.set_tag(ref.run_id, f"serving.{name}.verdict", attempt.get("reason", "")[:500])
    except Exception:  # the record is for people; serving goes on without it
        log.warning("could not log the fast-path check to run %s", ref.run_id, exc_info=True)


# MLflow's client retries a failed call 7 times with exponential backoff: about 4 minutes before a
# dead tracking server is reported. Serving must notice within seconds; operators can still override.
REGISTRY_CALL_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


def bound_registry_calls() -> None:
    """Make registry calls in this process fail within seconds (unless the MLflow variables are set)."""
    for name, value in REGISTRY_CALL_LIMITS.items():
        os.environ.setdefault(name, value)


@dataclass(frozen=True)
class RegistryStatus:
    """What the last registry check found."""

    reachable: bool
    checked_at: datetime | None
    error: str | None


class NoModel(RuntimeError):
    """No model is loaded yet (or every load so far failed)."""


class ModelHost:
    """Holds the serving model; loads a new champion beside the old one and swaps atomically."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._current: ServingModel | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.registry_reachable = True
        self.registry_checked_at: datetime | None = None
        self._registry_error: str | None = None
        self._retired: list[ServingModel] = []
        bound_registry_calls()

    @property
    def current(self) -> ServingModel | None:
        """The model new requests use."""
        return self._current

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[ServingModel]:
        """The current model, kept alive until the block ends even if a swap happens meanwhile."""
        model = self._current
        if model is None:
            raise NoModel(self.last_error or "no model loaded yet")
        model.in_flight += 1
        try:
            yield model
        finally:
            model.in_flight -= 1

    @property
    def registry(self) -> RegistryStatus:
        """Whether the registry answered the last check, when that was, and why it failed."""
        return RegistryStatus(self.registry_reachable, self.registry_checked_at, self._registry_error)

    def record_registry_check(self, error: Exception | None) -> None:
        """Note the outcome of a registry call; recovery clears the outage from `last_error`."""
        self.registry_checked_at = datetime.now(UTC)
        self.registry_reachable = error is None
        if error is None:
            if self.last_error is not None and self.last_error == self._registry_error:
                self.last_error = None
            self._registry_error = None
            return
        self._registry_error = self.last_error = f"registry unreachable: {error}"
        log.warning("registry check failed: %s", error)

    def champion_ref(self) -> ModelRef | None:
        """The registry's champion now; None when there is none or the registry is unreachable."""
        try:
            ref = model_by_alias(CHAMPION, self.settings)
        except Exception as e:  # a registry outage must not take serving down
            self.record_registry_check(e)
            return None
        self.record_registry_check(None)
        return ref

    def refresh(self) -> bool:
        """Load the champion if it differs from the one served; True when a swap happened.

        Blocking: call it from a worker thread. A version that fails to load is refused and the
        current model keeps serving; the failure is kept in `last_error`.
        """
        with self._lock:
            ref = self.champion_ref()
            if ref is None:
                if self.registry_reachable and self._current is None:
                    self.last_error = "the registry has no champion yet: run `tidings bootstrap`"
                return False
            if self._current is not None and self._current.ref.version == ref.version:
                self.last_error = None  # e.g. a refused version was rolled back: nothing is wrong now
                return False
            try:
                model = load_serving_model(ref, self.settings)
            except Exception as e:
                self.last_error = f"champion {ref.name} v{ref.version} could not be loaded: {e}"
                log.error("refused %s v%s: %s", ref.name, ref.version, e)
                return False
            previous, self._current = self._current, model
            self.last_error = None
            if previous is not None:
                self._retired.append(previous)
            log.info("serving %s v%s on %s (%s)", ref.name, ref.version, model.backend, model.backend_reason)
            return True

    async def refresh_async(self) -> bool:
        """`refresh` off the event loop, then release models no longer served."""
        swapped = await asyncio.to_thread(self.refresh)
        await self._release_retired()
        return swapped

    async def _release_retired(self) -> None:
        retired, self._retired = self._retired, []
        for model in retired:
            await model.close()

    async def close(self) -> None:
        """Release every model."""
        await self._release_retired()
        if self._current is not None:
            await self._current.close()
            self._current = None
