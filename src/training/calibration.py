"""What a model's holdout says about its errors, stored with it for label-free estimates.

Binary: an isotonic map from P(positive) to the observed frequency. Multiclass: the same from
the top class's probability to how often the top class is right. Regression: the absolute and
squared error by bin of the prediction (a direct loss estimate conditioned on the output).
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

MIN_ROWS = 50
# Bins of the prediction a regression's errors are averaged over (fewer on a small holdout).
ERROR_BINS = 10


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> dict[str, list[float]] | None:
    """Fit an isotonic map from raw P(positive) to observed frequency.

    Args:
        scores: The model's raw P(positive) on the holdout.
        labels: The holdout's labels as 0/1.

    Returns:
        {"x": raw thresholds, "y": calibrated values} for `np.interp` and {"rows": [holdout
        rows]} (the estimate's interval widens with a small holdout), or None when the holdout
        is too small or has one class.
    """
    if len(scores) < MIN_ROWS or len(np.unique(labels)) < 2:  # noqa: PLR2004 - two classes
        return None
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    iso.fit(np.asarray(scores, dtype="float64"), np.asarray(labels, dtype="float64"))
    return {
        "x": iso.X_thresholds_.tolist(),
        "y": iso.y_thresholds_.tolist(),
        "rows": [float(len(scores))],
    }


def fit_confidence_calibration(
    probabilities: np.ndarray, labels: np.ndarray
) -> dict[str, list[float]] | None:
    """Fit an isotonic map from the top class's probability to how often it is right.

    Args:
        probabilities: The model's class probabilities on the holdout (rows x classes).
        labels: The holdout's labels as class positions.

    Returns:
        {"x": ..., "y": ...} for `np.interp`, or None when the holdout is too small.
    """
    proba = np.asarray(probabilities, dtype="float64")
    if len(proba) < MIN_ROWS:
        return None
    right = (proba.argmax(axis=1) == np.asarray(labels)).astype("float64")
    return fit_calibration(proba.max(axis=1), right) if 0 < right.mean() < 1 else None


def fit_error_model(predictions: np.ndarray, truth: np.ndarray) -> dict[str, list[float]] | None:
    """Mean absolute and squared error of a regression by quantile bin of its prediction.

    Returns:
        {"edges": inner bin edges, "abs": mean |error| per bin, "sq": mean error^2 per bin,
        "q4": mean error^4 per bin, "rows": holdout rows per bin} (the last two size the
        estimate's interval), or None when the holdout is too small.
    """
    predicted = np.asarray(predictions, dtype="float64")
    error = predicted - np.asarray(truth, dtype="float64")
    if len(predicted) < MIN_ROWS:
        return None
    bins = max(1, min(ERROR_BINS, len(predicted) // (MIN_ROWS // 2)))
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, bins + 1)[1:-1]))
    where = np.searchsorted(edges, predicted, side="right")
    members = [where == g for g in range(len(edges) + 1)]
    # A bin no holdout row fell in (ties at an edge) takes the holdout's overall error.
    return {
        "edges": edges.tolist(),
        "abs": [_mean(np.abs(error), m) for m in members],
        "sq": [_mean(error**2, m) for m in members],
        "q4": [_mean(error**4, m) for m in members],
        "rows": [float(m.sum()) for m in members],
    }


def _mean(values: np.ndarray, member: np.ndarray) -> float:
    return float(values[member].mean() if member.any() else values.mean())
