"""Calibrate a binary model's probabilities on its holdout, for label-free estimates."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

MIN_ROWS = 50


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> dict[str, list[float]] | None:
    """Fit an isotonic map from raw P(positive) to observed frequency.

    Args:
        scores: The model's raw P(positive) on the holdout.
        labels: The holdout's labels as 0/1.

    Returns:
        {"x": raw thresholds, "y": calibrated values} for `np.interp`, or None when the holdout
        is too small or has one class.
    """
    if len(scores) < MIN_ROWS or len(np.unique(labels)) < 2:  # noqa: PLR2004 - two classes
        return None
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(np.asarray(scores, dtype="float64"), np.asarray(labels, dtype="float64"))
    return {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
