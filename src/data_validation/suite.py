"""Derive an expectation suite from the dataset spec and a profile of the reference data."""

from __future__ import annotations

import copy
from collections.abc import Iterable

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
# Extra share of nulls a batch may carry beyond what the reference had.
NULL_ALLOWANCE = 0.05
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
    unlabelled = gx.ExpectationSuite(
        name=unlabelled_suite_name(spec.name),
        expectations=list(_schema_expectations(spec)) + _profile_expectations(spec, reference),
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


def _profile_expectations(spec: DatasetSpec, reference: pd.DataFrame) -> list[Expectation]:
    expectations: list[Expectation] = []
    for column in spec.feature_columns:
        null_share = float(reference[column].isna().mean())
        mostly = round(max(0.0, 1.0 - null_share - NULL_ALLOWANCE), 4)
        expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=mostly))
    for column in spec.features.numeric:
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
    ordered = in_time_order(reference, spec.timestamp)
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


def in_time_order(frame: pd.DataFrame, timestamp: str | None) -> pd.DataFrame:
    """`frame`'s rows in the order of `timestamp` (as they are without one)."""
    if not timestamp or timestamp not in frame.columns:
        return frame
    times = pd.to_datetime(frame[timestamp], errors="coerce")
    return frame.iloc[times.argsort(kind="stable").to_numpy()]


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
