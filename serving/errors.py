"""Every error the API returns is an RFC 9457 problem detail naming what was wrong."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.schemas import FieldError, Problem

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("tidings.serving")


WHEN = {
    400: "Malformed JSON or an undecodable body",
    401: "Missing, unknown or revoked API key",
    403: "The key's role may not do this",
    404: "Nothing is stored under the id or name given",
    409: "The stored data does not allow it yet (e.g. too few messages in the month)",
    413: "Body too large",
    422: "Invalid input; `errors` names each field",
    429: "Too many requests for this API key; see Retry-After",
    500: "Unexpected error (logged)",
    503: "No model loaded yet, or the store is unavailable; see Retry-After",
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for problem details with these status codes."""
    schema = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {code: {"description": WHEN[code], "content": {PROBLEM_JSON: schema}} for code in codes}


class ApiError(Exception):
    """An error a route raises on purpose, with its status and plain-words detail."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: Mapping[str, str] | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] = (),
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.title = title
        self.errors = list(errors)


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[FieldError] = (),
    instance: str | None = None,
) -> Problem:
    """A problem body; the title defaults to the status phrase."""
    return Problem(
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=list(errors),
    )


def problem_response(body: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """Serve a problem with its media type."""
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=body.status,
        headers=dict(headers or {}),
        media_type=PROBLEM_JSON,
    )


def field_errors(errors: Iterable[Mapping[str, Any]], prefix: Sequence[str | int] = ()) -> list[FieldError]:
    """Pydantic error dicts to `{field, message}`, dropping FastAPI's leading `body`."""
    out = []
    for e in errors:
        loc = [str(p) for p in (*prefix, *e.get("loc", ())) if p != "body"]
        message = str(e.get("msg", "invalid"))
        if e.get("type") == "extra_forbidden":
            message = "unknown field"
        out.append(FieldError(field=".".join(loc) or "body", message=message))
    return out


def validation_problem(error: ValidationError, prefix: Sequence[str | int] = ()) -> Problem:
    """A 422 problem for a model that failed validation (used per item in batches)."""
    errors = field_errors(error.errors(include_url=False), prefix)
    return problem(422, _summary(errors), title="Invalid input", errors=errors)


def _summary(errors: Sequence[FieldError]) -> str:
    if not errors:
        return "the request body is invalid"
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first.field}: {first.message}{more}"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into a problem detail."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in raw):
            detail = next(str(e.get("ctx", {}).get("error", "")) for e in raw if e.get("type") == "json_invalid")
            body = problem(
                400,
                f"the body is not valid JSON: {detail}".rstrip(": "),
                title="Malformed JSON",
                errors=[FieldError(field="body", message="not valid JSON")],
                instance=request.url.path,
            )
            return problem_response(body)
        errors = field_errors(raw)
        return problem_response(
            problem(422, _summary(errors), title="Invalid input", errors=errors, instance=request.url.path)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
        if exc.status_code == 400 and "parsing the body" in detail:
            # FastAPI's words when the body is not decodable, e.g. invalid UTF-8.
            detail = "the body could not be decoded: send UTF-8 JSON"
        body = problem(exc.status_code, detail, instance=request.url.path)
        return problem_response(body, exc.headers)

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return problem_response(
            problem(exc.status, exc.detail, title=exc.title, errors=exc.errors, instance=request.url.path),
            exc.headers,
        )

    @app.exception_handler(OperationalError)
    async def _store_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("message store unavailable: %s", type(exc.orig).__name__ if exc.orig else exc)
        body = problem(503, "the message store is unavailable; retry shortly", instance=request.url.path)
        return problem_response(body, {"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(
            problem(500, "an unexpected error occurred; it has been logged", instance=request.url.path)
        )
