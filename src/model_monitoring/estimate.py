"""Estimate a classifier's performance without labels from its calibrated probabilities.

Confidence-based performance estimation (as in NannyML's CBPE): if probabilities are calibrated,
each row is a positive with probability p, so the expected confusion matrix at any threshold, and
from it accuracy and ROC AUC, follow without labels. It sees covariate shift (the model grows
less confident) but not pure concept drift, where the model stays confident and wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

ESTIMATE_CAVEAT = (
    "estimated from calibrated probabilities without labels: it reflects covariate shift, "
    "not pure concept drift (a model confidently wrong looks healthy)"
)


def calibrate(raw: np.ndarray, calibration: dict[str, list[float]]) -> np.ndarray:
    """Map raw P(positive) through the isotonic calibration fitted on the holdout."""
    return np.interp(raw, calibration["x"], calibration["y"])


def estimate_performance(
    scores: Any, *, task: str, calibration: dict[str, list[float]]
) -> dict[str, float]:
    """Expected accuracy (and ROC AUC for binary) of the model on an unlabelled batch.

    Args:
        scores: P(positive) per row (binary) or class probabilities (multiclass).
        task: "binary" or "multiclass".
        calibration: Isotonic map {"x": raw scores, "y": calibrated} (binary); for multiclass the
            probabilities are used as they are.

    Returns:
        {"accuracy": ..., "roc_auc": ...} (ROC AUC for binary only).
    """
    if task == "multiclass":
        proba = np.asarray(pd.DataFrame(scores), dtype="float64")
        return {"accuracy": float(proba.max(axis=1).mean())}
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
