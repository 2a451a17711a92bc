"""Who is calling: API keys with roles, checked against their stored hashes."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from serving.store.keys import Role, authenticate

DEV_CALLER_ID = "development"


@dataclass(frozen=True)
class Caller:
    """An authenticated API key (or the development caller when keys are off)."""

    key_id: str
    role: Role
    name: str | None = None

    def may(self, roles: frozenset[Role]) -> bool:
        """Admin may do everything; every other role only what a route names."""
        return self.role is Role.ADMIN or self.role in roles


class KeyVerifier:
    """Checks bearer keys, remembering good ones briefly so a request costs no database read.

    A revoked key stops working within `ttl` seconds.
    """

    def __init__(self, sessions: sessionmaker[Session], ttl: float = 30.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._known: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    def verify(self, plaintext: str) -> Caller | None:
        """The caller owning this key, or None for an unknown or revoked key."""
        digest = hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._known.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self._sessions() as session:
            record = authenticate(session, plaintext)
            caller = Caller(str(record.id), Role(record.role), record.name) if record is not None else None
            session.commit()
        with self._lock:
            if caller is None:
                self._known.pop(digest, None)
            else:
                self._known[digest] = (caller, now + self._ttl)
        return caller
