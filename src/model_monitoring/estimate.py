"""Estimate a model's performance without labels, from what its holdout said about its errors.

Classifiers: confidence-based performance estimation (as in NannyML's CBPE). If probabilities
are calibrated, each row is a positive with probability p (binary), or its top class is right
with the calibrated confidence (multiclass), so the expected accuracy and ROC AUC follow without
labels. Regression: direct loss estimation, with the holdout's mean absolute and squared error
at each level of the prediction. Both see covariate shift (rows move to where the model is less
sure or less accurate) but not pure concept drift, where the model stays confident and wrong.

Each estimate comes with an interval: where the realized metric should land once the batch's
labels arrive, if the holdout still describes the model's errors. Two sources of error are
combined: the labels this batch will turn out to have (drawn as the calibration says: its
spread shrinks with the batch's size), the calibration's own error (it was fitted on a
finite holdout: its spread shrinks with the holdout's size), and how wrong the calibration
turns out when rows move (`shift_errors`: measured at training time, on half the holdout
reweighted along each numeric feature, with a calibration fitted on the other half). A
realized metric outside its interval is the sign of what the estimate cannot see
(`estimate_divergence`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

ESTIMATE_CAVEAT = (
    "estimated without labels: it reflects covariate shift, not pure concept drift (a model "
    "confidently wrong looks healthy)"
)
DIVERGENCE_MEANS = (
    "the model's errors no longer follow its confidence: concept drift, which a label-free "
    "estimate cannot see"
)
ESTIMATE_METHODS = {
    "binary": "confidence-based (calibrated P(positive) on the holdout)",
    "multiclass": "confidence-based (calibrated top-class confidence on the holdout)",
    "regression": "direct loss estimation (holdout error by level of the prediction)",
}


INTERVAL_LEVEL = 0.95
# ROC AUC's spread is simulated: labels drawn from the calibrated P(positive) on at most this
# many of the batch's rows, the spread then rescaled to the batch's size.
SIMULATED_ROWS = 20_000
SIMULATIONS = 200
SIMULATION_SEED = 13
# The training-time shift replays: rows of the holdout used, features reweighted, strengths.
SHIFT_ROWS = 20_000
SHIFT_FEATURES = 8
SHIFT_STRENGTHS = (-2.0, -1.0, 1.0, 2.0)
SHIFT_SEED = 17
SHIFT_PREFIX = "shift."


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


def estimate_intervals(
    scores: Any,
    *,
    task: str,
    calibration: dict[str, list[float]],
    level: float = INTERVAL_LEVEL,
) -> dict[str, tuple[float, float]]:
    """Where each estimated metric's realized value should fall, at `level` (two-sided).

    The spread is the batch's (labels drawn as the calibration says: analytic for accuracy,
    MAE and RMSE, simulated for ROC AUC) and the holdout's (the calibration is an average over
    its rows) added in quadrature; a calibration saved without its holdout's size (models
    trained before it was recorded) gives the batch's spread alone.

    Returns:
        Metric name to (low, high), for the metrics `estimate_performance` returns.
    """
    point, width = _estimate_with_spread(scores, task=task, calibration=calibration)
    z = float(stats.norm.ppf(0.5 + level / 2))
    return {
        m: (point[m] - z * width[m], point[m] + z * width[m])
        for m in point
        if math.isfinite(point[m]) and math.isfinite(width[m])
    }


def _estimate_with_spread(
    scores: Any, *, task: str, calibration: dict[str, list[float]]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each metric's estimate, and the standard deviation of its realized value around it."""
    point = estimate_performance(scores, task=task, calibration=calibration)
    spread = _spreads(scores, task, calibration, point)
    shift = {m: calibration.get(SHIFT_PREFIX + m, [0.0])[0] for m in point}
    return point, {m: math.hypot(spread.get(m, math.nan), shift[m]) for m in point}


def shift_errors(
    numeric: pd.DataFrame,
    scores: Any,
    realized: Callable[[np.ndarray], dict[str, float]],
    *,
    task: str,
    fit: Callable[[np.ndarray], dict[str, list[float]] | None],
) -> dict[str, list[float]]:
    """How far estimates miss when rows move, beyond what chance explains (at training time).

    The holdout's rows alternate between two halves (it is in time order: both span it). A
    calibration is fitted on the first; the second is resampled with weights exp(s * z) along
    each numeric feature (z its standardized values, s in `SHIFT_STRENGTHS`), as a batch whose
    rows moved would be, and each resample's estimate is set beside its realized metric. The
    mean squared miss less the spread `estimate_intervals` already allows for is the variance
    left to the calibration's blind spot.

    Args:
        numeric: The holdout's numeric features.
        scores: The model's scores on the holdout (as `estimate_performance` takes).
        realized: Maps holdout row positions to the metrics realized on them.
        task: "binary", "multiclass" or "regression".
        fit: Fits a calibration on the holdout rows at the given positions.

    Returns:
        {"shift.<metric>": [standard deviation]} for `estimate_intervals`; empty when the
        holdout is too small or has no numeric feature.
    """
    rng = np.random.default_rng(SHIFT_SEED)
    rows = np.arange(len(numeric))
    if len(rows) > SHIFT_ROWS:
        rows = np.sort(rng.choice(rows, size=SHIFT_ROWS, replace=False))
    first, second = rows[0::2], rows[1::2]
    calibration = fit(first)
    columns = list(numeric.columns[:SHIFT_FEATURES])
    if calibration is None or not columns:
        return {}
    excess: dict[str, list[float]] = {}
    for column in columns:
        values = numeric[column].to_numpy(dtype="float64")[second]
        spread = np.nanstd(values)
        if not np.isfinite(spread) or spread == 0:
            continue
        z = np.nan_to_num((values - np.nanmean(values)) / spread)
        for strength in SHIFT_STRENGTHS:
            weights = np.exp(strength * z)
            picked = rng.choice(
                second, size=len(second) // 2, replace=False, p=weights / weights.sum()
            )
            picked.sort()
            estimate, allowed = _estimate_with_spread(
                _rows_of(scores, picked), task=task, calibration=calibration
            )
            truth = realized(picked)
            for metric, value in estimate.items():
                usable = (value, allowed[metric], truth.get(metric, math.nan))
                if not all(math.isfinite(v) for v in usable):
                    continue
                miss = truth[metric] - value
                excess.setdefault(metric, []).append(miss**2 - allowed[metric] ** 2)
    return {SHIFT_PREFIX + m: [math.sqrt(max(0.0, float(np.mean(v))))] for m, v in excess.items()}


def _rows_of(scores: Any, rows: np.ndarray) -> Any:
    if isinstance(scores, pd.DataFrame):
        return scores.iloc[rows].reset_index(drop=True)
    return np.asarray(scores)[rows]


def _spreads(
    scores: Any, task: str, calibration: dict[str, list[float]], point: dict[str, float]
) -> dict[str, float]:
    """Standard deviation of each metric's realized value around its estimate."""
    holdout = float(sum(calibration.get("rows", [])))
    if task == "regression":
        return _regression_spreads(scores, calibration, point)
    if task == "multiclass":
        proba = np.asarray(pd.DataFrame(scores), dtype="float64")
        right = np.clip(calibrate(proba.max(axis=1), calibration), 0.0, 1.0)
        return {"accuracy": _accuracy_spread(right, holdout)}
    p = np.clip(calibrate(np.asarray(scores, dtype="float64"), calibration), 0.0, 1.0)
    right = np.where(p >= 0.5, p, 1 - p)  # noqa: PLR2004 - decision threshold
    out = {"accuracy": _accuracy_spread(right, holdout)}
    auc = point["roc_auc"]
    if math.isfinite(auc):
        batch = _simulated_auc_spread(np.asarray(scores, dtype="float64"), p)
        out["roc_auc"] = math.hypot(batch, _auc_standard_error(auc, holdout, float(p.mean())))
    return out


def _accuracy_spread(right: np.ndarray, holdout: float) -> float:
    """Accuracy is the mean of each row's Bernoulli(chance it is right)."""
    batch = math.sqrt(float((right * (1 - right)).sum())) / len(right)
    mean = float(right.mean())
    own = math.sqrt(mean * (1 - mean) / holdout) if holdout > 0 else 0.0
    return math.hypot(batch, own)


def _simulated_auc_spread(raw: np.ndarray, p: np.ndarray) -> float:
    """The spread of the ROC AUC the batch's labels would give, labels drawn from `p`."""
    rng = np.random.default_rng(SIMULATION_SEED)
    rows = len(raw)
    pick = rng.choice(rows, size=SIMULATED_ROWS, replace=False) if rows > SIMULATED_ROWS else None
    if pick is not None:
        raw, p = raw[pick], p[pick]
    ranks = stats.rankdata(raw)  # ties count half, as in roc_auc_score
    labels = rng.random((SIMULATIONS, len(p))) < p
    positives = labels.sum(axis=1)
    negatives = len(p) - positives
    usable = (positives > 0) & (negatives > 0)
    if usable.sum() < 2:  # noqa: PLR2004 - a spread needs two draws
        return math.nan
    rank_sums = labels[usable] @ ranks
    n1, n0 = positives[usable], negatives[usable]
    aucs = (rank_sums - n1 * (n1 + 1) / 2) / (n1 * n0)
    # Sampled rows: the spread of a root-n statistic shrinks to the batch's size.
    return float(aucs.std(ddof=1)) * math.sqrt(len(p) / rows)


def _auc_standard_error(auc: float, rows: float, prevalence: float) -> float:
    """Hanley and McNeil's standard error of a ROC AUC measured on `rows` rows (0 if none)."""
    positives, negatives = rows * prevalence, rows * (1 - prevalence)
    if positives < 1 or negatives < 1:
        return 0.0
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def _regression_spreads(
    scores: Any, calibration: dict[str, list[float]], point: dict[str, float]
) -> dict[str, float]:
    """MAE and RMSE spreads from each bin's error moments (normal errors without the 4th)."""
    where = np.searchsorted(calibration["edges"], np.asarray(scores, dtype="float64"), "right")
    absolute, squared = np.asarray(calibration["abs"]), np.asarray(calibration["sq"])
    fourth = np.asarray(calibration.get("q4", 3 * squared**2))
    rows = len(where)
    # Per row: Var|e| = E[e^2] - E|e|^2 and Var e^2 = E[e^4] - E[e^2]^2, from the row's bin.
    abs_var = np.clip(squared - absolute**2, 0.0, None)
    sq_var = np.clip(fourth - squared**2, 0.0, None)
    batch_mae = math.sqrt(float(abs_var[where].sum())) / rows
    batch_mse = math.sqrt(float(sq_var[where].sum())) / rows
    # Each bin's means came from its holdout rows: the batch's share of a bin weighs its error.
    counts = np.asarray(calibration.get("rows", []), dtype="float64")
    own_mae = own_mse = 0.0
    if len(counts) == len(absolute) and (counts > 0).all():
        share = np.bincount(where, minlength=len(counts)) / rows
        own_mae = math.sqrt(float((share**2 * abs_var / counts).sum()))
        own_mse = math.sqrt(float((share**2 * sq_var / counts).sum()))
    rmse = point["rmse"]
    mse_spread = math.hypot(batch_mse, own_mse)
    return {
        "mae": math.hypot(batch_mae, own_mae),
        # RMSE = sqrt(MSE): the delta method's 1 / (2 RMSE).
        "rmse": mse_spread / (2 * rmse) if rmse > 0 else math.nan,
    }


def estimate_divergence(
    realized: dict[str, float], interval: dict[str, tuple[float, float]]
) -> dict[str, str]:
    """The metrics whose realized value fell outside the interval estimated for them.

    Returns:
        Metric name to a sentence: "realized 0.7100, estimated interval [0.8200, 0.8600]".
    """
    out = {}
    for metric, (low, high) in interval.items():
        value = realized.get(metric)
        if value is None or not math.isfinite(value) or low <= value <= high:
            continue
        out[metric] = f"realized {value:.4f}, estimated interval [{low:.4f}, {high:.4f}]"
    return out
