"""Runtime settings shared by every package, read from the environment and an optional `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every setting Tidings reads; each can be set as `TIDINGS_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="TIDINGS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=PROJECT_ROOT / "var",
        description="Where Tidings keeps its own state: the embedded MLflow store, caches, reports.",
    )
    corpora_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "data",
        description="Directory holding the public labelled corpora (never committed to the repo).",
    )
    mlflow_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; empty means a SQLite store under data_dir.",
    )
    registry_uri: str | None = Field(default=None, description="MLflow registry URI; empty means the tracking URI.")
    model_name: str = Field(default="tidings-classifier", description="Registered model name in the MLflow registry.")
    experiment: str = Field(default="tidings", description="MLflow experiment for training runs.")
    default_config: Path = Field(
        default=PROJECT_ROOT / "training" / "configs" / "default.yaml",
        description="Training config used when the registry has no champion yet.",
    )
    encoder: str | None = Field(
        default=None,
        description="Override the encoder named in training configs, e.g. 'minilm-l6.v1' or "
        "'sentence-transformers:<model name or path>'.",
    )
    threads: int = Field(default=2, ge=1, description="Torch CPU threads.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the message store, e.g. 'postgresql+psycopg://user@host/db'; "
        "empty means a SQLite file under data_dir.",
    )
    auth_disabled: bool = Field(
        default=False,
        description="Development mode: serve without API keys (every caller is admin). Off unless set.",
    )
    serving_backend: str = Field(
        default="auto",
        pattern="^(auto|onnx-int8|onnx-fp32|torch)$",
        description="'auto' serves the ONNX int8 export if its labels agree with torch on >= 99% of the "
        "validation set, else the fp32 export if that agrees, else torch; 'onnx-int8', 'onnx-fp32' or "
        "'torch' force one (for benchmarks).",
    )
    themes_word_encoder: str = Field(
        default="minilm-l6.v1",
        description="Encoder for the themes' key-phrase representations; 'none' uses c-TF-IDF words only.",
    )
    registry_poll_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often the API checks the registry's champion alias; 0 turns the check off.",
    )
    review_sample_rate: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Share of confident predictions queued for review anyway, as quality control "
        "(chosen by a hash of the message id, so the same message is always in or out).",
    )
    review_low_margin: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="A stored message is queued for review when any head's top-two probability margin is below this.",
    )
    review_second_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of queued messages routed to a second, different reviewer (for inter-reviewer agreement).",
    )
    review_claim_seconds: int = Field(
        default=600,
        ge=1,
        description="How long a reviewer's claim on queued messages lasts before others may claim them.",
    )
    redact_stored_text: bool = Field(
        default=True,
        description="Replace e-mail addresses, phone numbers, card numbers and street addresses in message "
        "text with [EMAIL], [PHONE], [CARD], [ADDRESS] before storing it (classification sees the original).",
    )
    redact_exported_text: bool = Field(
        default=True,
        description="Apply the same redaction to message text in review exports and retraining data.",
    )
    rate_limit_per_minute: int = Field(
        default=6000,
        ge=0,
        description="Requests per minute each API key may make (a token bucket holding one minute's worth); "
        "0 turns rate limiting off. A batch call counts as one request.",
    )
    rate_limits: dict[str, int] = Field(
        default_factory=dict,
        description="Per-role or per-key overrides of rate_limit_per_minute as JSON, keyed by role "
        '(classify, review, lead, admin) or key id, e.g. \'{"classify": 1200, "<key id>": 60}\'; 0 means unlimited.',
    )
    retention_days: int = Field(
        default=0,
        ge=0,
        description="`tidings retention` blanks the text of messages created more than this many days ago "
        "(labels, suggestions, reviews, embeddings and themes are kept); 0 keeps text forever.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="HMAC key signing the web pages' sign-in cookies (32+ characters); empty means a random "
        "key per process, so sessions end when the server restarts and are not shared between workers.",
    )
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long a web sign-in lasts before the reviewer signs in again."
    )
    session_cookie_secure: bool | None = Field(
        default=None,
        description="Mark the sign-in cookie Secure (HTTPS only); empty means Secure exactly when the request "
        "came over https.",
    )
    retrain_after_reviews: int = Field(
        default=0,
        ge=0,
        description="Start a retrain in the background of the API once this many reviews were submitted "
        "since the last retrain; 0 turns the trigger off.",
    )

    @field_validator("mlflow_uri", "registry_uri", "encoder", "database_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("session_secret", "session_cookie_secure", mode="before")
    @classmethod
    def _blank_session_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def store_url(self) -> str:
        """The message store URL in force: the configured one or a SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tidings.db').resolve()}"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI in force: the configured one or the embedded SQLite store."""
        if self.mlflow_uri:
            return self.mlflow_uri
        return f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        """Artifact location for experiments created on the embedded store."""
        return (self.data_dir / "mlartifacts").resolve()

    @property
    def cache_dir(self) -> Path:
        """Embedding cache directory."""
        return self.data_dir / "cache"


def printable_url(url: str) -> str:
    """`url` with any password replaced by `***`, fit for logs and terminals."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call `get_settings.cache_clear()` after changing env."""
    return Settings()
