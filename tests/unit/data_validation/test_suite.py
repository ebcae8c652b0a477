from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from config.spec import DatasetSpec, FeatureSpec, Task
from data_validation.suite import (
    UNSEEN_CATEGORY_FLOOR,
    VariationRule,
    build_suites,
    describe_variation,
    longest_constant_stretch,
    must_vary,
    unseen_allowance,
    variation_expectations,
    variation_rules,
)
from factories import make_frame, toy_spec
from runs.derived import derive

DAY = 86_400.0


def test_a_column_whose_stream_keeps_adding_values_is_allowed_new_ones() -> None:
    # Month after month, about one row in ten names a merchant the past never had.
    rng = np.random.default_rng(0)
    merchants = [
        f"new-{i}" if rng.random() < 0.1 else f"shop-{rng.integers(0, 20)}" for i in range(1000)
    ]
    allowance = unseen_allowance(pd.Series(merchants))
    assert 0.15 < allowance < 0.3


def test_a_five_level_column_gets_the_floor() -> None:
    levels = pd.Series(np.random.default_rng(1).choice(list("abcde"), 1000))
    assert unseen_allowance(levels) == UNSEEN_CATEGORY_FLOOR


def test_the_suite_measures_the_stream_in_time_order_not_file_order() -> None:
    # New codes arrive over time; the file is stored newest first.
    codes = [f"c{i // 10}" for i in range(500)]
    frame = pd.DataFrame({"t": range(500), "code": codes, "y": [0, 1] * 250}).iloc[::-1]
    spec = DatasetSpec(
        name="s",
        task=Task.BINARY,
        target="y",
        timestamp="t",
        features=FeatureSpec(categorical=("code",)),
        reference="r.parquet",
        incoming="in",
    )
    [labelled, _] = build_suites(spec, frame)
    [in_set] = [
        e
        for e in labelled.expectations
        if e.expectation_type.endswith("be_in_set") and getattr(e, "column", None) == "code"
    ]
    assert in_set.mostly < 0.9  # one new code in every ten rows, doubled


def test_the_longest_one_value_stretch_passes_over_nulls() -> None:
    assert longest_constant_stretch(pd.Series([1.0, 1.0, np.nan, 1.0, 2.0, 2.0])) == 3
    assert longest_constant_stretch(pd.Series(["a", "b", "b"], dtype="category")) == 2
    assert longest_constant_stretch(pd.Series([np.nan])) == 0


def test_a_monthly_date_part_must_vary_only_in_batches_over_two_months(daily_spec, daily) -> None:
    reference = daily("2023-01-01", "2025-01-01")
    rules = {r.column: r for r in variation_rules(daily_spec, reference)}
    month = rules["month"]
    assert (month.stretch_rows, month.reference_rows) == (31, 731)
    assert month.reference_seconds == 730 * DAY
    assert month.checked and month.longer_than_rows == 62
    assert month.longer_than_seconds == pytest.approx(62 * DAY, rel=0.01)
    assert "y" not in rules  # the target is not a feature
    limits = {"longer_than_rows": 62, "longer_than_seconds": month.longer_than_seconds}
    assert not must_vary(31, 30 * DAY, **limits)
    # An hourly feed of one month has the rows but not the time to leave the month.
    assert not must_vary(744, 31 * DAY, **limits)
    assert must_vary(91, 90 * DAY, **limits)


def test_without_a_timestamp_the_must_vary_check_counts_rows_only() -> None:
    assert not must_vary(4, None, longer_than_rows=4, longer_than_seconds=None)
    assert must_vary(5, None, longer_than_rows=4, longer_than_seconds=None)


def test_one_row_never_has_to_vary() -> None:
    # Every stretch holds at least one row, so the smallest batch that must vary has three.
    rule = VariationRule("x", stretch_rows=1, reference_rows=600, reference_seconds=None)
    assert rule.longer_than_rows == 2
    assert not must_vary(1, None, longer_than_rows=2, longer_than_seconds=None)


def test_a_column_the_reference_held_at_one_value_too_long_gets_no_must_vary_check(
    tmp_path,
) -> None:
    spec = toy_spec(tmp_path)
    reference = make_frame(600, seed=1).assign(x2=np.repeat([0.0, 1.0], [400, 200]))
    rules = {r.column: r for r in variation_rules(spec, reference)}
    assert not rules["x2"].checked and rules["x1"].checked and rules["colour"].checked
    [labelled, _] = build_suites(spec, reference)
    varying = [
        e
        for e in labelled.expectations
        if e.expectation_type.endswith("unique_value_count_to_be_between")
    ]
    assert [e.column for e in varying] == ["x1", "colour"]
    assert varying[0].min_value == {"$PARAMETER": "distinct_x1"}
    assert "never kept it at one value for more than 1 row in a row" in varying[0].notes
    lines = describe_variation(list(rules.values()))
    assert lines[1].startswith("  x1: more than 2 rows")
    assert lines[-2:] == [
        "no must-vary check:",
        "  x2: the reference kept it at one value for 400 of its 600 rows in a row: no batch "
        "is long enough to tell",
    ]


def test_a_lag_of_the_target_need_not_vary_in_unlabelled_batches(daily_spec, daily) -> None:
    # Without labels, a lag of the target is known only where the accepted history reaches.
    raw = daily_spec.model_dump()
    raw["derived"] = {**raw["derived"], "y_lag_1": {"lag": "y", "periods": 1}}
    spec = DatasetSpec.model_validate(raw)
    labelled, unlabelled = build_suites(spec, derive(daily("2023-01-01", "2025-01-01"), spec))

    def varying(suite) -> set[str]:
        return {
            e.column
            for e in suite.expectations
            if e.expectation_type == "expect_column_unique_value_count_to_be_between"
        }

    assert varying(labelled) == {"temp", "month", "y_lag_1"}
    assert varying(unlabelled) == {"temp", "month"}


def test_columns_whose_names_read_alike_get_a_parameter_each() -> None:
    # "a-b" and "a b" both read as a_b, and "a_b_2" is the first name a suffix would give.
    rules = [VariationRule(column, 1, 100, None) for column in ("a_b_2", "a-b", "a b")]
    names = [e.min_value["$PARAMETER"] for e in variation_expectations(rules)]
    assert sorted(names) == ["distinct_a_b", "distinct_a_b_2", "distinct_a_b_3"]
