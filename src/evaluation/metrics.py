"""Metrics every stage agrees on: direction, defaults and floors per task, and their intervals."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from scipy import stats
from sklearn import metrics as skm

HIGHER_IS_BETTER = {
    "roc_auc": True,
    "accuracy": True,
    "f1": True,
    "r2": True,
    "log_loss": False,
    "rmse": False,
    "mae": False,
}
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}
# Metrics whose drop the monitor watches, besides the promotion metric: a ranking metric misses a
# shifted decision threshold that a thresholded one sees, and the reverse.
WATCH_METRICS = {
    "binary": ("roc_auc", "accuracy"),
    "multiclass": ("accuracy", "log_loss"),
    "regression": ("rmse", "mae"),
}


def watched_metrics(task: str, promotion_metric: str) -> tuple[str, ...]:
    """The promotion metric first, then the task's watched metrics, without repeats."""
    return tuple(dict.fromkeys((promotion_metric, *WATCH_METRICS[task])))


# Above this many rows a bootstrap draws resamples of this size, not of all rows, so it costs
# resamples x BOOTSTRAP_MAX_ROWS metric rows whatever the data size; at 20k rows the spread of
# AUC, accuracy or log loss is already close to its large-sample (normal) shape, so rescaling it
# to n rows loses little.
BOOTSTRAP_MAX_ROWS = 20_000


def improvement(metric: str, candidate: float, baseline: float) -> float:
    """Signed gain of `candidate` over `baseline`: positive means better, whatever the direction."""
    return candidate - baseline if HIGHER_IS_BETTER[metric] else baseline - candidate


def compute_metrics(
    task: str,
    y_true: pd.Series,
    scores: Any,
    classes: list[Any],
    *,
    only: str | Collection[str] | None = None,
) -> dict[str, float]:
    """Score predictions against labels.

    Args:
        task: "binary", "multiclass" or "regression".
        y_true: Labels, in the original label values.
        scores: What the model returns: P(positive), class probabilities, or values.
        classes: The label values in model order (empty for regression).
        only: Compute just this metric, or these (e.g. inside a bootstrap).

    Returns:
        Metric name to value; metrics undefined for this data (ROC AUC on one class) are left out.
    """
    scores, classes = with_unseen_labels(task, y_true, scores, classes)
    return metrics_from_codes(
        task, encode_truth(task, y_true, classes), scores, len(classes), only=only
    )


def with_unseen_labels(
    task: str, y_true: pd.Series, scores: Any, classes: list[Any]
) -> tuple[Any, list[Any]]:
    """Multiclass labels the model never saw, as extra classes it gives probability 0.

    A model trained on a stretch without snow still meets snow: those rows count as errors
    rather than stopping the run. Other tasks and known labels are returned unchanged.
    """
    if task != "multiclass":
        return scores, classes
    known = {str(c) for c in classes}
    unseen = sorted({str(v) for v in y_true.dropna().unique()} - known)
    if not unseen:
        return scores, classes
    extra = np.zeros((len(y_true), len(unseen)))
    return np.column_stack([np.asarray(scores), extra]), [*classes, *unseen]


def metrics_from_codes(
    task: str,
    truth: np.ndarray,
    scores: Any,
    n_classes: int,
    *,
    only: str | Collection[str] | None = None,
) -> dict[str, float]:
    """`compute_metrics` for labels already encoded as class indices (or float targets).

    Resampling loops call this directly so labels are encoded once, not once per resample.
    """
    if task == "regression":
        y = truth
        pred = np.asarray(scores, dtype="float64")
        table = {
            "rmse": lambda: float(np.sqrt(skm.mean_squared_error(y, pred))),
            "mae": lambda: float(skm.mean_absolute_error(y, pred)),
            "r2": lambda: float(skm.r2_score(y, pred)),
        }
    else:
        table = _classification_metrics(task, truth, scores, n_classes)
    wanted = {only} if isinstance(only, str) else only
    return {name: compute() for name, compute in table.items() if wanted is None or name in wanted}


def _classification_metrics(
    task: str, codes: np.ndarray, scores: Any, n_classes: int
) -> dict[str, Callable[[], float]]:
    proba = class_probabilities(task, scores)
    predicted = proba.argmax(axis=1)
    labels = list(range(n_classes))
    table: dict[str, Callable[[], float]] = {
        "accuracy": lambda: float(skm.accuracy_score(codes, predicted)),
        "log_loss": lambda: float(skm.log_loss(codes, proba, labels=labels)),
    }
    if task == "binary":
        table["f1"] = lambda: float(skm.f1_score(codes, predicted, zero_division=0))
    if len(np.unique(codes)) > 1:
        # With two classes sklearn wants P(second class), not the n x 2 matrix.
        auc_input = proba[:, 1] if proba.shape[1] == 2 else proba  # noqa: PLR2004 - see above
        table["roc_auc"] = lambda: float(
            skm.roc_auc_score(codes, auc_input, multi_class="ovr", labels=labels)
        )
    return table


def class_probabilities(task: str, scores: Any) -> np.ndarray:
    """Classifier scores as a rows x classes matrix: a binary P(positive) gets both columns."""
    if task == "binary":
        return np.column_stack([1 - np.asarray(scores), np.asarray(scores)])
    return np.asarray(scores)


def encode_truth(task: str, y_true: pd.Series, classes: list[Any]) -> np.ndarray:
    """Labels as `metrics_from_codes` takes them: class indices, or float targets (regression)."""
    if task == "regression":
        return y_true.to_numpy(dtype="float64")
    return encode_labels(y_true, classes)


def encode_labels(y_true: pd.Series, classes: list[Any]) -> np.ndarray:
    """Map label values to model class indices; an unknown label is an error."""
    lookup = {str(value): index for index, value in enumerate(classes)}
    as_text = y_true.astype("string")
    unknown = sorted(set(as_text.dropna().unique()) - set(lookup))
    if unknown:
        raise ValueError(f"labels {unknown[:5]} were not seen in training (known: {list(lookup)})")
    return as_text.map(lookup).to_numpy(dtype="int64")


def bootstrap_interval(
    n: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    resamples: int,
    level: float,
    seed: int,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided percentile bootstrap interval of a statistic of rows `0..n-1`.

    Up to `max_rows` rows this is scipy's percentile bootstrap over all rows (the same draws and
    bounds as `scipy.stats.bootstrap`). Above it, each resample draws `max_rows` rows with
    replacement (an m-out-of-n bootstrap) and the percentiles are rescaled to n rows around the
    full-data estimate, so the cost stops growing with n.

    Args:
        n: Number of rows.
        statistic: Maps an array of row indices to the statistic's components (a 1-d array);
            NaN where a draw leaves a component undefined (ROC AUC of one class).
            `evaluation.resampling.metric_evaluator` builds one for metrics.
        resamples: Bootstrap resamples.
        level: Two-sided confidence level, e.g. 0.95.
        seed: Seed of the resampling, so an interval can be reproduced.
        max_rows: Rows per resample above which the m-out-of-n bootstrap is used.

    Returns:
        Lower and upper bounds, one per component; NaN for a component that was undefined in
        any resample (callers treat such bounds as unknown).
    """
    rng = np.random.default_rng(seed)
    tail = (1 - level) / 2
    # Callers checked their inputs once; sklearn's per-call validation would dominate the loop.
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        if n <= max_rows:
            draws = _draw_statistics(n, n, statistic, resamples, rng)
            # scipy's own quantile call in its percentile bootstrap, so the bounds match it exactly.
            bounds = stats.quantile(draws.T, np.array([tail, 1 - tail]), axis=-1)
            return bounds[..., 0], bounds[..., 1]
        point = np.atleast_1d(np.asarray(statistic(np.arange(n)), dtype="float64"))
        draws = _draw_statistics(n, max_rows, statistic, resamples, rng)
    # Like scipy's percentile bootstrap, a NaN draw makes that component's bounds NaN.
    low, high = np.quantile(draws, [tail, 1 - tail], axis=0)
    # AUC, accuracy, log loss, RMSE and MAE are root-n consistent: an m-row estimate spreads
    # around the full-data one sqrt(n/m) times wider than an n-row estimate would, so shrinking
    # the resample percentiles' distance to the point estimate by sqrt(m/n) gives n-row bounds.
    shrink = np.sqrt(max_rows / n)
    return point + shrink * (low - point), point + shrink * (high - point)


def _draw_statistics(
    n: int,
    m: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    # One m-row draw at a time: the Generator yields the same indices as scipy's single
    # (resamples, n) draw, without holding that matrix (160 MB at 1000 x 20k rows).
    return np.array(
        [np.atleast_1d(statistic(rng.integers(0, n, size=m))) for _ in range(resamples)],
        dtype="float64",
    ).reshape(resamples, -1)
