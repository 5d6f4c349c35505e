"""Totals of health-check indicators over several twins.

A region does not average its members' percentages (a county with 2 km of
heating pipes would weigh as much as a city with 800 km): each indicator
carries its numerator and denominator (:class:`~twin.analysis.indicators.Indicator`),
the region sums those and makes its value the way each member made its own.
"""

from __future__ import annotations

#: How numerators and denominators make a value: ``"share"`` (100 x n / d),
#: ``"ratio"`` (n / d) or ``"sum"`` (n).
ROLLUPS = ("share", "ratio", "sum")


def combine(rollup: str, numerator: float, denominator: float | None) -> float | None:
    """A value from numerators and denominators summed over several twins
    (a region's from its members'): the way each twin's own value is made,
    never an average of their values.

    >>> combine("share", 30.0, 120.0)   # 30 of 120 km old: 25 %
    25.0
    >>> combine("ratio", 17.0, 2.0)     # 17 km of road on 2 km2
    8.5
    >>> combine("share", 0.0, 0.0) is None  # nothing measured anywhere
    True
    """
    if rollup == "sum":
        return round(numerator, 6)
    if not denominator:
        return None
    if rollup == "share":
        return round(100.0 * numerator / denominator, 2)
    if rollup == "ratio":
        return round(numerator / denominator, 3)
    raise ValueError(f"rollup {rollup!r} is not one of {', '.join(ROLLUPS)}")
