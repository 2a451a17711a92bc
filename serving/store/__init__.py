"""The message store: messages, the model's suggestions, embeddings and API keys, on SQLite or PostgreSQL."""

from serving.store.db import (
    current_revision,
    head_revision,
    is_up_to_date,
    make_engine,
    make_sessionmaker,
    migration_config,
    ping,
    upgrade,
)
from serving.store.embeddings import load_embeddings
from serving.store.keys import authenticate, create_key, list_keys, revoke_key
from serving.store.messages import ClassifiedMessage, find_by_external_id, save_classified, save_classified_many
from serving.store.retrain_runs import RetrainRunRecord
from serving.store.review_flags import ReviewFlagRecord
from serving.store.review_tables import QueueItemRecord, ReviewRecord
from serving.store.roles import Role
from serving.store.suggestions import StoredClassification, stored_prediction
from serving.store.tables import ApiKeyRecord, Base, EmbeddingRecord, MessageRecord, SuggestionRecord
from serving.store.theme_tables import ThemeAssignmentRecord, ThemeMonthRecord, ThemeRecord, ThemeRunRecord

__all__ = [
    "ApiKeyRecord",
    "Base",
    "ClassifiedMessage",
    "EmbeddingRecord",
    "MessageRecord",
    "QueueItemRecord",
    "RetrainRunRecord",
    "ReviewFlagRecord",
    "ReviewRecord",
    "Role",
    "StoredClassification",
    "SuggestionRecord",
    "ThemeAssignmentRecord",
    "ThemeMonthRecord",
    "ThemeRecord",
    "ThemeRunRecord",
    "authenticate",
    "create_key",
    "current_revision",
    "find_by_external_id",
    "head_revision",
    "is_up_to_date",
    "list_keys",
    "load_embeddings",
    "make_engine",
    "make_sessionmaker",
    "migration_config",
    "ping",
    "revoke_key",
    "save_classified",
    "save_classified_many",
    "stored_prediction",
    "upgrade",
]
