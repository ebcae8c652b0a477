"""A daily dataset with a month date part, for the checks that a feature must vary."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from config.spec import DatasetSpec
from runs.derived import derive


@pytest.fixture
def daily_spec() -> DatasetSpec:
    """A daily temperature with the month as a derived date part."""
    return DatasetSpec.model_validate(
        {
            "name": "daily",
            "task": "regression",
            "target": "y",
            "timestamp": "day",
            "features": {"numeric": ["temp"]},
            "derived": {"month": {"date_part": "day", "part": "month"}},
            "reference": "r.csv",
            "incoming": "in",
        }
    )


@pytest.fixture
def daily(daily_spec: DatasetSpec) -> Callable[..., pd.DataFrame]:
    """Rows from `start` to before `end`, one per `freq`, with the month derived."""

    def rows(start: str, end: str, *, freq: str = "D", seed: int = 0) -> pd.DataFrame:
        times = pd.date_range(start, end, freq=freq, inclusive="left")
        rng = np.random.default_rng(seed)
        temp = rng.normal(10.0, 5.0, len(times)).round(1)
        frame = pd.DataFrame({"day": times, "temp": temp, "y": rng.normal(size=len(times))})
        return derive(frame, daily_spec)

    return rows
