"""Per-key rate limits: a token bucket per API key, held in this process.

Each key's bucket holds one minute's worth of requests and refills continuously, so a key may
burst up to its per-minute limit and then goes at the limit's pace. A batch call is one request:
its size is already capped (512 messages), and counting messages would make one full batch use a
whole minute of a modest limit. With several worker processes each keeps its own buckets, so the
effective limit is the setting times the number of workers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

from data.settings import Settings
from serving.auth import Caller
from serving.errors import ApiError


class RateLimiter:
    """Admits or refuses each caller's requests against its per-minute limit (0 = unlimited)."""

    def __init__(
        self,
        per_minute: int,
        overrides: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.overrides = dict(overrides or {})
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        """The limiter `rate_limit_per_minute` and `rate_limits` describe."""
        return cls(settings.rate_limit_per_minute, settings.rate_limits)

    def limit_for(self, caller: Caller) -> int:
        """Requests per minute for this caller: its key's override, else its role's, else the default."""
        if caller.key_id in self.overrides:
            return self.overrides[caller.key_id]
        return self.overrides.get(caller.role.value, self.per_minute)

    def wait_seconds(self, caller: Caller) -> float:
        """Take one request from the caller's bucket: 0 when admitted, else the seconds until one is free."""
        limit = self.limit_for(caller)
        if limit <= 0:
            return 0.0
        per_second = limit / 60
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(caller.key_id, (float(limit), now))
            tokens = min(float(limit), tokens + (now - then) * per_second)
            if tokens >= 1:
                self._buckets[caller.key_id] = (tokens - 1, now)
                return 0.0
            self._buckets[caller.key_id] = (tokens, now)
        return (1 - tokens) / per_second

    def admit(self, caller: Caller) -> Caller:
        """The caller, when its bucket has a request left; else a 429 problem with Retry-After."""
        wait = self.wait_seconds(caller)
        if wait > 0:
            limit = self.limit_for(caller)
            raise ApiError(
                429,
                f"this key may make {limit} requests a minute; retry in {math.ceil(wait)} s",
                {"Retry-After": str(math.ceil(wait))},
            )
        return caller
