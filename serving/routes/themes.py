"""`/v1/themes`: monthly themes for community leads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from models.themes import ThemeParams
from serving import theme_registry
from serving.deps import AppState, LeadCaller, StateDep
from serving.errors import ApiError, documented
from serving.store.theme_tables import ThemeRecord
from serving.theme_runs import NotEnoughMessages, log_run, month_summary, run_month
from serving.theme_schemas import (
    MONTH_PATTERN,
    THEME_ID_PATTERN,
    MonthThemesOut,
    ThemeIdentityOut,
    ThemeMergeIn,
    ThemeRenameIn,
    ThemeRunIn,
    ThemeRunOut,
)

router = APIRouter(prefix="/v1/themes", tags=["themes"], responses=documented(400, 401, 403, 413, 422, 429))


def theme_params(state: AppState) -> ThemeParams:
    """The configured theme parameters."""
    return ThemeParams(word_encoder=state.settings.themes_word_encoder)


def run_and_record(state: AppState, month: str, include_spam: bool) -> ThemeRunOut:
    """Theme a month, commit it, then record it in MLflow."""
    with state.sessions() as session:
        run = run_month(session, month, theme_params(state), include_spam)
        session.commit()
        summary = month_summary(session, month) or {}
        n_themes = len(summary.get("themes", []))
        mlflow_id = log_run(run, MonthThemesOut.model_validate(summary).model_dump(mode="json"), state.settings)
        run.mlflow_run_id = mlflow_id
        session.commit()
        return ThemeRunOut(
            run_id=run.id,
            month=month,
            n_messages=run.n_messages,
            n_excluded=run.n_excluded,
            n_themes=n_themes,
            outlier_share=run.outlier_share,
            mlflow_run_id=mlflow_id,
        )


@router.post("/runs", response_model=ThemeRunOut, status_code=201, responses=documented(409))
async def create_run(body: ThemeRunIn, caller: LeadCaller, state: StateDep) -> ThemeRunOut:
    """Theme a month's stored messages now (lead); the newest run of a month is the one shown."""
    try:
        return await run_in_threadpool(run_and_record, state, body.month, body.include_spam)
    except NotEnoughMessages as e:
        raise ApiError(409, str(e), title="Not enough messages") from e


def _summary(state: AppState, month: str) -> dict[str, Any] | None:
    with state.sessions() as session:
        return month_summary(session, month)


@router.get("/{month}", response_model=MonthThemesOut, responses=documented(404))
async def get_month(
    month: Annotated[str, Path(pattern=MONTH_PATTERN, description="YYYY-MM")], caller: LeadCaller, state: StateDep
) -> Any:
    """A month's themes ranked by size, with status, mixes and quotes (lead)."""
    summary = await run_in_threadpool(_summary, state, month)
    if summary is None:
        raise ApiError(404, f"no themes run for {month} yet: POST /v1/themes/runs")
    return summary


def identity(session: Session, theme: ThemeRecord) -> ThemeIdentityOut:
    """A theme's identity as the API shows it."""
    return ThemeIdentityOut(
        id=theme.id,
        label=theme.name or theme.label,
        name=theme.name,
        auto_label=theme.label,
        first_month=theme.first_month,
        last_month=theme.last_month,
        merged_into=theme.merged_into,
        absorbed=theme_registry.absorbed_ids(session, theme.id),
    )


def _edit(state: AppState, change: Callable[[Session], ThemeRecord]) -> ThemeIdentityOut:
    """Apply a rename or merge and commit it, turning registry refusals into problems."""
    with state.sessions() as session:
        try:
            theme = change(session)
        except theme_registry.UnknownTheme as e:
            raise ApiError(404, str(e)) from e
        except theme_registry.ThemeMerged as e:
            raise ApiError(409, str(e), title="Theme merged") from e
        except ValueError as e:  # merging a theme into itself
            raise ApiError(409, str(e), title="Cannot merge") from e
        session.commit()
        return identity(session, theme)


ThemeIdPath = Annotated[str, Path(pattern=THEME_ID_PATTERN, description="A theme id from GET /v1/themes/{month}.")]


@router.patch("/{theme_id}", response_model=ThemeIdentityOut, responses=documented(404, 409))
async def rename_theme(theme_id: ThemeIdPath, body: ThemeRenameIn, caller: LeadCaller, state: StateDep) -> Any:
    """Name a theme (lead); the name stays while the theme continues, null restores the label."""
    return await run_in_threadpool(_edit, state, lambda s: theme_registry.rename(s, theme_id, body.name))


@router.post("/merge", response_model=ThemeIdentityOut, responses=documented(404, 409))
async def merge_themes(body: ThemeMergeIn, caller: LeadCaller, state: StateDep) -> Any:
    """Merge theme `from` into `into` (lead): past months and later matches count as `into`."""
    return await run_in_threadpool(_edit, state, lambda s: theme_registry.merge(s, body.into, body.from_))
