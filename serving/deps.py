"""Named dependencies the routes declare: settings, the store, the model, the caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from data.settings import Settings
from serving.auth import DEV_CALLER_ID, Caller, KeyVerifier
from serving.classification import Classifier
from serving.errors import ApiError
from serving.metrics import ServiceMetrics
from serving.model_host import ModelHost
from serving.rate_limits import RateLimiter
from serving.store.keys import Role


@dataclass
class AppState:
    """What the app holds for its lifetime; built in the lifespan, never at import."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    host: ModelHost
    metrics: ServiceMetrics
    keys: KeyVerifier
    classifier: Classifier
    rate_limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.rate_limiter = RateLimiter.from_settings(self.settings)


def get_state(request: Request) -> AppState:
    """The app's state."""
    state: AppState = request.app.state.tidings
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A store session for one request, committed by the route's own functions."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require(*roles: Role) -> Callable[[Request, AppState], Caller]:
    """A dependency admitting keys with one of `roles` (admin is always admitted), within their rate limit."""
    allowed = frozenset(roles)

    def caller(request: Request, state: StateDep) -> Caller:
        if state.settings.auth_disabled:
            return state.rate_limiter.admit(Caller(DEV_CALLER_ID, Role.ADMIN, "development mode"))
        token = _bearer(request)
        unauthorised = {"WWW-Authenticate": "Bearer"}
        if token is None:
            raise ApiError(401, "send an API key as `Authorization: Bearer <key>`", unauthorised)
        found = state.keys.verify(token)
        if found is None:
            raise ApiError(401, "unknown or revoked API key", unauthorised)
        if not found.may(allowed):
            names = ", ".join(sorted(r.value for r in allowed | {Role.ADMIN}))
            raise ApiError(403, f"a {found.role.value} key may not do this; it needs one of: {names}")
        request.state.caller = found
        return state.rate_limiter.admit(found)

    return caller


ClassifyCaller = Annotated[Caller, Depends(require(Role.CLASSIFY))]
ReviewCaller = Annotated[Caller, Depends(require(Role.REVIEW))]
AdminCaller = Annotated[Caller, Depends(require())]
AnyCaller = Annotated[Caller, Depends(require(Role.CLASSIFY, Role.REVIEW, Role.LEAD))]
LeadCaller = Annotated[Caller, Depends(require(Role.LEAD))]


def get_host(state: StateDep) -> ModelHost:
    """The model host."""
    return state.host


HostDep = Annotated[ModelHost, Depends(get_host)]
