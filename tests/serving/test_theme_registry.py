"""Matching themes across months and their status."""

from __future__ import annotations

import numpy as np
import pytest

from serving.theme_registry import (
    MATCH_THRESHOLD,
    MUTUAL_MATCH_THRESHOLD,
    KnownTheme,
    match,
    previous_months,
    trend,
)


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_previous_months_cross_year_boundaries():
    assert previous_months("2026-02", 3) == ["2026-01", "2025-12", "2025-11"]


def test_each_known_theme_continues_at_most_one_new_theme():
    known = [KnownTheme("refunds", "2026-09", unit(1, 0, 0)), KnownTheme("login", "2026-09", unit(0, 1, 0))]
    new = np.stack([unit(0.1, 1, 0), unit(1, 0.05, 0), unit(1, 0.1, 0), unit(0, 0, 1)])
    result = match(new, known)
    assert result[0][0] == "login"
    assert result[1][0] == "refunds"  # the closer of the two refund-like themes wins
    assert result[2][0] is None and result[2][1] >= MATCH_THRESHOLD  # its match was taken
    assert result[3] == (None, pytest.approx(0.0, abs=1e-6))


def test_a_subject_whole_again_continues_the_part_it_is_mutually_nearest_to():
    # Last month "refunds" came out as two parts; this month as one theme between them.
    parts = [
        KnownTheme("refund-late", "2026-09", unit(1, 1, 0)),
        KnownTheme("refund-lost", "2026-09", unit(1, -1.5, 0)),
    ]
    whole = unit(1, 0, 0)
    similarity = float(whole @ parts[0].centroid)
    assert MUTUAL_MATCH_THRESHOLD <= similarity < MATCH_THRESHOLD
    assert match(np.stack([whole, unit(0, 0, 1)]), parts) == [("refund-late", pytest.approx(similarity)), (None, 0.0)]
    # The same part is nearer to another new theme: not mutual, so the whole theme stays new.
    closer = unit(1, 0.8, 0.3)
    result = match(np.stack([whole, closer]), parts)
    assert result[0][0] is None and result[1][0] == "refund-late"
    # Too far for either rule.
    assert match(np.stack([unit(-1, 0, 1)]), parts[:1])[0][0] is None


def test_nothing_known_means_everything_is_new():
    assert match(np.stack([unit(1, 0)]), []) == [(None, None)]


@pytest.mark.parametrize(
    ("share", "history", "status"),
    [
        (0.20, {"2026-09": 0.10, "2026-08": 0.10, "2026-07": 0.10}, "rising"),
        (0.05, {"2026-09": 0.10, "2026-08": 0.10, "2026-07": 0.10}, "fading"),
        (0.11, {"2026-09": 0.10, "2026-08": 0.10, "2026-07": 0.10}, "steady"),
        (0.20, {"2026-09": 0.10}, "rising"),
        (0.10, {"2026-09": 0.0}, "steady"),
    ],
)
def test_trend_against_the_previous_month_and_the_trailing_baseline(share, history, status):
    assert trend(share, history, "2026-10", is_new=False).status == status


def test_a_theme_never_seen_before_is_new():
    t = trend(0.3, {}, "2026-10", is_new=True)
    assert (t.status, t.change_previous, t.change_baseline) == ("new", None, None)
