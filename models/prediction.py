"""What the classifier says about one message: a label per head, with calibrated confidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class AbstainReason(StrEnum):
    """Why a head declined to commit to its label."""

    EMPTY_TEXT = "empty_text"
    OUT_OF_SCOPE = "out_of_scope"
    LOW_CONFIDENCE = "low_confidence"
    LOW_MARGIN = "low_margin"


@dataclass(frozen=True)
class HeadPrediction:
    """One head's answer: its best label, calibrated probabilities, and whether it abstained."""

    label: str
    probability: float
    probabilities: dict[str, float]
    abstained: bool = False
    reason: AbstainReason | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; `reason` is a plain string or None."""
        out = asdict(self)
        out["reason"] = str(self.reason) if self.reason else None
        return out


@dataclass(frozen=True)
class Prediction:
    """All heads' answers for one message."""

    heads: dict[str, HeadPrediction] = field(default_factory=dict)

    @property
    def needs_review(self) -> bool:
        """True when any head abstained, so a human should look."""
        return any(h.abstained for h in self.heads.values())

    def __getitem__(self, head: str) -> HeadPrediction:
        return self.heads[head]

    def to_dict(self) -> dict[str, Any]:
        """`{head: {...}, ..., "needs_review": bool}`."""
        out: dict[str, Any] = {name: h.to_dict() for name, h in self.heads.items()}
        out["needs_review"] = self.needs_review
        return out
