"""Sign-in for the web pages: a signed session cookie naming an API key id, and the pages' dependency.

The interface every page uses (the review page, the themes page):

    from serving.store.keys import Role
    from serving.web.session import WebSession, web_caller

    LeadPage = Annotated[WebSession, Depends(web_caller(Role.LEAD))]   # admin is always admitted

    @router.get("/themes", response_class=HTMLResponse)
    def themes_page(request: Request, web: LeadPage) -> HTMLResponse: ...

- `web_caller(*roles)` returns a dependency giving a `WebSession`: `caller` (`serving.auth.Caller`) and
  `csrf_token`. No, bad, expired or revoked session: a 303 redirect to `/signin?next=<this page>`.
  Signed in with another role: a 403 page. On POST/PUT/PATCH/DELETE it also refuses (403) a request
  whose form field `csrf_token` or header `X-CSRF-Token` is not the session's `csrf_token`, or whose
  `Origin` header names another site. With `TIDINGS_AUTH_DISABLED` the development admin is signed in.
- Forms carry `<input type="hidden" name="csrf_token" value="{{ web.csrf_token }}">`.

The cookie (`tidings_session`) holds `<payload>.<mac>`: the key id and an expiry, HMAC-SHA256-signed
with `TIDINGS_SESSION_SECRET` (a random per-process key when unset), never the key itself. It is
HttpOnly and SameSite=Lax, Secure per `TIDINGS_SESSION_COOKIE_SECURE`. Every request re-reads the
key by id, so revoking a key ends its sessions at once. Signing out deletes the cookie; a copy of the
cookie taken before then stays valid until it expires unless the key is revoked or the secret changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from data.settings import Settings
from serving.auth import DEV_CALLER_ID, Caller
from serving.deps import AppState, StateDep
from serving.store.keys import Role
from serving.store.tables import ApiKeyRecord

COOKIE = "tidings_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where a sign-in without `next` lands, by role.
HOME = {Role.LEAD: "/themes", Role.REVIEW: "/review", Role.ADMIN: "/review", Role.CLASSIFY: "/review"}


@dataclass(frozen=True)
class WebSession:
    """The signed-in caller of a page and the token its forms must send back."""

    caller: Caller
    csrf_token: str


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in form, to come back to `next` afterwards."""

    def __init__(self, next_path: str, ended: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.ended = ended


class PageForbidden(Exception):
    """Signed in, but not allowed: shown as a 403 page."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and checks session tokens and derives each session's CSRF token."""

    def __init__(self, secret: bytes, lifetime_seconds: float) -> None:
        self._secret = secret
        self.lifetime_seconds = lifetime_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionSigner:
        """The configured secret, or a random one for this process."""
        secret = settings.session_secret
        key = secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
        return cls(key, settings.session_hours * 3600)

    def _mac(self, purpose: bytes, text: str) -> str:
        return _b64(hmac.new(self._secret, purpose + b"|" + text.encode("ascii"), hashlib.sha256).digest())

    def issue(self, key_id: str, now: float | None = None) -> str:
        """A token naming `key_id`, valid for the configured lifetime."""
        expires = int((now if now is not None else time.time()) + self.lifetime_seconds)
        payload = _b64(json.dumps({"k": key_id, "e": expires, "n": secrets.token_hex(8)}).encode())
        return f"{payload}.{self._mac(b'session', payload)}"

    def key_id(self, token: str, now: float | None = None) -> str | None:
        """The key id a genuine, unexpired token names; None otherwise."""
        payload, _, mac = token.partition(".")
        if not payload.isascii() or not mac.isascii() or not hmac.compare_digest(mac, self._mac(b"session", payload)):
            return None
        try:
            claims = json.loads(_unb64(payload))
        except ValueError:
            return None
        if not isinstance(claims, dict) or not isinstance(claims.get("k"), str) or not isinstance(claims.get("e"), int):
            return None
        if claims["e"] <= (now if now is not None else time.time()):
            return None
        return str(claims["k"])

    def csrf_token(self, token: str) -> str:
        """The CSRF token bound to one session token."""
        return self._mac(b"csrf", token)


def signer_of(app: FastAPI) -> SessionSigner:
    """The app's signer (set by `serving.web.install`)."""
    signer: SessionSigner = app.state.web_signer
    return signer


def live_caller(sessions: sessionmaker[Session], key_id: str) -> Caller | None:
    """The caller for a key id, or None when no such key exists or it was revoked."""
    with sessions() as session:
        record = session.get(ApiKeyRecord, key_id)
        if record is None or record.revoked_at is not None:
            return None
        return Caller(record.id, Role(record.role), record.name)


def safe_next(value: str | None) -> str | None:
    """`value` when it is a path on this site (so sign-in cannot redirect elsewhere), else None."""
    if not value or not value.isprintable() or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return None
    return value


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site (no `Origin` header: True)."""
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def cookie_secure(request: Request, settings: Settings) -> bool:
    """Whether to mark the session cookie Secure."""
    if settings.session_cookie_secure is not None:
        return settings.session_cookie_secure
    return request.url.scheme == "https"


def _coming_back_to(request: Request) -> str:
    if request.method in SAFE_METHODS:
        query = f"?{request.url.query}" if request.url.query else ""
        return request.url.path + query
    # After signing in, a form's target is no page to return to: go back to the page it sits on.
    return "/" + request.url.path.strip("/").split("/")[0]


async def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not same_origin(request) or sent is None or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageForbidden("This form was not sent from a current Tidings page. Reload the page and try again.")


def web_caller(*roles: Role) -> Callable[[Request, AppState], Awaitable[WebSession]]:
    """A page dependency admitting signed-in keys with one of `roles` (admin is always admitted)."""
    allowed = frozenset(roles)

    async def page_caller(request: Request, state: StateDep) -> WebSession:
        signer = signer_of(request.app)
        if state.settings.auth_disabled:
            caller = Caller(DEV_CALLER_ID, Role.ADMIN, "development mode")
            token = DEV_CALLER_ID
        else:
            token = request.cookies.get(COOKIE, "")
            key_id = signer.key_id(token) if token else None
            found = await run_in_threadpool(live_caller, state.sessions, key_id) if key_id else None
            if found is None:
                raise SignInRequired(_coming_back_to(request), ended=bool(token))
            caller = found
        web = WebSession(caller, signer.csrf_token(token))
        if request.method not in SAFE_METHODS:
            await _check_csrf(request, web.csrf_token)
        if not caller.may(allowed):
            names = ", ".join(sorted(r.value for r in allowed | {Role.ADMIN}))
            raise PageForbidden(f"A {caller.role.value} key may not open this page; it needs one of: {names}.")
        request.state.caller = caller
        return web

    return page_caller
