"""Checks of the statistics a run writes that can fail (a bare ``p <= 1`` cannot: p is capped at 1)."""

from __future__ import annotations

from collections.abc import Mapping


def assert_paired_p(d: Mapping[str, float], resamples: int) -> None:
    """A paired difference's p is the bootstrap two-sided p of mats_core.stats: 2 (1 + count) / (1 + B),
    capped at 1, so at least 2 / (1 + B) and on that grid; its interval excludes 0 only where p is
    small (under 2.5% of resamples on one side, so p < 0.1 for any B >= 100)."""
    big, p = resamples + 1, d["p"]
    assert 2 / big <= p <= 1, d
    assert p == 1 or abs(p * big / 2 - round(p * big / 2)) < 1e-6, (d, "p is not 2 (1 + count) / (1 + B)")
    assert d["excludes_zero"] == (d["low"] > 0 or d["high"] < 0), d
    if d["excludes_zero"]:
        assert p < 0.1, d
    assert d["low"] <= d["high"], d
