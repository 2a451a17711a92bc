"""What an API key may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The role an API key is issued for."""

    CLASSIFY = "classify"
    REVIEW = "review"
    LEAD = "lead"
    ADMIN = "admin"
