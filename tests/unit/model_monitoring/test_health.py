from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.metrics import compute_metrics
from factories import make_frame
from model_monitoring.health import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, with_model_health
from model_monitoring.measures import DriftSummary, ModelScores


def _empty_summary(rows: int) -> DriftSummary:
    return DriftSummary(
        columns=(),
        drifted_count=0,
        drifted_share=0.0,
        corrected_count=0,
        corrected_share=0.0,
        drift_detected=False,
        prediction=None,
        realized={},
        reference_rows=rows,
        current_rows=rows,
    )


def _health(batch: pd.DataFrame, **kwargs) -> DriftSummary:
    scores = ModelScores(
        reference=None,
        current=1 / (1 + np.exp(-2 * batch.x1)),
        task="binary",
        classes=[0, 1],
    )
    return with_model_health(
        _empty_summary(len(batch)),
        batch,
        "y",
        scores=scores,
        watch=("roc_auc", "accuracy"),
        labelled=True,
        **kwargs,
    )


def test_health_intervals_below_the_row_cap_are_the_bootstrap_of_compute_metrics() -> None:
    batch = make_frame(200, seed=2, shift=1.0)
    summary = _health(batch)
    scores = np.asarray(1 / (1 + np.exp(-2 * batch.x1)))
    names = ["roc_auc", "accuracy"]

    def statistic(index: np.ndarray) -> np.ndarray:
        sample = batch.y.iloc[index].reset_index(drop=True)
        scored = compute_metrics("binary", sample, scores[index], [0, 1], only=names)
        return np.array([scored[m] for m in names])

    expected = stats.bootstrap(
        (np.arange(len(batch)),),
        statistic,
        n_resamples=BOOTSTRAP_RESAMPLES,
        vectorized=False,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    ).confidence_interval
    # The same draws; the metrics of a draw are computed another way, equal up to float rounding.
    for i, metric in enumerate(names):
        low, high = summary.realized_interval[metric]
        assert (low, high) == pytest.approx((expected.low[i], expected.high[i]), abs=1e-12)


def test_health_intervals_above_the_row_cap_contain_the_realized_metrics() -> None:
    summary = _health(make_frame(5000, seed=2, shift=1.0), max_rows=1000)
    assert set(summary.realized_interval) == {"roc_auc", "accuracy"}
    for metric, (low, high) in summary.realized_interval.items():
        assert low < summary.realized[metric] < high


def test_a_metric_undefined_in_some_resample_gets_no_interval() -> None:
    batch = make_frame(300, seed=2).assign(y=0)
    batch.loc[:1, "y"] = 1  # two positives: some resamples draw neither
    summary = _health(batch)
    assert "roc_auc" in summary.realized and "roc_auc" not in summary.realized_interval
    assert "accuracy" in summary.realized_interval


def test_labels_that_stopped_following_the_models_confidence_are_a_divergence() -> None:
    rng = np.random.default_rng(9)
    batch = pd.DataFrame({"x1": rng.normal(size=2000)})
    p = 1 / (1 + np.exp(-2 * batch.x1))
    calibrated = {"x": [0.0, 1.0], "y": [0.0, 1.0], "rows": [5000.0]}
    scores = ModelScores(
        reference=None, current=p, task="binary", classes=[0, 1], calibration=calibrated
    )

    def health(y: np.ndarray) -> DriftSummary:
        return with_model_health(
            _empty_summary(len(batch)),
            batch.assign(y=y),
            "y",
            scores=scores,
            watch=("roc_auc", "accuracy"),
            labelled=True,
        )

    same = health((rng.random(len(p)) < p).astype(int))
    assert set(same.estimated_interval) == {"roc_auc", "accuracy"} and same.divergence == {}
    flipped = health((rng.random(len(p)) >= p).astype(int))  # the concept turned around
    assert set(flipped.divergence) == {"roc_auc", "accuracy"}
    assert flipped.estimated == {}  # labelled: the estimate checks, realized metrics decide
