"""API keys: issued once in plaintext, stored only as a SHA-256 hash, looked up by that hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from serving.store.roles import Role
from serving.store.tables import ApiKeyRecord, utcnow

__all__ = ["KEY_PREFIX", "Role", "authenticate", "create_key", "hash_key", "list_keys", "revoke_key"]

KEY_PREFIX = "tid_"
PREFIX_CHARS = 12
# Recording every use would turn each authenticated request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(plaintext: str) -> str:
    """The SHA-256 hex digest a key is stored and looked up by."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_key(session: Session, role: Role | str, name: str | None = None) -> tuple[ApiKeyRecord, str]:
    """Issue a key for `role`; returns its record and the plaintext, which is never stored or shown again."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        name=name, role=str(Role(role)), prefix=plaintext[:PREFIX_CHARS], key_hash=hash_key(plaintext)
    )
    session.add(record)
    session.flush()
    return record, plaintext


def authenticate(session: Session, plaintext: str) -> ApiKeyRecord | None:
    """The live key matching `plaintext`, or None for an unknown or revoked key.

    Refreshes `last_used_at` at most once a minute; the caller commits.
    """
    if not plaintext.startswith(KEY_PREFIX) or not plaintext.isascii():
        return None
    record = session.scalars(select(ApiKeyRecord).where(ApiKeyRecord.key_hash == hash_key(plaintext))).one_or_none()
    if record is None or record.revoked_at is not None:
        return None
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        record.last_used_at = now
    return record


def revoke_key(session: Session, prefix_or_id: str) -> bool:
    """Revoke the live key with this id, or the only live key with this prefix; False when none matches.

    Raises ValueError when a prefix matches several live keys.
    """
    matches = list(
        session.scalars(
            select(ApiKeyRecord).where(
                ApiKeyRecord.revoked_at.is_(None),
                or_(ApiKeyRecord.id == prefix_or_id, ApiKeyRecord.prefix == prefix_or_id),
            )
        )
    )
    if len(matches) > 1:
        raise ValueError(f"{len(matches)} live keys start with {prefix_or_id!r}; revoke one by id")
    if not matches:
        return False
    matches[0].revoked_at = utcnow()
    session.flush()
    return True


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
    """Issued keys, oldest first; revoked ones too unless `include_revoked` is False."""
    query = select(ApiKeyRecord).order_by(ApiKeyRecord.created_at, ApiKeyRecord.id)
    if not include_revoked:
        query = query.where(ApiKeyRecord.revoked_at.is_(None))
    return list(session.scalars(query))
