from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from config.spec import DatasetSpec
from evaluation.baselines import score_baselines
from evaluation.holdout import over_classes
from evaluation.metrics import compute_metrics

SPEC = DatasetSpec.model_validate(
    {
        "name": "co2",
        "task": "regression",
        "target": "co2_change",
        "features": {},
        "reference": "r.csv",
        "incoming": "in",
        "derived": {"co2_lag_1": {"lag": "co2"}, "co2_change": {"diff": "co2"}},
    }
)


def test_baselines_score_the_first_model_and_no_change_on_labelled_batches() -> None:
    labelled = pd.DataFrame({"co2_lag_1": [1.0, 2.0, 3.0], "co2_change": [1.0, -1.0, 2.0]})
    unlabelled = pd.DataFrame({"co2_lag_1": [4.0]})
    found = score_baselines(
        {"b1": labelled, "b2": unlabelled},
        SPEC,
        metric="rmse",
        first=lambda frame: np.full(len(frame), 0.5),
        classes=[],
    )
    assert found.never_retrained == {"b1": pytest.approx(np.sqrt((0.25 + 2.25 + 2.25) / 3))}
    assert found.last_value == {"b1": pytest.approx(np.sqrt(2.0))}


def test_a_label_the_model_never_saw_counts_as_an_error() -> None:
    truth = pd.Series(["sun", "snow", "sun"])
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    found = compute_metrics("multiclass", truth, scores, ["sun", "fog"], only="accuracy")
    assert found["accuracy"] == pytest.approx(1 / 3)


def test_two_models_with_different_classes_are_compared_over_all_of_them() -> None:
    aligned = over_classes(np.array([[0.2, 0.8]]), ["fog", "sun"], ["fog", "snow", "sun"])
    assert aligned.columns.tolist() == ["fog", "snow", "sun"]
    assert aligned.iloc[0].tolist() == [0.2, 0.0, 0.8]
