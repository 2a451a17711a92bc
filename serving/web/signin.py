"""`/signin` and `/signout`: trade an API key for a session cookie, and back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.deps import StateDep
from serving.store.keys import Role
from serving.web.pages import PAGE_HEADERS, page
from serving.web.session import (
    COOKIE,
    HOME,
    WebSession,
    cookie_secure,
    live_caller,
    safe_next,
    same_origin,
    signer_of,
    web_caller,
)

router = APIRouter(include_in_schema=False)
AnyPage = Annotated[WebSession, Depends(web_caller(*Role))]


def _form(request: Request, next_path: str | None, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    ended = request.query_params.get("ended") == "1" and error is None
    context = {"next": safe_next(next_path) or "", "error": error, "ended": ended}
    return page(request, "signin.html", context, status_code=status_code)


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next: str | None = None) -> HTMLResponse:
    """The sign-in form."""
    return _form(request, next)


@router.post("/signin", response_class=HTMLResponse)
def signin(
    request: Request,
    state: StateDep,
    key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    """Check the API key and set the session cookie; the form again, with the reason, when it is refused."""
    if not same_origin(request):
        return _form(request, next, "This sign-in was not sent from this site's own form.", 403)
    verified = state.keys.verify(key.strip()) if key.strip() else None
    # The verifier remembers good keys for a while; a just-revoked key must not get a session.
    caller = live_caller(state.sessions, verified.key_id) if verified is not None else None
    if caller is None:
        return _form(request, next, "That key is unknown or has been revoked.", 401)
    signer = signer_of(request.app)
    target = safe_next(next) or HOME[caller.role]
    response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
    response.set_cookie(
        COOKIE,
        signer.issue(caller.key_id),
        max_age=int(signer.lifetime_seconds),
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, state.settings),
    )
    return response


@router.post("/signout")
def signout(request: Request, state: StateDep, web: AnyPage) -> Response:
    """Delete the session cookie and go back to the sign-in form."""
    response = RedirectResponse("/signin", status_code=303, headers=PAGE_HEADERS)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request, state.settings)
    )
    return response
