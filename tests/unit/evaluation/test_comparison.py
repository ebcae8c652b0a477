from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.comparison import compare_on_holdout, metric_intervals
from evaluation.metrics import bootstrap_interval, compute_metrics, improvement, metrics_from_codes


def _regression(n: int):
    rng = np.random.default_rng(3)
    y = pd.Series(rng.normal(size=n))
    return y, y + rng.normal(0, 0.3, n), y + rng.normal(0, 0.35, n)


def _binary(n: int):
    rng = np.random.default_rng(5)
    x = rng.normal(size=n)
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype("int64"))
    return y, 1 / (1 + np.exp(-2 * x - rng.normal(0, 0.5, n)))


def test_paired_bounds_above_the_row_cap_match_the_full_bootstrap() -> None:
    y, good, bad = _regression(8000)

    def rmse_gain(max_rows: int):
        return compare_on_holdout(
            y,
            good,
            bad,
            task="regression",
            classes=[],
            metrics=["rmse"],
            confidence=0.95,
            resamples=300,
            max_rows=max_rows,
        )["rmse"]

    capped, full = rmse_gain(1000), rmse_gain(len(y))
    assert capped.gain == full.gain
    assert 0 < capped.low < capped.gain < capped.high
    width, full_width = capped.high - capped.low, full.high - full.low
    assert abs(width / full_width - 1) < 0.25


@pytest.mark.parametrize("max_rows", [3000, 1000], ids=["full", "capped"])
def test_paired_bounds_are_the_bootstrap_of_sklearns_metrics_on_each_draw(max_rows: int) -> None:
    y, good = _binary(3000)
    good = np.round(good, 2)  # ties between positives and negatives
    bad = np.clip(good + np.random.default_rng(8).normal(0, 0.1, len(y)), 0.0, 1.0)
    names = ["roc_auc", "accuracy", "log_loss"]
    truth = y.to_numpy()

    def sklearn_gains(index: np.ndarray) -> np.ndarray:
        ours = metrics_from_codes("binary", truth[index], good[index], 2, only=names)
        theirs = metrics_from_codes("binary", truth[index], bad[index], 2, only=names)
        return np.array([improvement(m, ours[m], theirs[m]) for m in names])

    # 90% for the three together: each metric's one-sided bounds at 1 - 0.1 / 3.
    lows, highs = bootstrap_interval(
        len(y), sklearn_gains, resamples=200, level=1 - 2 * 0.1 / 3, seed=4, max_rows=max_rows
    )
    result = compare_on_holdout(
        y,
        good,
        bad,
        task="binary",
        classes=[0, 1],
        metrics=names,
        confidence=0.9,
        resamples=200,
        seed=4,
        max_rows=max_rows,
    )
    for i, metric in enumerate(names):
        assert result[metric].confidence == pytest.approx(1 - 0.1 / 3)
        assert result[metric].low == pytest.approx(lows[i], abs=1e-12)
        assert result[metric].high == pytest.approx(highs[i], abs=1e-12)


def test_metric_intervals_above_the_row_cap_contain_the_full_data_metrics() -> None:
    y, scores = _binary(6000)
    point = compute_metrics("binary", y, scores, [0, 1])
    intervals = metric_intervals(
        y, scores, task="binary", classes=[0, 1], metrics=["roc_auc", "accuracy"], max_rows=1000
    )
    assert set(intervals) == {"roc_auc", "accuracy"}
    for metric, (low, high) in intervals.items():
        assert low < point[metric] < high
        assert high - low < 0.05  # rescaled to 6000 rows, not as wide as a 1000-row sample
