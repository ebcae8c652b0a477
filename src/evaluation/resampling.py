"""Metrics of bootstrap resamples, from per-row values prepared once instead of per resample."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evaluation.metrics import class_probabilities, metrics_from_codes

DrawMetric = Callable[[np.ndarray], float]

# The float dtypes sklearn's log_loss computes in; other input it casts to float64 first.
_LOG_LOSS_DTYPES = (np.dtype("float64"), np.dtype("float32"), np.dtype("float16"))


def metric_evaluator(
    task: str, truth: np.ndarray, scores: Any, n_classes: int, names: Sequence[str]
) -> Callable[[np.ndarray], np.ndarray]:
    """A `bootstrap_interval` statistic: row indices to the `names` metrics on those rows.

    It equals `metrics_from_codes` on the indexed rows (up to float rounding), with NaN where a
    metric is undefined for the draw (ROC AUC of one class). Accuracy, log loss and binary
    ROC AUC come from per-row values and score ranks prepared here once, so a draw costs a
    gather (and for ROC AUC a sort of integer keys) instead of sklearn's checks and float sort;
    the other metrics go through `metrics_from_codes` on each draw.

    Args:
        task: "binary", "multiclass" or "regression".
        truth: Encoded labels, as `encode_truth` returns them.
        scores: The model's scores on the same rows, as `metrics_from_codes` takes them.
        n_classes: Number of classes (0 for regression).
        names: The metrics, in the order of the returned components.

    Returns:
        A function from an array of row indices to an array of `len(names)` metric values.
    """
    values = np.asarray(scores)
    prepared = _prepared_metrics(task, truth, values, names)
    rest = [name for name in names if name not in prepared]

    def evaluate(index: np.ndarray) -> np.ndarray:
        rows = np.asarray(index, dtype="int64")
        scored = (
            metrics_from_codes(task, truth[rows], values[rows], n_classes, only=rest)
            if rest
            else {}
        )
        return np.array(
            [prepared[m](rows) if m in prepared else scored.get(m, np.nan) for m in names],
            dtype="float64",
        )

    return evaluate


def _prepared_metrics(
    task: str, truth: np.ndarray, scores: np.ndarray, names: Sequence[str]
) -> dict[str, DrawMetric]:
    if task == "regression":
        return {}
    proba = class_probabilities(task, scores)
    builders: dict[str, Callable[[np.ndarray, np.ndarray], DrawMetric]] = {
        "accuracy": _accuracy,
        "log_loss": _log_loss,
    }
    if task == "binary":
        builders["roc_auc"] = _binary_roc_auc
    return {name: builders[name](truth, proba) for name in names if name in builders}


def _accuracy(truth: np.ndarray, proba: np.ndarray) -> DrawMetric:
    # sklearn averages a 0/1 float per row: the same mean of the same values, in the same order.
    correct = (proba.argmax(axis=1) == truth).astype("float64")
    return lambda rows: float(correct[rows].mean())


def _log_loss(truth: np.ndarray, proba: np.ndarray) -> DrawMetric:
    # sklearn 1.9 clips every probability to [eps, 1 - eps] of its float dtype and does not
    # renormalize rows, so a row's loss is -log of its true class's clipped probability.
    dtype = proba.dtype if proba.dtype in _LOG_LOSS_DTYPES else np.dtype("float64")
    eps = np.finfo(dtype).eps
    chosen = np.take_along_axis(proba.astype(dtype, copy=False), truth[:, np.newaxis], axis=1)
    losses = -np.log(np.clip(chosen[:, 0], eps, 1 - eps))
    return lambda rows: float(losses[rows].mean())


def _binary_roc_auc(truth: np.ndarray, proba: np.ndarray) -> DrawMetric:
    # Rank the scores once (tied scores share a rank) and pack rank and label into one integer
    # key: sorting a draw's keys orders it by score, each rank's negatives before its positives.
    _, rank = np.unique(proba[:, 1], return_inverse=True)
    key_type = np.int32 if 2 * len(rank) < np.iinfo(np.int32).max else np.int64
    keys = (2 * rank + truth).astype(key_type)
    # A draw can tie a positive with a negative only if two such rows tie in the full data.
    positives = np.bincount(rank, weights=truth)
    mixed_ties = bool(np.any((positives > 0) & (positives < np.bincount(rank))))
    return lambda rows: _auc_of_sorted_keys(np.sort(keys[rows]), mixed_ties=mixed_ties)


def _auc_of_sorted_keys(keys: np.ndarray, *, mixed_ties: bool) -> float:
    positive = keys & 1
    n_pos = int(positive.sum())
    n_neg = len(keys) - n_pos
    if n_pos == 0 or n_neg == 0:
        # One class drawn: undefined, as `metrics_from_codes` leaves it out.
        return float("nan")
    # At a positive, the running count of negatives holds those scored below it and those tied
    # with it (they sort just before it); a tie counts half, which makes this Mann-Whitney
    # statistic the trapezoidal ROC area that sklearn computes.
    below_or_tied = int(np.cumsum(1 - positive) @ positive)
    tied = _tied_pairs(keys >> 1, positive) if mixed_ties else 0
    return (below_or_tied - tied / 2) / (n_pos * n_neg)


def _tied_pairs(ranks: np.ndarray, positive: np.ndarray) -> int:
    """Positive-negative pairs with equal scores, given the sorted ranks and their labels."""
    starts = np.flatnonzero(np.diff(ranks, prepend=-1))
    positives = np.add.reduceat(positive, starts).astype("int64")
    sizes = np.diff(starts, append=len(ranks))
    return int(positives @ (sizes - positives))
