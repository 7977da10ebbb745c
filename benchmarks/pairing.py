"""Ratios of alternating runs, taken round by round.

This machine drifts by 10-20% over minutes (shared hosts), more than the effects
measured here. Each round runs A then B back to back, so the ratio B/A within a round
cancels most of the drift; the median of those ratios is the figure to quote, beside
the ratio of the medians.
"""

from __future__ import annotations

import statistics


def paired_ratio(base: list[float], other: list[float]) -> float:
    """The median over rounds of ``other[i] / base[i]``."""
    return statistics.median(b / a for a, b in zip(base, other, strict=True))
