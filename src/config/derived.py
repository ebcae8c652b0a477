"""Derived features as a spec declares them, each computed from columns the data carries.

Lags, rolling statistics, differences, date parts, durations between two times and ratios:

```yaml
derived:
  co2_lag_1:    {lag: co2, periods: 1}
  co2_mean_4w:  {rolling: co2, window: 4, stat: mean}   # rows, or a duration such as 28D
  month:        {date_part: week_start, part: month}
  days_to_ship: {between: [ordered_at, delivered_at], unit: days}
  price_per_kg: {ratio: [price, weight]}
  co2_change:   {diff: co2, periods: 1}                 # usable as the target
```

Lags, rolling statistics and differences look back over earlier rows (across batch boundaries,
see `runs.derived`); date parts, durations and ratios need only the row itself, so the served
model computes them from the raw columns (see `training.model_code`).
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["lag", "rolling", "diff", "date_part", "between", "ratio"]
KINDS: tuple[Kind, ...] = ("lag", "rolling", "diff", "date_part", "between", "ratio")
# Kinds that read earlier rows (history); the others read the row alone.
HISTORY_KINDS = frozenset({"lag", "rolling", "diff"})
Stat = Literal["mean", "sum", "min", "max", "std", "median"]
DatePart = Literal["year", "quarter", "month", "week", "day", "dayofweek", "dayofyear", "hour"]
Unit = Literal["seconds", "minutes", "hours", "days", "weeks"]
_OPTIONS: dict[str, frozenset[str]] = {
    "lag": frozenset({"periods"}),
    "rolling": frozenset({"window", "stat", "min_periods"}),
    "diff": frozenset({"periods"}),
    "date_part": frozenset({"part"}),
    "between": frozenset({"unit"}),
    "ratio": frozenset(),
}
_TWO_SOURCES = frozenset({"between", "ratio"})


class DerivedFeature(BaseModel):
    """One derived column: its kind, the columns it reads and the kind's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    sources: tuple[str, ...]
    periods: int = Field(default=1, ge=1)
    # Rows (an integer) or a time span pandas reads ("28D", "12h"), which needs a timestamp.
    window: int | str = 3
    stat: Stat = "mean"
    min_periods: int = Field(default=1, ge=1)
    part: DatePart = "month"
    unit: Unit = "days"

    @model_validator(mode="before")
    @classmethod
    def _from_spec_form(cls, raw: Any) -> Any:
        """Read `{lag: co2, periods: 1}` as kind "lag" with sources ("co2",)."""
        if not isinstance(raw, dict) or "kind" in raw:
            return raw
        kinds = [k for k in raw if k in _OPTIONS]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of {', '.join(KINDS)} (got {sorted(raw)})")
        kind = kinds[0]
        unknown = sorted(set(raw) - {kind} - _OPTIONS[kind])
        if unknown:
            allowed = ", ".join(sorted(_OPTIONS[kind])) or "no options"
            raise ValueError(f"{kind} takes {allowed}; remove {unknown}")
        sources = raw[kind]
        sources = [sources] if isinstance(sources, str) else list(sources or [])
        wanted = 2 if kind in _TWO_SOURCES else 1
        if len(sources) != wanted or not all(isinstance(s, str) for s in sources):
            shape = "[first, second]" if wanted == 2 else "one column name"  # noqa: PLR2004
            raise ValueError(f"{kind}: give {shape}")
        return {**{k: v for k, v in raw.items() if k != kind}, "kind": kind, "sources": sources}

    @model_validator(mode="after")
    def _window_is_readable(self) -> DerivedFeature:
        if isinstance(self.window, str) and self.window.strip().isdigit():
            raise ValueError(
                f"window {self.window!r}: write a number of rows without quotes, or a span "
                "with its unit (28D, 12h)"
            )
        if isinstance(self.window, int) and self.min_periods > self.window:
            raise ValueError(
                f"min_periods {self.min_periods} is more than the window's {self.window} rows"
            )
        if isinstance(self.window, str):
            try:
                span = pd.Timedelta(self.window)
            except ValueError:
                raise ValueError(
                    f"window {self.window!r}: give a number of rows or a span like 28D or 12h"
                ) from None
            if span <= pd.Timedelta(0):
                raise ValueError(f"window {self.window!r} must be longer than zero")
        elif self.window < 1:
            raise ValueError("window must be at least 1 row")
        return self

    @property
    def uses_history(self) -> bool:
        """Whether the value reads earlier rows (lag, rolling, diff)."""
        return self.kind in HISTORY_KINDS

    @property
    def timed_window(self) -> pd.Timedelta | None:
        """The window as a time span, when it is one."""
        return pd.Timedelta(self.window) if isinstance(self.window, str) else None

    @property
    def lookback_rows(self) -> int:
        """Earlier rows the value needs (0 for row-local kinds and time windows)."""
        if self.kind in {"lag", "diff"}:
            return self.periods
        if self.kind == "rolling" and isinstance(self.window, int):
            return self.window
        return 0

    def describe(self) -> str:
        """How the value is computed, in words (for the model card)."""
        options = {k: getattr(self, k) for k in sorted(_OPTIONS[self.kind])}
        how = ", ".join(f"{k} {v}" for k, v in options.items())
        named = ", ".join(f"`{s}`" for s in self.sources)
        return f"{self.kind} of {named}" + (f" ({how})" if how else "")

    def as_schema(self, name: str) -> dict[str, Any]:
        """This feature as plain JSON for the served model's schema."""
        options = {k: getattr(self, k) for k in sorted(_OPTIONS[self.kind])}
        return {"name": name, "kind": self.kind, "sources": list(self.sources), **options}
