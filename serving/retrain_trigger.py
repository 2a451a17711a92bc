"""Retraining after N submitted reviews: a check after each review request, a retrain in a background thread.

With `TIDINGS_RETRAIN_AFTER_REVIEWS` = N > 0, every successful `POST /v1/reviews` (or review page
decision, `POST /review/decide`) checks how many reviews were submitted since the last retrain
(`retrain_runs`); at N or more, a retrain starts in a daemon thread unless one is already running in
this process (`RETRAIN_LOCK`, shared with `POST /v1/admin/retrain`). A promoted challenger is
loaded for serving at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from data.settings import Settings
from serving.retraining import RETRAIN_LOCK, RetrainFunction, retrain_from_store
from serving.store.retrain_runs import submitted_since_last_retrain
from training.retrain import NoReviews, retrain

log = logging.getLogger("tidings.retraining")


class RetrainTrigger:
    """Starts one background retrain when enough reviews were submitted since the last retrain."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        on_promoted: Callable[[], object] | None = None,
        train: RetrainFunction | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.on_promoted = on_promoted
        self.train = train
        self.thread: threading.Thread | None = None

    @property
    def threshold(self) -> int:
        """Submitted reviews that start a retrain; 0 is off."""
        return self.settings.retrain_after_reviews

    def check(self) -> bool:
        """Start a retrain if the threshold is reached and none is running; True when one was started."""
        if self.threshold <= 0 or RETRAIN_LOCK.locked():
            return False
        with self.sessions() as session:
            waiting = submitted_since_last_retrain(session)
        if waiting < self.threshold or not RETRAIN_LOCK.acquire(blocking=False):
            return False
        log.info("%d reviews submitted since the last retrain (threshold %d): retraining", waiting, self.threshold)
        self.thread = threading.Thread(target=self._run, name="retrain-after-reviews", daemon=True)
        self.thread.start()
        return True

    def _run(self) -> None:
        try:
            result = retrain_from_store(self.settings, started_by="reviews", train=self.train or retrain)
            log.info("retrain after reviews: version %s, %s", result.version, result.reason)
            if result.promoted and self.on_promoted is not None:
                self.on_promoted()
        except NoReviews as e:
            log.warning("retrain after reviews skipped: %s", e)
        except Exception:
            log.exception("retrain after reviews failed")
        finally:
            RETRAIN_LOCK.release()


REVIEW_PATHS = ("/v1/reviews", "/review/decide")


class RetrainAfterReviews:
    """ASGI middleware: after a successful review request, let the app's `RetrainTrigger` check the count."""

    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = REVIEW_PATHS) -> None:
        self.app = app
        self.paths = paths
        self.trigger: RetrainTrigger | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watched)
        # The review page answers a saved decision with a 303 redirect, the API with 200.
        if 200 <= status < 400:
            trigger = self._trigger(scope)
            if trigger is not None and trigger.threshold > 0:
                await run_in_threadpool(trigger.check)

    def _trigger(self, scope: Scope) -> RetrainTrigger | None:
        state = getattr(scope["app"].state, "tidings", None)
        if state is None:
            return None
        if self.trigger is None or self.trigger.sessions is not state.sessions:
            self.trigger = RetrainTrigger(state.settings, state.sessions, on_promoted=state.host.refresh)
        return self.trigger
