"""`/v1/themes`: monthly themes for community leads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from models.themes import ThemeParams
from serving.deps import AppState, LeadCaller, StateDep
from serving.errors import ApiError, documented
from serving.theme_runs import NotEnoughMessages, log_run, month_summary, run_month
from serving.theme_schemas import MONTH_PATTERN, MonthThemesOut, ThemeRunIn, ThemeRunOut

router = APIRouter(prefix="/v1/themes", tags=["themes"], responses=documented(400, 401, 403, 413, 422))


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
