"""Request and response bodies of the themes API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

THEME_ID_PATTERN = r"^[0-9a-f]{32}$"
ThemeId = Annotated[str, StringConstraints(pattern=THEME_ID_PATTERN)]
# Some character that is not a space, and no control characters (PostgreSQL refuses NUL in text).
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
ThemeName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NAME_PATTERN)]
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


class RepeatedQuestionOut(BaseModel):
    """A question people keep asking within one theme: one phrasing, how often, and examples."""

    theme_id: str
    text: str = Field(description="The most central phrasing (the medoid of the near-duplicates).")
    message_id: str = Field(description="The message with that phrasing.")
    count: int = Field(description="Messages asking it (cosine similarity of embeddings at least 0.8).")
    message_ids: list[str] = Field(description="Up to five of them, the medoid first.")


class MonthThemesOut(BaseModel):
    """A month's themes, largest first, the themes of last month that did not come back, and FAQ candidates."""

    month: str
    run_id: str
    created_at: datetime
    n_messages: int
    n_excluded: int
    outlier_share: float
    metrics: dict[str, Any]
    themes: list[ThemeOut]
    gone: list[ThemeOut]
    questions: list[RepeatedQuestionOut] = Field(
        default=[], description="Most repeated questions in support- and sales-heavy themes, most asked first."
    )


class ThemeRenameIn(BaseModel):
    """A lead's name for a theme; null gives the key-phrase label back."""

    model_config = ConfigDict(extra="forbid")

    name: ThemeName | None = Field(
        description="1-200 characters (trimmed), kept in later months while the theme continues."
    )


class ThemeMergeIn(BaseModel):
    """Merge theme `from` into theme `into`."""

    model_config = ConfigDict(extra="forbid")

    into: ThemeId = Field(description="The theme that survives, id and name.")
    from_: ThemeId = Field(alias="from", description="The theme absorbed; its months count as `into`'s.")


class ThemeIdentityOut(BaseModel):
    """A theme's identity across months."""

    id: str
    label: str = Field(description="The lead's name if given, else the latest key-phrase label.")
    name: str | None
    auto_label: str
    first_month: str
    last_month: str
    merged_into: str | None = Field(description="The theme this one was merged into, if any.")
    absorbed: list[str] = Field(description="Themes merged into this one.")
