"""The themes page for leads: a month's digest, the same sections as the emailed report."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.deps import SessionDep
from serving.store.keys import Role
from serving.store.theme_tables import ThemeRunRecord
from serving.theme_digest import build_digest
from serving.theme_report import render_digest, render_html, render_markdown, styles
from serving.theme_schemas import MONTH_PATTERN
from serving.web.pages import PAGE_HEADERS, page
from serving.web.session import WebSession, web_caller

router = APIRouter(include_in_schema=False)
LeadPage = Annotated[WebSession, Depends(web_caller(Role.LEAD))]
MONTH = re.compile(MONTH_PATTERN)


def themed_months(session: Session) -> list[str]:
    """Every month with a themes run, oldest first."""
    return sorted(set(session.scalars(select(ThemeRunRecord.month).distinct())))


@router.get("/themes", response_class=HTMLResponse)
def latest_themes(request: Request, web: LeadPage, session: SessionDep) -> Response:
    """The newest themed month, or how to theme one."""
    months = themed_months(session)
    if months:
        return RedirectResponse(f"/themes/{months[-1]}", status_code=303, headers=PAGE_HEADERS)
    detail = "No month has been themed yet: run `tidings themes run --month YYYY-MM` or POST /v1/themes/runs."
    return page(request, "problem.html", {"web": web, "title": "No themes yet", "detail": detail, "back": "/"}, 404)


@router.get("/themes/{month}", response_class=HTMLResponse)
def month_themes(month: str, request: Request, web: LeadPage, session: SessionDep) -> HTMLResponse:
    """A month's themes: pain points, wins, emerging themes, volume, sentiment, quotes and FAQ candidates."""
    months = themed_months(session)
    digest = build_digest(session, month) if MONTH.match(month) else None
    if digest is None:
        detail = f"No themes run for {month}." + (f" Themed months: {', '.join(months)}." if months else "")
        return page(
            request, "problem.html", {"web": web, "title": "No themes", "detail": detail, "back": "/themes"}, 404
        )
    at = months.index(month)
    context = {
        "web": web,
        "month": month,
        "months": months,
        "previous": months[at - 1] if at > 0 else None,
        "next": months[at + 1] if at + 1 < len(months) else None,
        "digest_html": render_digest(digest),
        "styles": styles(),
    }
    return page(request, "themes.html", context)


@router.get("/themes/{month}/report.{kind}")
def month_report(month: str, kind: str, web: LeadPage, session: SessionDep) -> Response:
    """The month's report as a file to mail: `report.html` or `report.md`."""
    digest = build_digest(session, month) if MONTH.match(month) and kind in ("html", "md") else None
    if digest is None:
        return Response(
            f"no {kind} report for {month}\n", status_code=404, media_type="text/plain", headers=PAGE_HEADERS
        )
    body, media = (render_html(digest), "text/html") if kind == "html" else (render_markdown(digest), "text/markdown")
    disposition = {"Content-Disposition": f'attachment; filename="themes-{month}.{kind}"'}
    return Response(body, media_type=f"{media}; charset=utf-8", headers={**PAGE_HEADERS, **disposition})
