"""Derived features a row computes on its own: date parts, time between two columns, ratios.

This file is logged with every model and imported by its serving code, so it depends on numpy
and pandas only: the served model computes these features from the raw columns exactly as
training did. Features that read earlier rows (lags, rolling statistics) live in
`runs.derived`, since they need the history driftloop keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


def whole_numbers(values: pd.Series) -> bool:
    """Whether every present value is a finite whole number (3.0 read as the category "3")."""
    known = values.dropna().to_numpy()
    return bool(np.isfinite(known).all() and (known % 1 == 0).all())


def parse_times(
    values: pd.Series, *, format: str | None = None, timezone: str | None = None
) -> pd.Series:
    """Text times as datetimes (numbers, such as an ordinal time, are left as they are).

    A value the format cannot read is read as ISO 8601 (as driftloop writes times), else it
    becomes missing. Naive times are taken to be in `timezone`; aware ones are converted to it.

    Raises:
        ValueError: the values mix time zones that cannot be put on one clock.
    """
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = _read_text_times(values, format)
    if timezone is None:
        return values
    if getattr(values.dt, "tz", None) is None:
        return values.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return values.dt.tz_convert(timezone)


def _read_text_times(text: pd.Series, format: str | None) -> pd.Series:
    values = _on_one_clock(pd.to_datetime(text, format=format, errors="coerce"), text)
    unread = values.isna() & text.notna()
    if format is None or not unread.any():
        return values
    iso = _iso_times(text[unread])
    if unread.all():
        return iso.reindex(text.index)
    zone = values.dt.tz
    if iso.dt.tz is None and zone is not None:
        iso = iso.dt.tz_localize(zone)
    elif iso.dt.tz is not None:
        iso = iso.dt.tz_convert(zone) if zone is not None else iso.dt.tz_convert(None)
    return values.where(~unread, iso.reindex(text.index))


def _iso_times(text: pd.Series) -> pd.Series:
    """ISO 8601 times; with an offset on any, all on UTC, else naive as written."""
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    offset = text.astype("string").str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    return parsed if bool(offset.fillna(False).any()) else parsed.dt.tz_convert(None)


def _on_one_clock(parsed: pd.Series, text: pd.Series) -> pd.Series:
    """Times with different UTC offsets come back as objects: put them on UTC instead."""
    if pd.api.types.is_datetime64_any_dtype(parsed.dtype):
        return parsed
    return pd.to_datetime(parsed, utc=True, errors="coerce")


def add_row_features(
    frame: pd.DataFrame,
    features: Iterable[Mapping[str, Any]],
    *,
    time_format: str | None = None,
    timezone: str | None = None,
) -> pd.DataFrame:
    """`frame` with each row-local feature (`config.derived.DerivedFeature.as_schema` form) added.

    A feature is computed when its sources are present (and replaces a column of its name);
    otherwise the frame's own column, if any, is kept. Features are computed in the given order,
    so one may read another defined before it.
    """
    out = frame
    for feature in features:
        sources = feature["sources"]
        if not all(s in out.columns for s in sources):
            continue
        columns = [out[s] for s in sources]
        value = row_feature(feature, columns, time_format=time_format, timezone=timezone)
        out = out.assign(**{feature["name"]: value})
    return out


def row_feature(
    feature: Mapping[str, Any],
    columns: list[pd.Series],
    *,
    time_format: str | None = None,
    timezone: str | None = None,
) -> pd.Series:
    """One row-local feature's values (float64; missing where an input is missing)."""
    kind = feature["kind"]
    if kind == "ratio":
        first, second = (pd.to_numeric(c, errors="coerce").astype("float64") for c in columns)
        return (first / second.where(second != 0)).replace([np.inf, -np.inf], np.nan)
    times = [parse_times(c, format=time_format, timezone=timezone) for c in columns]
    if kind == "date_part":
        return _date_part(times[0], feature["part"])
    if kind == "between":
        first, second = times
        if pd.api.types.is_numeric_dtype(first.dtype):
            return (second - first).astype("float64")
        seconds = (second - first).dt.total_seconds()
        return (seconds / UNIT_SECONDS[feature["unit"]]).astype("float64")
    raise ValueError(f"{kind!r} is not a row-local feature")


def _date_part(times: pd.Series, part: str) -> pd.Series:
    if not pd.api.types.is_datetime64_any_dtype(times.dtype):
        return pd.Series(np.nan, index=times.index, dtype="float64")
    accessor = times.dt
    if part == "week":
        return accessor.isocalendar().week.astype("float64")
    return getattr(accessor, part).astype("float64")
