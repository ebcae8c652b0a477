"""Measure how a challenger and a champion differ on the same holdout, with paired intervals."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from scipy import stats

from config.metrics import compute_metrics, encode_labels, improvement, metrics_from_codes

BOOTSTRAP_SEED = 11


@dataclass(frozen=True)
class PairedDifference:
    """The gain of the challenger over the champion on one metric, with one-sided bounds.

    `gain` is signed so that positive is better whatever the metric's direction. `low` and
    `high` are the one-sided bounds at `confidence` from a paired bootstrap of the holdout: the
    gain is at least `low`, and at most `high`, each with probability `confidence`.
    """

    metric: str
    challenger: float
    champion: float
    gain: float
    low: float
    high: float
    confidence: float
    resamples: int

    def __str__(self) -> str:
        """E.g. `roc_auc 0.8400 vs 0.8300: +0.0100 (95% bounds -0.0040, +0.0240)`."""
        return (
            f"{self.metric} {self.challenger:.4f} vs {self.champion:.4f}: {self.gain:+.4f} "
            f"({self.confidence:.0%} bounds {self.low:+.4f}, {self.high:+.4f})"
        )


def compare_on_holdout(
    y: pd.Series,
    challenger_scores: Any,
    champion_scores: Any,
    *,
    task: str,
    classes: list[Any],
    metrics: Sequence[str],
    confidence: float,
    resamples: int,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, PairedDifference]:
    """Paired bootstrap of the metric differences between two models on the same rows.

    Each resample draws holdout rows with replacement and scores both models on the same draw,
    so the noise the two share (which rows happen to be hard) cancels out of the difference.

    Args:
        y: Holdout labels.
        challenger_scores: The challenger's scores on the holdout (as `compute_metrics` takes).
        champion_scores: The champion's scores on the same rows.
        task: "binary", "multiclass" or "regression".
        classes: Label values in model order (empty for regression).
        metrics: The metrics to compare.
        confidence: One-sided confidence of the bounds, e.g. 0.95.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling, so a decision can be reproduced.

    Returns:
        Metric name to its paired difference; metrics undefined on this holdout are left out.
    """
    y = y.reset_index(drop=True)
    truth = _encoded(task, y, classes)
    ours, theirs = np.asarray(challenger_scores), np.asarray(champion_scores)
    point_ours = compute_metrics(task, y, ours, classes)
    point_theirs = compute_metrics(task, y, theirs, classes)
    names = [m for m in metrics if m in point_ours and m in point_theirs]
    if not names:
        return {}

    def gains(index: np.ndarray) -> np.ndarray:
        picked = index.astype("int64")
        a = metrics_from_codes(task, truth[picked], ours[picked], len(classes), only=names)
        b = metrics_from_codes(task, truth[picked], theirs[picked], len(classes), only=names)
        return np.array([_gain(m, a, b) for m in names])

    # The two-sided percentile interval at 2c - 1 has the one-sided bounds at c as its ends.
    result = _bootstrap(len(y), gains, resamples=resamples, level=2 * confidence - 1, seed=seed)
    lows, highs = (np.atleast_1d(bound) for bound in result.confidence_interval)
    return {
        m: PairedDifference(
            metric=m,
            challenger=point_ours[m],
            champion=point_theirs[m],
            gain=improvement(m, point_ours[m], point_theirs[m]),
            low=_finite(lows[i], -np.inf),
            high=_finite(highs[i], np.inf),
            confidence=confidence,
            resamples=resamples,
        )
        for i, m in enumerate(names)
    }


def metric_intervals(
    y: pd.Series,
    scores: Any,
    *,
    task: str,
    classes: list[Any],
    metrics: Sequence[str],
    confidence: float = 0.95,
    resamples: int = 300,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, tuple[float, float]]:
    """Two-sided bootstrap intervals of one model's metrics (for the model card)."""
    y = y.reset_index(drop=True)
    truth = _encoded(task, y, classes)
    values = np.asarray(scores)
    point = compute_metrics(task, y, values, classes)
    names = [m for m in metrics if m in point]
    if not names:
        return {}

    def statistic(index: np.ndarray) -> np.ndarray:
        picked = index.astype("int64")
        scored = metrics_from_codes(task, truth[picked], values[picked], len(classes), only=names)
        return np.array([scored.get(m, np.nan) for m in names])

    result = _bootstrap(len(y), statistic, resamples=resamples, level=confidence, seed=seed)
    lows, highs = (np.atleast_1d(bound) for bound in result.confidence_interval)
    return {
        m: (float(lows[i]), float(highs[i]))
        for i, m in enumerate(names)
        if np.isfinite(lows[i]) and np.isfinite(highs[i])
    }


def _bootstrap(
    n: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    resamples: int,
    level: float,
    seed: int,
) -> Any:
    # Inputs were checked once above; sklearn's per-call validation would dominate the loop.
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        return stats.bootstrap(
            (np.arange(n),),
            statistic,
            n_resamples=resamples,
            vectorized=False,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )


def _encoded(task: str, y: pd.Series, classes: list[Any]) -> np.ndarray:
    if task == "regression":
        return y.to_numpy(dtype="float64")
    return encode_labels(y, classes)


def _gain(metric: str, ours: dict[str, float], theirs: dict[str, float]) -> float:
    # A resample can hold one class only; its metric is then undefined for this draw.
    if metric not in ours or metric not in theirs:
        return float("nan")
    return improvement(metric, ours[metric], theirs[metric])


def _finite(value: float, fallback: float) -> float:
    return float(value) if np.isfinite(value) else fallback
