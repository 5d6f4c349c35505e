"""One indicator of the city health check (城市体检) and the check's record.

:class:`Indicator` carries a value with its formula, data, coverage, target
and status; :class:`HealthCheck` is the year's set of them
(:func:`twin.analysis.indicators.health_check` computes it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .rollup import ROLLUPS

#: The statuses an indicator can have.
MET, NOT_MET, NO_DATA, NO_TARGET = "met", "not met", "no data", "no target"


@dataclass(frozen=True)
class Indicator:
    """One indicator. ``value=None`` means the twin has no data for it; then
    ``meets`` is ``None`` and ``status`` is ``"no data"`` whatever the target.

    >>> Indicator("x", "X", "X", None, "%", "", "", "0 of 0 pipes", target="none",
    ...           meets=True).status
    'no data'
    """

    key: str
    title: str
    title_zh: str
    value: float | None
    unit: str
    formula: str
    data: str
    coverage: str
    target: str | None = None
    meets: bool | None = None
    note: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: the target in Chinese (the report is Chinese first)
    target_zh: str | None = None
    #: what the value is made of, so that a region can total its members'
    #: indicators (:func:`combine`) instead of averaging their percentages:
    #: ``"share"`` (value = 100 x numerator / denominator), ``"ratio"``
    #: (numerator / denominator) or ``"sum"`` (value = numerator; the
    #: denominator, when given, is what was examined); ``None`` for both when
    #: nothing was measured
    numerator: float | None = None
    denominator: float | None = None
    rollup: str = "sum"
    #: ``"met"``, ``"not met"``, ``"no data"`` or ``"no target"`` (derived)
    status: str = field(init=False, default=NO_TARGET)

    def __post_init__(self) -> None:  # plain Python values, never numpy scalars
        if self.rollup not in ROLLUPS:
            raise ValueError(f"rollup {self.rollup!r} is not one of {', '.join(ROLLUPS)}")
        for name in ("numerator", "denominator"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, round(float(v), 6))
        if self.value is not None:
            object.__setattr__(self, "value", float(self.value))
        if self.value is None:  # nothing measured: no target can be met or missed
            object.__setattr__(self, "meets", None)
        elif self.meets is not None:
            object.__setattr__(self, "meets", bool(self.meets))
        object.__setattr__(self, "status", NO_DATA if self.value is None else
                           NO_TARGET if self.meets is None else MET if self.meets else NOT_MET)


@dataclass(frozen=True)
class HealthCheck:
    year: int
    new_since: int
    county_town: bool
    indicators: tuple[Indicator, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"year": self.year, "new_since": self.new_since,
                "county_town": self.county_town,
                "indicators": [asdict(i) for i in self.indicators]}

    def __getitem__(self, key: str) -> Indicator:
        for i in self.indicators:
            if i.key == key:
                return i
        raise KeyError(key)


def share(part: float, whole: float) -> float | None:
    """``100 x part / whole`` to 2 decimals (``None`` when ``whole`` is 0)."""
    return round(100.0 * part / whole, 2) if whole > 0 else None


def parts(measured: Any, numerator: float, denominator: float | None, rollup: str
          ) -> dict[str, Any]:
    """The numerator and denominator of a value (``None`` when nothing was
    measured), and how a region totals them."""
    if not measured:
        return {"rollup": rollup}
    return {"numerator": float(numerator),
            "denominator": None if denominator is None else float(denominator),
            "rollup": rollup}


def coverage_text(have: int, total: int, what: str) -> str:
    """An indicator's coverage: ``"3 of 5 buildings with storeys"``."""
    return f"{have} of {total} {what}"
