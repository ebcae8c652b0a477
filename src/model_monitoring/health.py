"""Model health on a batch: realized metrics with bootstrap intervals, or label-free estimates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from config.metrics import compute_metrics
from model_monitoring.estimate import estimate_performance

if TYPE_CHECKING:
    from model_monitoring.drift import DriftSummary, ModelScores

BOOTSTRAP_RESAMPLES = 300
BOOTSTRAP_SEED = 7


def with_model_health(
    summary: DriftSummary,
    current: pd.DataFrame,
    target: str,
    *,
    scores: ModelScores,
    watch: Sequence[str],
    labelled: bool,
) -> DriftSummary:
    """Add the production model's realized metrics (with labels) or estimates (without)."""
    if labelled:
        rows = current[target].notna().to_numpy()
        y = current[target][rows].reset_index(drop=True)
        predicted = _select(scores.current, rows)
        # Same definitions as the holdout baseline, so a drop compares like with like.
        realized = compute_metrics(scores.task, y, predicted, scores.classes)
        intervals = {m: _bootstrap(scores.task, y, predicted, scores.classes, m) for m in watch}
        kept = {m: i for m, i in intervals.items() if i is not None}
        return replace(summary, realized=realized, realized_interval=kept)
    if scores.task == "regression" or scores.calibration is None:
        return summary
    estimated = estimate_performance(
        scores.current, task=scores.task, calibration=scores.calibration
    )
    return replace(summary, estimated=estimated)


def _bootstrap(
    task: str, y: pd.Series, predicted: Any, classes: list[Any], metric: str
) -> tuple[float, float] | None:
    values = np.asarray(predicted)

    def statistic(index: np.ndarray) -> float:
        picked = index.astype("int64")
        sample = y.iloc[picked].reset_index(drop=True)
        scored = compute_metrics(task, sample, values[picked], classes, only=metric)
        return scored.get(metric, np.nan)

    result = stats.bootstrap(
        (np.arange(len(y)),),
        statistic,
        n_resamples=BOOTSTRAP_RESAMPLES,
        vectorized=False,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    low, high = result.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return float(low), float(high)


def _select(values: Any, rows: np.ndarray) -> Any:
    if isinstance(values, pd.DataFrame):
        return values[rows].reset_index(drop=True)
    return np.asarray(values)[rows]
