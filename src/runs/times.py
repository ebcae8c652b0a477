"""The timestamp column, parsed once as the spec says: its format, and its time zone."""

from __future__ import annotations

import pandas as pd

from runs.errors import BatchReadError
from training.row_features import parse_times


def parse_timestamps(
    values: pd.Series,
    *,
    format: str | None,
    timezone: str | None,
) -> pd.Series:
    """Text timestamps as datetimes, as the served model reads times (`parse_times`).

    A value the format cannot read becomes missing, which validation reports by column.

    Raises:
        BatchReadError: the values mix time zones that cannot be put on one clock.
    """
    try:
        return parse_times(values, format=format, timezone=timezone)
    except (ValueError, TypeError, AttributeError) as exc:
        raise BatchReadError(f"timestamp column {values.name!r}: {exc}") from None
