from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from model_monitoring.estimate import (
    estimate_divergence,
    estimate_intervals,
    estimate_performance,
    shift_errors,
)
from training.calibration import fit_calibration, fit_confidence_calibration, fit_error_model

IDENTITY = {"x": [0.0, 1.0], "y": [0.0, 1.0]}


def test_estimate_matches_realized_metrics_when_probabilities_are_calibrated() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(2, 2, 20_000)
    y = (rng.random(p.size) < p).astype(int)  # labels drawn from the probabilities: calibrated
    estimate = estimate_performance(p, task="binary", calibration=IDENTITY)
    assert estimate["accuracy"] == pytest.approx(np.mean((p >= 0.5) == y), abs=0.01)
    assert estimate["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=0.01)


def test_calibration_map_is_applied_before_estimating() -> None:
    p = np.full(100, 0.9)
    flattened = {"x": [0.0, 1.0], "y": [0.5, 0.5]}  # the model is no better than a coin
    assert estimate_performance(p, task="binary", calibration=flattened)["accuracy"] == 0.5


def test_multiclass_estimate_is_mean_top_probability() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]])
    assert estimate_performance(proba, task="multiclass", calibration=IDENTITY) == {
        "accuracy": pytest.approx(0.55)
    }


def test_an_overconfident_multiclass_model_is_estimated_by_how_often_it_was_right() -> None:
    rng = np.random.default_rng(3)
    proba = rng.dirichlet([0.3, 0.3, 0.3], 5000)  # peaked, so the top class looks sure
    truth = np.array([rng.choice(3, p=[1 / 3] * 3) for _ in range(5000)])  # but it is a guess
    calibration = fit_confidence_calibration(proba, truth)
    assert calibration is not None
    estimated = estimate_performance(proba, task="multiclass", calibration=calibration)
    assert estimated["accuracy"] == pytest.approx(1 / 3, abs=0.03)
    assert proba.max(axis=1).mean() > 0.6  # the uncalibrated estimate would say far better


def test_regression_error_is_estimated_where_the_batch_predictions_fall() -> None:
    rng = np.random.default_rng(4)
    predicted = rng.uniform(0, 10, 4000)
    truth = predicted + rng.normal(0, 0.1 + predicted / 5, 4000)  # noisier for larger values
    errors = fit_error_model(predicted, truth)
    assert errors is not None
    same = estimate_performance(predicted, task="regression", calibration=errors)
    assert same["mae"] == pytest.approx(np.abs(truth - predicted).mean(), rel=0.02)
    assert same["rmse"] == pytest.approx(np.sqrt(((truth - predicted) ** 2).mean()), rel=0.02)
    shifted = estimate_performance(predicted[predicted > 8], task="regression", calibration=errors)
    assert shifted["mae"] > 1.5 * same["mae"]  # covariate shift into the noisy region is seen


def _covered(task: str, draw, calibration, batches: int = 200) -> float:
    inside = []
    for seed in range(batches):
        scores, realized = draw(np.random.default_rng(seed))
        interval = estimate_intervals(scores, task=task, calibration=calibration)
        inside.append(all(low <= realized[m] <= high for m, (low, high) in interval.items()))
    return float(np.mean(inside))


def test_binary_intervals_cover_the_realized_metrics_when_the_calibration_holds() -> None:
    def draw(rng: np.random.Generator):
        p = rng.beta(2, 2, 1000)
        y = (rng.random(p.size) < p).astype(int)
        return p, {"accuracy": np.mean((p >= 0.5) == y), "roc_auc": roc_auc_score(y, p)}

    # 95% per metric: both inside in about 90% of batches.
    assert 0.85 <= _covered("binary", draw, IDENTITY) <= 0.97


def test_regression_intervals_cover_the_realized_errors() -> None:
    rng = np.random.default_rng(1)
    predicted = rng.normal(size=5000)
    calibration = fit_error_model(predicted, predicted + rng.normal(0, 1 + np.abs(predicted)))
    assert calibration is not None

    def draw(rng: np.random.Generator):
        scores = rng.normal(0.5, 1.0, 800)  # the batch moved, the errors by level did not
        error = rng.normal(0, 1 + np.abs(scores))
        return scores, {"mae": np.abs(error).mean(), "rmse": np.sqrt((error**2).mean())}

    assert 0.85 <= _covered("regression", draw, calibration) <= 0.98


def test_a_small_holdout_widens_the_interval() -> None:
    p = np.random.default_rng(2).beta(2, 2, 5000)
    narrow = estimate_intervals(p, task="binary", calibration={**IDENTITY, "rows": [100_000.0]})
    wide = estimate_intervals(p, task="binary", calibration={**IDENTITY, "rows": [300.0]})
    for metric in ("accuracy", "roc_auc"):
        assert wide[metric][1] - wide[metric][0] > 1.5 * (narrow[metric][1] - narrow[metric][0])


def test_a_calibration_that_fails_when_rows_move_gets_a_shift_error() -> None:
    rng = np.random.default_rng(4)
    rows = 6000
    x, hidden = rng.normal(size=rows), rng.normal(size=rows)
    p = 1 / (1 + np.exp(-3 * x))  # the model sees x only
    # Where `hidden` is high the labels are coin flips: the model is right half the time there.
    chance = np.where(hidden > 0, 0.5, p)
    truth = (rng.random(rows) < chance).astype(int)
    frame = pd.DataFrame({"x": x, "hidden": hidden})

    def realized(picked: np.ndarray) -> dict[str, float]:
        return {"accuracy": float(np.mean((p[picked] >= 0.5) == truth[picked]))}

    def fit(picked: np.ndarray):
        return fit_calibration(p[picked], truth[picked])

    blind = shift_errors(frame, p, realized, task="binary", fit=fit)
    seen = shift_errors(frame[["x"]], p, realized, task="binary", fit=fit)
    # Rows that move along `hidden` change how often the model is right; along x they do not.
    assert blind["shift.accuracy"][0] > 0.02
    assert seen.get("shift.accuracy", [0.0])[0] < blind["shift.accuracy"][0] / 2


def test_a_realized_metric_outside_its_interval_is_a_divergence() -> None:
    interval = {"accuracy": (0.80, 0.84), "roc_auc": (0.85, 0.90)}
    found = estimate_divergence({"accuracy": 0.71, "roc_auc": 0.87}, interval)
    assert found == {"accuracy": "realized 0.7100, estimated interval [0.8000, 0.8400]"}
    assert estimate_divergence({"accuracy": 0.82}, interval) == {}
