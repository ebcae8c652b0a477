"""Measure how a challenger and a champion differ on the same holdout, with paired intervals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evaluation.metrics import (
    BOOTSTRAP_MAX_ROWS,
    bootstrap_interval,
    encode_truth,
    improvement,
    metrics_from_codes,
)
from evaluation.resampling import metric_evaluator

BOOTSTRAP_SEED = 11


@dataclass(frozen=True)
class PairedDifference:
    """The gain of the challenger over the champion on one metric, with one-sided bounds.

    `gain` is signed so that positive is better whatever the metric's direction. `low` and
    `high` are the one-sided bounds at `confidence` from a paired bootstrap of the holdout: the
    gain is at least `low`, and at most `high`, each with probability `confidence`. When several
    metrics are compared, `confidence` is each one's share of the family's (Bonferroni): see
    `compare_on_holdout`.
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
        """E.g. `roc_auc 0.8400 vs 0.8300: +0.0100 (97.5% bounds -0.0040, +0.0240)`."""
        return (
            f"{self.metric} {self.challenger:.4f} vs {self.champion:.4f}: {self.gain:+.4f} "
            f"({self.confidence * 100:.4g}% bounds {self.low:+.4f}, {self.high:+.4f})"
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
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> dict[str, PairedDifference]:
    """Paired bootstrap of the metric differences between two models on the same rows.

    Each resample draws holdout rows with replacement and scores both models on the same draw,
    so the noise the two share (which rows happen to be hard) cancels out of the difference.

    `confidence` holds for the family: the promotion gate promotes when any compared metric's
    lower bound clears the margin, and k chances at 5% each would promote a challenger no better
    than the champion up to k times as often (measured: 5.0% at 300 rows for ROC AUC or
    accuracy, 2.7% and 3.3% alone; `benchmarks/gates.py`). So each metric's bounds are taken
    at 1 - (1 - confidence) / k (Bonferroni), and the chance that any of the k bounds is wrong
    stays within 1 - confidence.

    Args:
        y: Holdout labels.
        challenger_scores: The challenger's scores on the holdout (as `compute_metrics` takes).
        champion_scores: The champion's scores on the same rows.
        task: "binary", "multiclass" or "regression".
        classes: Label values in model order (empty for regression).
        metrics: The metrics to compare.
        confidence: One-sided confidence for all compared metrics together, e.g. 0.95.
        resamples: Bootstrap resamples.
        seed: Seed of the resampling, so a decision can be reproduced.
        max_rows: Above this many rows each resample draws `max_rows` rows and the bounds are
            rescaled to the holdout's size (see `bootstrap_interval`).

    Returns:
        Metric name to its paired difference (its `confidence` the per-metric share); metrics
        undefined on this holdout are left out.
    """
    y = y.reset_index(drop=True)
    truth = encode_truth(task, y, classes)
    ours, theirs = np.asarray(challenger_scores), np.asarray(champion_scores)
    # Encoding labels costs more than a metric on big holdouts: once here, not per model.
    point_ours = metrics_from_codes(task, truth, ours, len(classes), only=metrics)
    point_theirs = metrics_from_codes(task, truth, theirs, len(classes), only=metrics)
    names = [m for m in metrics if m in point_ours and m in point_theirs]
    if not names:
        return {}

    ours_on = metric_evaluator(task, truth, ours, len(classes), names)
    theirs_on = metric_evaluator(task, truth, theirs, len(classes), names)

    def gains(index: np.ndarray) -> np.ndarray:
        # A metric undefined on the draw (one class) is NaN for both, so its gain is NaN too.
        pairs = zip(names, ours_on(index), theirs_on(index), strict=True)
        return np.array([improvement(m, a, b) for m, a, b in pairs])

    each = 1 - (1 - confidence) / len(names)
    # The two-sided percentile interval at 2c - 1 has the one-sided bounds at c as its ends.
    lows, highs = bootstrap_interval(
        len(y), gains, resamples=resamples, level=2 * each - 1, seed=seed, max_rows=max_rows
    )
    return {
        m: PairedDifference(
            metric=m,
            challenger=point_ours[m],
            champion=point_theirs[m],
            gain=improvement(m, point_ours[m], point_theirs[m]),
            low=_finite(lows[i], -np.inf),
            high=_finite(highs[i], np.inf),
            confidence=each,
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
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> dict[str, tuple[float, float]]:
    """Two-sided bootstrap intervals of one model's metrics (for the model card)."""
    y = y.reset_index(drop=True)
    truth = encode_truth(task, y, classes)
    values = np.asarray(scores)
    point = metrics_from_codes(task, truth, values, len(classes), only=metrics)
    names = [m for m in metrics if m in point]
    if not names:
        return {}

    statistic = metric_evaluator(task, truth, values, len(classes), names)
    lows, highs = bootstrap_interval(
        len(y), statistic, resamples=resamples, level=confidence, seed=seed, max_rows=max_rows
    )
    return {
        m: (float(lows[i]), float(highs[i]))
        for i, m in enumerate(names)
        if np.isfinite(lows[i]) and np.isfinite(highs[i])
    }


def _finite(value: float, fallback: float) -> float:
    return float(value) if np.isfinite(value) else fallback
