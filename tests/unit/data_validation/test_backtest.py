from __future__ import annotations

import numpy as np

from config.spec import DatasetSpec
from data_validation.backtest import backtest_suite
from data_validation.suite import build_suites, trending_columns, worst_null_share
from factories import make_frame


def test_a_steady_reference_passes_its_own_backtest(spec: DatasetSpec) -> None:
    trial = backtest_suite(spec, make_frame(1000, seed=5))
    assert (trial.batches, trial.rejected, trial.false_rejection_rate) == (5, 0, 0.0)


def test_a_trending_column_gets_no_range_and_the_suite_accepts_its_newer_rows(spec) -> None:
    frame = make_frame(1000, seed=6)
    # Growing tenfold every 230 rows: the newer rows leave even the widened reference range.
    frame["x2"] = np.exp(np.linspace(0, 10, 1000))
    assert trending_columns(spec, frame) == ["x2"]
    trial = backtest_suite(spec, frame)
    assert (trial.batches, trial.rejected) == (5, 0)
    ranges = [
        e
        for e in build_suites(spec, frame)[0].expectations
        if e.expectation_type == "expect_column_values_to_be_between"
    ]
    assert {e.column for e in ranges} == {"x1"}


def test_the_backtest_shows_a_column_that_starts_going_missing(spec) -> None:
    frame = make_frame(1000, seed=6)
    frame.loc[800:, "x2"] = np.nan  # never missing in the older rows, then a fifth of them
    trial = backtest_suite(spec, frame)
    assert trial.batches == 5 and trial.rejected >= 3 and trial.false_rejection_rate >= 0.6
    assert any(
        failure.startswith("[x2] expect_column_values_to_not_be_null") for failure in trial.broken
    )


def test_null_allowance_follows_the_worst_stretch_of_the_reference(spec) -> None:
    frame = make_frame(1000, seed=6)
    frame.loc[100:179, "x2"] = np.nan  # 8% of all rows, 80% of one stretch of a hundred
    assert worst_null_share(frame["x2"]) == 0.8
    nulls = {
        e.column: e.mostly
        for e in build_suites(spec, frame)[0].expectations
        if e.expectation_type == "expect_column_values_to_not_be_null"
    }
    assert nulls["x2"] == 0.15 and nulls["x1"] == 0.95
