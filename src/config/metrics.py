"""Metric names every stage agrees on: which direction is better, defaults and floors per task."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import pandas as pd
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


# A ROC AUC of 0.5 is a coin toss; a model that cannot clear 0.55 on its own holdout is not shipped.
DEFAULT_FLOOR = {"roc_auc": 0.55}


def improvement(metric: str, candidate: float, baseline: float) -> float:
    """Signed gain of `candidate` over `baseline`: positive means better, whatever the direction."""
    return candidate - baseline if HIGHER_IS_BETTER[metric] else baseline - candidate


def clears_floor(metric: str, value: float, floor: float | None) -> bool:
    """Whether `value` is on the right side of the absolute floor (no floor: always)."""
    if floor is None:
        return True
    return value >= floor if HIGHER_IS_BETTER[metric] else value <= floor


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
    truth = (
        y_true.to_numpy(dtype="float64") if task == "regression" else encode_labels(y_true, classes)
    )
    return metrics_from_codes(task, truth, scores, len(classes), only=only)


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
    if task == "binary":
        proba = np.column_stack([1 - np.asarray(scores), np.asarray(scores)])
    else:
        proba = np.asarray(scores)
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


def encode_labels(y_true: pd.Series, classes: list[Any]) -> np.ndarray:
    """Map label values to model class indices; an unknown label is an error."""
    lookup = {str(value): index for index, value in enumerate(classes)}
    as_text = y_true.astype("string")
    unknown = sorted(set(as_text.dropna()) - set(lookup))
    if unknown:
        raise ValueError(f"labels {unknown[:5]} were not seen in training (known: {list(lookup)})")
    return as_text.map(lookup).to_numpy(dtype="int64")
