"""The one way an interval is shown to a user: ``mean [lo, hi]`` with two decimals, an en dash when there is
no value, and the bare mean when the interval is undefined (one seed, or a weak-ceiling gap of zero).

Every table (terminal, Markdown, HTML report, dashboard) formats through :func:`format_interval`, so the same
number never reads differently in two places."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

MISSING = "–"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def format_interval(value: Mapping[str, Any] | Any | None, digits: int = 2) -> str:
    """``{mean, lo, hi}`` or an object with those attributes (any may be None or NaN) as text."""
    if not value:
        return MISSING
    get = value.get if isinstance(value, Mapping) else lambda key: getattr(value, key, None)
    mean = _number(get("mean"))
    if mean is None:
        return MISSING
    lo, hi = _number(get("lo")), _number(get("hi"))
    if lo is None or hi is None:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def format_p(value: float | None, digits: int = 3) -> str:
    number = _number(value)
    return MISSING if number is None else f"{number:.{digits}f}"


class IntervalRecord(BaseModel):
    """A mean with its 95% interval as stored in JSON; None where undefined (one seed, no weak-ceiling gap)."""

    model_config = ConfigDict(frozen=True)
    mean: float | None = None
    lo: float | None = None
    hi: float | None = None

    @field_validator("mean", "lo", "hi", mode="before")
    @classmethod
    def _nan_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, float) and math.isnan(value) else value

    @classmethod
    def of(cls, interval: Any) -> IntervalRecord:
        """From anything with mean/lo/hi attributes (``aar.stats.Interval``)."""
        return cls(mean=interval.mean, lo=interval.lo, hi=interval.hi)
