"""The timestamp column, parsed once as the spec says: its format, and its time zone."""

from __future__ import annotations

import pandas as pd

from runs.errors import BatchReadError


def parse_timestamps(
    values: pd.Series,
    *,
    format: str | None,
    timezone: str | None,
) -> pd.Series:
    """Text timestamps as datetimes (numbers, such as an ordinal time, are left as they are).

    A value the format cannot read becomes missing, which validation reports by column. Naive
    times are taken to be in `timezone`; aware ones are converted to it.

    Raises:
        BatchReadError: the values mix time zones that cannot be put on one clock.
    """
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        try:
            values = pd.to_datetime(values, format=format, errors="coerce", utc=None)
        except (ValueError, TypeError) as exc:
            raise BatchReadError(f"timestamp column {values.name!r}: {exc}") from None
    if timezone is None:
        return values
    if getattr(values.dt, "tz", None) is None:
        return values.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return values.dt.tz_convert(timezone)
