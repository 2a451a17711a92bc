"""Server-rendered web pages for people: sign-in, the review page (and the themes page)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from data.settings import Settings
from serving.web import pages, review_page, signin, themes_page
from serving.web.session import PageForbidden, SessionSigner, SignInRequired


def install(app: FastAPI, settings: Settings) -> None:
    """Add the pages, their static files, the session signer and the redirect/refusal handlers to `app`."""
    app.state.web_signer = SessionSigner.from_settings(settings)
    app.add_exception_handler(SignInRequired, pages.to_signin)
    app.add_exception_handler(PageForbidden, pages.forbidden)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    app.include_router(signin.router)
    app.include_router(review_page.router)
    app.include_router(themes_page.router)
