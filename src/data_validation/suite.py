"""Derive an expectation suite from the dataset spec and a profile of the reference data."""

from __future__ import annotations

import copy
from collections.abc import Iterable

import numpy as np
import pandas as pd
from great_expectations.expectations.expectation import Expectation

import great_expectations as gx
import great_expectations.expectations as gxe
from config.spec import DatasetSpec, Task

NUMERIC_TYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "Int64",
    "Float64",
]
# Ranges are the reference min/max widened by this share of the span on each side: wide enough
# that genuine drift reaches the monitor, narrow enough to stop unit errors and sentinel values.
RANGE_MARGIN = 1.0
# Share of values that may fall outside the widened range or the known category set.
OUTLIER_ALLOWANCE = 0.02
# Unseen categories are allowed as often as the reference's own newer rows brought them, twice
# over, and never less than this floor nor more than the cap: a column of agents or products
# whose stream keeps adding values expects them, a five-level column does not.
UNSEEN_CATEGORY_FLOOR = 0.01
UNSEEN_CATEGORY_CAP = 0.5
# The newer share of the reference whose values are checked against the older part's.
BACKTEST_SHARE = 0.3
# Extra share of nulls a batch may carry beyond what the reference had at its worst: the
# highest null share of any of `NULL_WINDOWS` consecutive stretches of its rows, in time order.
NULL_ALLOWANCE = 0.05
NULL_WINDOWS = 10
# A numeric column whose newer reference rows left the older rows' range this often trends
# (a level that keeps rising, a price index): a range would reject normal batches, so it gets
# none, and drift tests watch it instead.
TREND_SHARE = 0.2
LABEL_META = {"driftloop": "label"}
# Row checks without a `mostly` allowance: one bad row fails them, so they need every row.
EVERY_ROW_TYPES = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
    }
)


def unlabelled_suite_name(name: str) -> str:
    """Name of the variant of a suite used for batches that arrive without labels."""
    return f"{name}-unlabelled"


def every_row_suite_name(name: str) -> str:
    """Name of the part of a suite that big batches run on every row (the rest on a sample)."""
    return f"{name}-every-row"


def every_row_suite(suite: gx.ExpectationSuite) -> gx.ExpectationSuite:
    """The expectations of `suite` that every row must meet (no `mostly` below 1)."""
    return gx.ExpectationSuite(
        name=every_row_suite_name(suite.name),
        expectations=[
            copy.copy(e)  # GX refuses an expectation that belongs to another suite
            for e in suite.expectations
            if e.expectation_type in EVERY_ROW_TYPES and (getattr(e, "mostly", None) or 1.0) >= 1.0
        ],
    )


def suite_columns(suite: gx.ExpectationSuite, *, present: Iterable[object]) -> list[str]:
    """The columns a suite's expectations name that are `present`, in order, once each."""
    there = set(map(str, present))
    named = [getattr(e, "column", None) for e in suite.expectations]
    return list(dict.fromkeys(c for c in named if isinstance(c, str) and c in there))


def build_suites(spec: DatasetSpec, reference: pd.DataFrame) -> list[gx.ExpectationSuite]:
    """Build the suite for labelled batches and the one for unlabelled batches.

    Args:
        spec: Columns and their kinds.
        reference: The reference data; its profile sets ranges, category sets and null rates.

    Returns:
        `[suite, unlabelled suite]`, named after the dataset.
    """
    common = _schema_expectations(spec) + _profile_expectations(spec, reference)
    labelled = gx.ExpectationSuite(
        name=spec.name, expectations=common + _label_expectations(spec, reference)
    )
    # Without labels, a lag of the target is known only where the history reaches.
    from_labels = label_history_columns(spec)
    unlabelled = gx.ExpectationSuite(
        name=unlabelled_suite_name(spec.name),
        expectations=list(_schema_expectations(spec))
        + _profile_expectations(spec, reference, skip_nulls=from_labels),
    )
    return [labelled, unlabelled]


def _schema_expectations(spec: DatasetSpec) -> list[Expectation]:
    expectations: list[Expectation] = [
        gxe.ExpectColumnToExist(column=c) for c in spec.required_columns
    ]
    expectations.append(gxe.ExpectTableRowCountToBeBetween(min_value=1))
    expectations += [
        gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=NUMERIC_TYPES)
        for c in spec.features.numeric
    ]
    if spec.id:
        expectations.append(gxe.ExpectColumnValuesToBeUnique(column=spec.id))
    if spec.timestamp:
        expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=spec.timestamp))
    return expectations


def label_history_columns(spec: DatasetSpec) -> frozenset[str]:
    """Derived features that read the columns the target comes from (lags of the target)."""
    labels = set(spec.label_columns)
    return frozenset(n for n, f in spec.derived.items() if labels & set(f.sources))


def _profile_expectations(
    spec: DatasetSpec, reference: pd.DataFrame, *, skip_nulls: frozenset[str] = frozenset()
) -> list[Expectation]:
    expectations: list[Expectation] = []
    ordered = in_time_order(reference, spec.timestamp)
    for column in spec.feature_columns:
        if column in skip_nulls:
            continue
        mostly = round(max(0.0, 1.0 - worst_null_share(ordered[column]) - NULL_ALLOWANCE), 4)
        expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=mostly))
    for column in spec.features.numeric:
        if range_escape(ordered[column]) > TREND_SHARE:
            continue
        values = reference[column].dropna()
        low, high = float(values.min()), float(values.max())
        margin = (high - low) * RANGE_MARGIN
        expectations.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=round(low - margin, 6),
                max_value=round(high + margin, 6),
                mostly=1 - OUTLIER_ALLOWANCE,
            )
        )
    for column in spec.features.categorical:
        known = sorted(reference[column].dropna().astype(str).unique().tolist())
        allowance = unseen_allowance(ordered[column])
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=column, value_set=known, mostly=round(1 - allowance, 4)
            )
        )
    return expectations


def unseen_allowance(values: pd.Series) -> float:
    """The share of a batch's values that may be categories the reference never saw.

    Measured on the reference itself, in time order: the share of its newest rows whose value
    the older rows never had, doubled, between `UNSEEN_CATEGORY_FLOOR` and `..._CAP`.
    """
    known = values.dropna().astype(str)
    cut = round(len(known) * (1 - BACKTEST_SHARE))
    older, newer = known.iloc[:cut], known.iloc[cut:]
    rate = float((~newer.isin(set(older))).mean()) if len(newer) and len(older) else 0.0
    return min(UNSEEN_CATEGORY_CAP, max(UNSEEN_CATEGORY_FLOOR, 2 * rate))


def worst_null_share(values: pd.Series) -> float:
    """The highest share of nulls in any of `NULL_WINDOWS` consecutive stretches of `values`."""
    missing = values.isna().to_numpy()
    if not len(missing):
        return 0.0
    stretches = [part.mean() for part in np.array_split(missing, min(NULL_WINDOWS, len(missing)))]
    return float(max(stretches))


def range_escape(values: pd.Series) -> float:
    """How often the newer values leave the older ones' range: ~0 if steady, ~1 if trending.

    That is the share of the newest `BACKTEST_SHARE` of `values` (in time order) outside the
    older values' minimum and maximum.
    """
    known = pd.to_numeric(values, errors="coerce").dropna()
    cut = round(len(known) * (1 - BACKTEST_SHARE))
    older, newer = known.iloc[:cut], known.iloc[cut:]
    if older.empty or newer.empty:
        return 0.0
    return float(((newer < older.min()) | (newer > older.max())).mean())


def trending_columns(spec: DatasetSpec, reference: pd.DataFrame) -> list[str]:
    """Numeric features the suite sets no range for, because the reference itself trends."""
    ordered = in_time_order(reference, spec.timestamp)
    return [c for c in spec.features.numeric if range_escape(ordered[c]) > TREND_SHARE]


def in_time_order(frame: pd.DataFrame, timestamp: str | None) -> pd.DataFrame:
    """`frame`'s rows in the order of `timestamp` (as they are without one)."""
    if not timestamp or timestamp not in frame.columns:
        return frame
    times = pd.to_datetime(frame[timestamp], errors="coerce").reset_index(drop=True)
    return frame.iloc[times.sort_values(kind="stable", na_position="last").index.to_numpy()]


def _label_expectations(spec: DatasetSpec, reference: pd.DataFrame) -> list[Expectation]:
    target = spec.target
    expectations: list[Expectation] = [gxe.ExpectColumnToExist(column=target, meta=LABEL_META)]
    if spec.task is Task.REGRESSION:
        expectations.append(
            gxe.ExpectColumnValuesToBeInTypeList(
                column=target, type_list=NUMERIC_TYPES, meta=LABEL_META
            )
        )
    else:
        classes = sorted(reference[target].dropna().unique().tolist())
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=target, value_set=[_plain(c) for c in classes], meta=LABEL_META
            )
        )
    return expectations


def _plain(value: object) -> object:
    item = getattr(value, "item", None)
    return item() if callable(item) else value
