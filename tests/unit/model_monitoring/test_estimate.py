from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from model_monitoring.estimate import estimate_performance
from training.calibration import fit_confidence_calibration, fit_error_model

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
