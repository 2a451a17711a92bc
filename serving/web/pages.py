"""What every web page shares: the templates, and the pages shown for sign-in redirects and refusals."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from serving.web.session import PageForbidden, SignInRequired

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
# Pages hold a signed-in person's work: never cache them, never frame them.
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}


def page(request: Request, name: str, context: Mapping[str, object], status_code: int = 200) -> HTMLResponse:
    """Render a template as a page with the shared security headers."""
    return templates.TemplateResponse(request, name, dict(context), status_code=status_code, headers=PAGE_HEADERS)


async def to_signin(request: Request, exc: Exception) -> Response:
    """Send a browser without a valid session to the sign-in form (303), remembering where it was going."""
    assert isinstance(exc, SignInRequired)
    query = {"next": exc.next_path, **({"ended": "1"} if exc.ended else {})}
    return RedirectResponse(f"/signin?{urlencode(query)}", status_code=303, headers=PAGE_HEADERS)


async def forbidden(request: Request, exc: Exception) -> Response:
    """The 403 page."""
    assert isinstance(exc, PageForbidden)
    return page(request, "problem.html", {"title": "Not allowed", "detail": exc.detail}, status_code=403)
