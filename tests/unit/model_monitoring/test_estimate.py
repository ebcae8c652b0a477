from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from model_monitoring.estimate import estimate_performance

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
