"""Model metrics per task, and which direction is better."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def compute_metrics(
    task: str, y_true: pd.Series, scores: Any, classes: list[Any]
) -> dict[str, float]:
    """Score predictions against labels.

    Args:
        task: "binary", "multiclass" or "regression".
        y_true: Labels, in the original label values.
        scores: What the model returns: P(positive), class probabilities, or values.
        classes: The label values in model order (empty for regression).

    Returns:
        Metric name to value; metrics undefined for this data (ROC AUC on one class) are left out.
    """
    if task == "regression":
        y = y_true.to_numpy(dtype="float64")
        pred = np.asarray(scores, dtype="float64")
        return {
            "rmse": float(np.sqrt(skm.mean_squared_error(y, pred))),
            "mae": float(skm.mean_absolute_error(y, pred)),
            "r2": float(skm.r2_score(y, pred)),
        }
    codes = encode_labels(y_true, classes)
    if task == "binary":
        proba = np.column_stack([1 - np.asarray(scores), np.asarray(scores)])
    else:
        proba = np.asarray(scores)
    predicted = proba.argmax(axis=1)
    out = {
        "accuracy": float(skm.accuracy_score(codes, predicted)),
        "log_loss": float(skm.log_loss(codes, proba, labels=list(range(len(classes))))),
    }
    if task == "binary":
        out["f1"] = float(skm.f1_score(codes, predicted, zero_division=0))
    if len(np.unique(codes)) > 1:
        # With two classes sklearn wants P(second class), not the n x 2 matrix.
        auc_input = proba[:, 1] if proba.shape[1] == 2 else proba  # noqa: PLR2004 - see above
        out["roc_auc"] = float(
            skm.roc_auc_score(codes, auc_input, multi_class="ovr", labels=list(range(len(classes))))
        )
    return out


def encode_labels(y_true: pd.Series, classes: list[Any]) -> np.ndarray:
    """Map label values to model class indices; an unknown label is an error."""
    lookup = {str(value): index for index, value in enumerate(classes)}
    as_text = y_true.astype("string")
    unknown = sorted(set(as_text.dropna()) - set(lookup))
    if unknown:
        raise ValueError(f"labels {unknown[:5]} were not seen in training (known: {list(lookup)})")
    return as_text.map(lookup).to_numpy(dtype="int64")
