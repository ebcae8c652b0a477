from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

from evaluation.metrics import bootstrap_interval

Z_975 = stats.norm.ppf(0.975)


def _mean_and_median(values: np.ndarray):
    def statistic(index: np.ndarray) -> np.ndarray:
        return np.array([values[index].mean(), np.median(values[index])])

    return statistic


def _binned_auc(labels: np.ndarray, bins: np.ndarray, n_bins: int):
    # Exact AUC (ties count half) of integer-binned scores in O(n): sklearn's sort-based AUC
    # would make a full 200k-row bootstrap too slow for a unit test.
    def statistic(index: np.ndarray) -> np.ndarray:
        drawn = bins[index]
        pos = np.bincount(drawn, weights=labels[index], minlength=n_bins)
        neg = np.bincount(drawn, minlength=n_bins) - pos
        below = np.cumsum(neg) - neg
        return np.array([(pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum())])

    return statistic


def _auc_data(n: int):
    rng = np.random.default_rng(4)
    x = rng.normal(size=n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype("float64")
    bins = np.clip(np.round((x + 5) * 100), 0, 999).astype("int64")
    return labels, bins


def test_bootstrap_below_the_cap_is_scipys_percentile_bootstrap() -> None:
    values = np.random.default_rng(0).exponential(size=400)
    statistic = _mean_and_median(values)
    lows, highs = bootstrap_interval(400, statistic, resamples=500, level=0.9, seed=5, max_rows=400)
    expected = stats.bootstrap(
        (np.arange(400),),
        statistic,
        n_resamples=500,
        vectorized=False,
        confidence_level=0.9,
        method="percentile",
        rng=np.random.default_rng(5),
    ).confidence_interval
    np.testing.assert_array_equal(lows, expected.low)
    np.testing.assert_array_equal(highs, expected.high)


def test_bootstrap_above_the_cap_matches_the_analytic_width_of_a_mean() -> None:
    values = np.random.default_rng(1).normal(3.0, 2.0, 200_000)
    lows, highs = bootstrap_interval(
        len(values),
        lambda index: np.array([values[index].mean()]),
        resamples=1000,
        level=0.95,
        seed=2,
        max_rows=20_000,
    )
    analytic = 2 * Z_975 * values.std() / np.sqrt(len(values))
    assert lows[0] < values.mean() < highs[0]
    assert abs((highs[0] - lows[0]) / analytic - 1) < 0.15


def test_bootstrap_above_the_cap_gives_an_auc_interval_as_wide_as_the_full_bootstrap() -> None:
    labels, bins = _auc_data(200_000)
    statistic = _binned_auc(labels, bins, 1000)
    full_auc = statistic(np.arange(len(labels)))[0]
    assert np.isclose(full_auc, roc_auc_score(labels, bins))

    low, high = bootstrap_interval(
        len(labels), statistic, resamples=500, level=0.95, seed=3, max_rows=20_000
    )
    full_low, full_high = bootstrap_interval(
        len(labels), statistic, resamples=100, level=0.95, seed=3, max_rows=len(labels)
    )
    assert low[0] < full_auc < high[0]
    assert abs((high[0] - low[0]) / (full_high[0] - full_low[0]) - 1) < 0.25


def test_bootstrap_above_the_cap_reproduces_with_the_same_seed() -> None:
    values = np.random.default_rng(6).exponential(size=5000)
    statistic = _mean_and_median(values)

    def interval(seed: int):
        return bootstrap_interval(
            5000, statistic, resamples=200, level=0.9, seed=seed, max_rows=500
        )

    first, again, other = interval(8), interval(8), interval(9)
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    assert not np.array_equal(np.stack(first), np.stack(other))


def test_bootstrap_above_the_cap_leaves_a_component_undefined_in_a_draw_unbounded() -> None:
    flags = np.zeros(5000)
    flags[:3] = 1.0  # 3 positives in 5000: most 500-row draws hold none

    def statistic(index: np.ndarray) -> np.ndarray:
        drawn = flags[index]
        return np.array([drawn.mean(), drawn.mean() / drawn.max() if drawn.max() else np.nan])

    lows, highs = bootstrap_interval(
        5000, statistic, resamples=100, level=0.9, seed=1, max_rows=500
    )
    assert np.isfinite(lows[0]) and np.isfinite(highs[0])
    assert np.isnan(lows[1]) and np.isnan(highs[1])
