"""Per-column drift p-values (Evidently's KS and chi-square tests) and their correction."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests import chi_stat_test, ks_stat_test
from evidently.legacy.core import ColumnType
from scipy import stats

# The level passed to the tests only sets their own verdict, which is not used: the p-values are
# corrected across columns by `benjamini_hochberg` instead.
UNUSED_LEVEL = 0.05


def column_p_values(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Mapping[str, list[str]]
) -> dict[str, float]:
    """KS p-values of numeric columns and chi-square p-values of categorical ones.

    The tests are Evidently's own, called directly: as report metrics they would compute each
    column's distribution and build its plots a second time, which doubled the monitor's cost.
    Missing and infinite values are dropped first, as Evidently does.
    """
    tests = {"numeric": (ks_stat_test, ColumnType.Numerical)}
    tests["categorical"] = (chi_stat_test, ColumnType.Categorical)
    out: dict[str, float] = {}
    for kind, (test, column_type) in tests.items():
        for column in columns.get(kind, []):
            ref, cur = _present(reference[column]), _present(current[column])
            if ref.empty or cur.empty:
                continue
            out[column] = float(test(ref, cur, column_type, UNUSED_LEVEL).drift_score)
    return out


def benjamini_hochberg(
    columns: list[str], p_values: Mapping[str, float], *, alpha: float
) -> dict[str, bool]:
    """Which of `columns` stay significant at false discovery rate `alpha`."""
    tested = [c for c in columns if c in p_values]
    if not tested:
        return {}
    raw = np.clip(np.array([p_values[c] for c in tested], dtype="float64"), 0.0, 1.0)
    adjusted = stats.false_discovery_control(raw, method="bh")
    return {c: bool(p < alpha) for c, p in zip(tested, adjusted, strict=True)}


def _present(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        values = values.replace([np.inf, -np.inf], np.nan)
    return values.dropna()
