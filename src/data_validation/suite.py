"""Derive an expectation suite from the dataset spec and a profile of the reference data."""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from great_expectations.expectations.expectation import Expectation

import great_expectations as gx
import great_expectations.expectations as gxe
from config.spec import DatasetSpec, Task
from data_validation.text_expectations import profile_text, text_expectations

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
# A feature must hold two values or more in a batch only when the batch is longer than this many
# times the longest stretch of rows in which the reference kept it at one value, in rows and in
# the time the reference took for as many: a date part stays put for its period, a slow column
# for a while, a stuck sensor for good. The margin leaves room for a longer stretch than the
# reference happened to show (11 rows of one `origin` in the flights example's newer rows, 8 in
# its reference).
VARIATION_MARGIN = 2
LABEL_META = {"driftloop": "label"}
MUST_VARY = "must-vary"  # the `driftloop` meta of the check; the gate sets its `min_value`
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
    # Lags of the target are known only where the history reaches, so they need not vary either.
    expectations += variation_expectations(variation_rules(spec, reference, skip=skip_nulls))
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
    for column in spec.features.text:
        profile = profile_text(column, ordered[column])
        if profile is not None:
            expectations += text_expectations(profile)
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


@dataclass(frozen=True)
class VariationRule:
    """The longest stretch of reference rows, in time order, that kept a feature at one value."""

    column: str
    stretch_rows: int  # of the column's non-null values
    reference_rows: int  # the column's non-null values in the reference
    reference_seconds: float | None  # from their first timestamp to their last; None without

    @property
    def checked(self) -> bool:
        """Whether the reference is long enough to show the feature varies in longer batches."""
        return VARIATION_MARGIN * self.stretch_rows < self.reference_rows

    @property
    def longer_than_rows(self) -> int:
        """A batch with more non-null values than this must hold two values or more..."""
        return VARIATION_MARGIN * self.stretch_rows

    @property
    def longer_than_seconds(self) -> float | None:
        """... if it also spans more than the reference took for as many rows (None: any span).

        Counting time as well as rows keeps a month's date part exempt in a month of a feed
        that now brings more rows a month than the reference did.
        """
        if self.reference_seconds is None or not self.reference_rows:
            return None
        return self.longer_than_rows * self.reference_seconds / self.reference_rows

    @property
    def reason(self) -> str:
        """Why the feature must vary in long batches, or why it need not, in words."""
        if not self.checked:
            return (
                f"the reference kept it at one value for {self.stretch_rows} of its "
                f"{self.reference_rows} rows in a row: no batch is long enough to tell"
            )
        seconds = self.longer_than_seconds
        over = "" if seconds is None else f" over more than {_duration(seconds)}"
        return (
            f"the reference never kept it at one value for more than {_rows(self.stretch_rows)} "
            f"in a row, so a batch of more than {_rows(self.longer_than_rows)}{over} must hold "
            "two values or more"
        )


def variation_rules(
    spec: DatasetSpec, reference: pd.DataFrame, *, skip: frozenset[str] = frozenset()
) -> list[VariationRule]:
    """Each model feature's longest one-value stretch in the reference, in time order."""
    ordered = in_time_order(reference, spec.timestamp)
    times = clock_times(ordered, spec.timestamp)
    rules = []
    for column in spec.model_columns:
        if column in skip:
            continue
        values = ordered[column]
        span = None if times is None else span_seconds(times[values.notna().to_numpy()])
        rules.append(
            VariationRule(column, longest_constant_stretch(values), int(values.notna().sum()), span)
        )
    return rules


def longest_constant_stretch(values: pd.Series) -> int:
    """The most consecutive non-null `values` that hold one value (nulls are passed over)."""
    known = values.dropna()
    if known.empty:
        return 0
    same = known if pd.api.types.is_numeric_dtype(known) else known.astype(str)
    return int(np.bincount(same.ne(same.shift()).to_numpy().cumsum()).max())


def clock_times(frame: pd.DataFrame, timestamp: str | None) -> pd.Series | None:
    """`frame`'s timestamps as times, to measure spans on (None: no timestamp column).

    A timestamp of plain numbers (a day or row index) has no unit to tell time by: spans are
    then not measured, and the must-vary checks count rows alone.
    """
    if not timestamp or timestamp not in frame.columns:
        return None
    values = frame[timestamp]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_datetime64_any_dtype(values):
        return None
    return pd.to_datetime(values, errors="coerce").reset_index(drop=True)


def span_seconds(times: pd.Series) -> float | None:
    """Seconds from the first of `times` to the last (None if none is known)."""
    span = times.max() - times.min()
    return None if pd.isna(span) else float(span / pd.Timedelta(seconds=1))


def must_vary(
    rows: int, seconds: float | None, *, longer_than_rows: int, longer_than_seconds: float | None
) -> bool:
    """Whether a batch of `rows` non-null values spanning `seconds` must hold two values."""
    if rows <= longer_than_rows:
        return False
    return longer_than_seconds is None or (seconds is not None and seconds > longer_than_seconds)


def describe_variation(rules: list[VariationRule]) -> list[str]:
    """The must-vary checks in words: which features must vary in long batches, which need not."""
    checked = [r for r in rules if r.checked]
    exempt = [r for r in rules if not r.checked]
    lines = []
    if checked:
        lines.append(
            f"must vary in a batch longer than {VARIATION_MARGIN}x the reference's longest "
            "stretch of one value (shorter batches may hold one value):"
        )
        for rule in checked:
            seconds = rule.longer_than_seconds
            over = "" if seconds is None else f" over more than {_duration(seconds)}"
            lines.append(f"  {rule.column}: more than {rule.longer_than_rows} rows{over}")
    if exempt:
        lines.append("no must-vary check:")
        lines += [f"  {rule.column}: {rule.reason}" for rule in exempt]
    return lines


def variation_expectations(rules: list[VariationRule]) -> list[Expectation]:
    """A must-vary expectation per checked rule, each with a batch parameter of its own."""
    expectations: list[Expectation] = []
    names: set[str] = set()
    for rule in rules:
        if not rule.checked:
            continue
        # GX reads a parameter's name as an expression: letters, digits and `_` only.
        base = name = "distinct_" + re.sub(r"\W", "_", rule.column, flags=re.ASCII)
        suffix = itertools.count(2)
        while name in names:  # "a b" and "a-b" both read as a_b
            name = f"{base}_{next(suffix)}"
        names.add(name)
        meta = {
            "driftloop": MUST_VARY,
            "longer_than_rows": rule.longer_than_rows,
            "longer_than_seconds": rule.longer_than_seconds,
        }
        expectations.append(
            gxe.ExpectColumnUniqueValueCountToBeBetween(
                column=rule.column,
                min_value={"$PARAMETER": name},
                meta=meta,
                notes=f"Catches a stuck value: {rule.reason} (a shorter one may hold one).",
            )
        )
    return expectations


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} seconds"


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
