"""The promotion gate: a challenger replaces the champion only if no head gets worse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_DROP = 0.01
# Retraining promotes only on a real gain: a macro-F1 rise of more than this on some head and set.
# 0.005 is half the allowed drop, above the run-to-run noise of the frozen gate sets.
IMPROVEMENT_EPSILON = 0.005


@dataclass(frozen=True)
class GateRow:
    """One head on one evaluation set: both models' macro-F1 and the change."""

    set: str
    head: str
    champion: float | None
    challenger: float
    delta: float


@dataclass(frozen=True)
class GateVerdict:
    """Whether to promote, why, and the per-head comparison behind it."""

    promote: bool
    reason: str
    rows: list[GateRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as logged on the run."""
        return {"promote": self.promote, "reason": self.reason, "rows": [asdict(r) for r in self.rows]}

    def table(self) -> str:
        """The comparison as a Markdown table."""
        lines = ["| set | head | champion macro-F1 | challenger macro-F1 | change |", "|---|---|---|---|---|"]
        for r in self.rows:
            champ = "–" if r.champion is None else f"{r.champion:.3f}"
            lines.append(f"| {r.set} | {r.head} | {champ} | {r.challenger:.3f} | {r.delta:+.3f} |")
        return "\n".join(lines)


def compare(
    challenger: Mapping[str, Mapping[str, Mapping[str, Any]]],
    champion: Mapping[str, Mapping[str, Mapping[str, Any]]] | None,
    max_drop: float = 0.01,
    require_improvement: bool = False,
    min_improvement: float = 0.0,
) -> GateVerdict:
    """Compare macro-F1 per evaluation set and head (`{set: {head: {"macro_f1": ...}}}`).

    Promote when there is no champion, or when no head on any set drops by more than
    `max_drop`, and (if `require_improvement`) at least one head improves by more than
    `min_improvement`.
    """
    rows = []
    for set_name, heads in challenger.items():
        for head, metrics in heads.items():
            theirs = None if champion is None else champion.get(set_name, {}).get(head, {}).get("macro_f1")
            ours = float(metrics["macro_f1"])
            rows.append(GateRow(set_name, head, theirs, ours, ours - (theirs or 0.0)))
    if champion is None:
        return GateVerdict(True, "no champion yet: the first model becomes champion", rows)
    compared = [r for r in rows if r.champion is not None]
    if not compared:
        return GateVerdict(False, "champion has no figures on the gate sets: keeping it, compare by hand", rows)
    drops = [r for r in compared if r.delta < -max_drop]
    if drops:
        worst = min(drops, key=lambda r: r.delta)
        return GateVerdict(
            False, f"{worst.head} on {worst.set} drops {worst.delta:+.3f} (allowed -{max_drop:.3f})", rows
        )
    gains = [r for r in compared if r.delta > min_improvement]
    if require_improvement and not gains:
        best = max(compared, key=lambda r: r.delta)
        return GateVerdict(
            False,
            f"no head improves by more than {min_improvement:.3f} (best: {best.head} on {best.set} "
            f"{best.delta:+.3f}): keeping the champion",
            rows,
        )
    if require_improvement:
        best = max(gains, key=lambda r: r.delta)
        return GateVerdict(
            True,
            f"{best.head} on {best.set} improves {best.delta:+.3f}; {len(gains)} head(s) improve and none "
            f"drops more than {max_drop:.3f}",
            rows,
        )
    return GateVerdict(True, f"no head drops more than {max_drop:.3f}; {len(gains)} head(s) improve", rows)


def per_class_table(
    challenger: Mapping[str, Mapping[str, Mapping[str, Any]]],
    champion: Mapping[str, Mapping[str, Mapping[str, Any]]] | None,
) -> str:
    """Per-class F1 of both models on each set and head, as a Markdown table (full metrics dicts)."""
    lines = ["| set | head | class | support | champion F1 | challenger F1 | change |", "|---|---|---|---|---|---|---|"]
    for set_name, heads in challenger.items():
        for head, metrics in heads.items():
            theirs = (champion or {}).get(set_name, {}).get(head, {}).get("per_class", {})
            for label, ours in metrics.get("per_class", {}).items():
                if not ours.get("support"):
                    continue
                old = theirs.get(label, {}).get("f1")
                champ = "–" if old is None else f"{old:.3f}"
                change = "" if old is None else f"{ours['f1'] - old:+.3f}"
                lines.append(
                    f"| {set_name} | {head} | {label} | {ours['support']} | {champ} | {ours['f1']:.3f} | {change} |"
                )
    return "\n".join(lines)
