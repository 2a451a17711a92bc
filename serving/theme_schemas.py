"""Request and response bodies of the themes API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

# Years 1970-2999: a month whose start or end falls outside what datetime can hold is never valid.
MONTH_PATTERN = r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$"


class ThemeRunIn(BaseModel):
    """Which month to theme."""

    model_config = ConfigDict(extra="forbid")

    month: str = Field(pattern=MONTH_PATTERN, description="The month, as YYYY-MM.")
    include_spam: StrictBool = Field(default=False, description="Theme messages predicted as spam too.")


class ThemeRunOut(BaseModel):
    """A finished themes run."""

    run_id: str
    month: str
    n_messages: int = Field(description="Messages themed.")
    n_excluded: int = Field(description="Messages left out: spam, or embedded by another model version.")
    n_themes: int
    outlier_share: float = Field(description="Share of themed messages that joined no theme.")
    mlflow_run_id: str | None


class Quote(BaseModel):
    """A representative message of a theme."""

    message_id: str
    text: str


class ThemeOut(BaseModel):
    """One theme in one month."""

    id: str = Field(description="Stable across months while the theme continues.")
    label: str = Field(description="The lead's name for the theme if given, else the key-phrase label.")
    auto_label: str
    name: str | None
    keywords: list[str]
    size: int
    share: float = Field(description="Share of the month's themed messages.")
    status: str = Field(description="new, rising, steady, fading, or gone.")
    change_previous: float | None = Field(description="Relative change in share against the previous month.")
    change_baseline: float | None = Field(description="Relative change against the trailing three-month mean.")
    sentiment: dict[str, int]
    intent: dict[str, int]
    urgency: dict[str, int]
    quotes: list[Quote]


class MonthThemesOut(BaseModel):
    """A month's themes, largest first, and the themes of last month that did not come back."""

    month: str
    run_id: str
    created_at: datetime
    n_messages: int
    n_excluded: int
    outlier_share: float
    metrics: dict[str, Any]
    themes: list[ThemeOut]
    gone: list[ThemeOut]
