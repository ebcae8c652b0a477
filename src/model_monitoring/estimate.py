"""Estimate a model's performance without labels, from what its holdout said about its errors.

Classifiers: confidence-based performance estimation (as in NannyML's CBPE). If probabilities
are calibrated, each row is a positive with probability p (binary), or its top class is right
with the calibrated confidence (multiclass), so the expected accuracy and ROC AUC follow without
labels. Regression: direct loss estimation, with the holdout's mean absolute and squared error
at each level of the prediction. Both see covariate shift (rows move to where the model is less
sure or less accurate) but not pure concept drift, where the model stays confident and wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

ESTIMATE_CAVEAT = (
    "estimated without labels: it reflects covariate shift, not pure concept drift (a model "
    "confidently wrong looks healthy)"
)
ESTIMATE_METHODS = {
    "binary": "confidence-based (calibrated P(positive) on the holdout)",
    "multiclass": "confidence-based (calibrated top-class confidence on the holdout)",
    "regression": "direct loss estimation (holdout error by level of the prediction)",
}


def calibrate(raw: np.ndarray, calibration: dict[str, list[float]]) -> np.ndarray:
    """Map raw P(positive) through the isotonic calibration fitted on the holdout."""
    return np.interp(raw, calibration["x"], calibration["y"])


def estimate_performance(
    scores: Any, *, task: str, calibration: dict[str, list[float]]
) -> dict[str, float]:
    """The model's expected metrics on an unlabelled batch.

    Args:
        scores: P(positive) per row (binary), class probabilities (multiclass) or values.
        task: "binary", "multiclass" or "regression".
        calibration: Isotonic map {"x", "y"} of P(positive) (binary) or of the top class's
            probability (multiclass); error by bin {"edges", "abs", "sq"} (regression).

    Returns:
        {"accuracy", "roc_auc"} (binary), {"accuracy"} (multiclass), {"mae", "rmse"} (regression).
    """
    if task == "regression":
        where = np.searchsorted(calibration["edges"], np.asarray(scores, dtype="float64"), "right")
        absolute, squared = np.asarray(calibration["abs"]), np.asarray(calibration["sq"])
        return {"mae": float(absolute[where].mean()), "rmse": float(np.sqrt(squared[where].mean()))}
    if task == "multiclass":
        proba = np.asarray(pd.DataFrame(scores), dtype="float64")
        right = np.clip(calibrate(proba.max(axis=1), calibration), 0.0, 1.0)
        return {"accuracy": float(right.mean())}
    p = np.clip(calibrate(np.asarray(scores, dtype="float64"), calibration), 0.0, 1.0)
    accuracy = float(np.mean(np.where(p >= 0.5, p, 1 - p)))  # noqa: PLR2004 - decision threshold
    return {"accuracy": accuracy, "roc_auc": _expected_roc_auc(p)}


def _expected_roc_auc(p: np.ndarray) -> float:
    order = np.argsort(-p, kind="stable")
    ranked = p[order]
    positives, negatives = ranked.sum(), (1 - ranked).sum()
    if positives <= 0 or negatives <= 0:
        return float("nan")
    tpr = np.concatenate([[0.0], np.cumsum(ranked) / positives])
    fpr = np.concatenate([[0.0], np.cumsum(1 - ranked) / negatives])
    return float(np.trapezoid(tpr, fpr))
