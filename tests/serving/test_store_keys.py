"""API keys are shown once, stored as a hash, and stop working when revoked."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from serving.store.keys import PREFIX_CHARS, Role, authenticate, create_key, list_keys, revoke_key
from serving.store.tables import ApiKeyRecord
from tests.serving.conftest import MigratedStore


def test_a_new_key_authenticates_with_its_role(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        record, plaintext = create_key(session, Role.REVIEW, name="ann's laptop")
        session.commit()
    assert plaintext.startswith("tid_") and len(plaintext) > 40
    assert record.prefix == plaintext[:PREFIX_CHARS]
    with migrated_store.sessions() as session:
        found = authenticate(session, plaintext)
        assert found is not None
        assert (found.id, found.role, found.name) == (record.id, Role.REVIEW, "ann's laptop")
        assert found.last_used_at is not None


def test_only_the_hash_is_stored(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        record, plaintext = create_key(session, "admin")
        session.commit()
        row = session.execute(select(ApiKeyRecord.__table__)).one()
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert not any(plaintext in str(value) for value in row)
    assert record.role == "admin"


def test_unknown_malformed_and_revoked_keys_are_refused(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        record, plaintext = create_key(session, Role.CLASSIFY)
        session.commit()
        assert authenticate(session, "tid_" + "x" * 43) is None
        assert authenticate(session, plaintext[4:]) is None
        assert authenticate(session, "") is None
        assert authenticate(session, "tid_\udcff") is None
        assert revoke_key(session, record.id)
        session.commit()
        assert authenticate(session, plaintext) is None
        assert not revoke_key(session, record.id), "a revoked key cannot be revoked again"


def test_last_used_is_written_at_most_once_a_minute(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        record, plaintext = create_key(session, Role.LEAD)
        first = authenticate(session, plaintext).last_used_at
        assert authenticate(session, plaintext).last_used_at == first
        record.last_used_at = first - timedelta(minutes=2)
        session.commit()
        assert authenticate(session, plaintext).last_used_at > first


def test_revoking_by_prefix_and_listing(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        kept, _ = create_key(session, Role.CLASSIFY, name="kept")
        gone, _ = create_key(session, Role.ADMIN, name="gone")
        session.commit()
        assert revoke_key(session, gone.prefix)
        assert not revoke_key(session, "tid_none")
        session.commit()
        assert [k.name for k in list_keys(session, include_revoked=False)] == ["kept"]
        assert {k.name for k in list_keys(session)} == {"kept", "gone"}
        assert kept.revoked_at is None and gone.revoked_at is not None


def test_an_ambiguous_prefix_revokes_nothing(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        one, _ = create_key(session, Role.CLASSIFY)
        two, _ = create_key(session, Role.CLASSIFY)
        two.prefix = one.prefix
        session.commit()
        with pytest.raises(ValueError, match="revoke one by id"):
            revoke_key(session, one.prefix)
        assert len(list_keys(session, include_revoked=False)) == 2


def test_roles_are_checked_in_code_and_by_the_database(migrated_store: MigratedStore):
    with migrated_store.sessions() as session:
        with pytest.raises(ValueError):
            create_key(session, "superuser")
        session.add(ApiKeyRecord(role="superuser", prefix="tid_abcd", key_hash="0" * 64))
        with pytest.raises(IntegrityError):
            session.flush()
