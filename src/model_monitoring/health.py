"""Model health on a batch: realized metrics with bootstrap intervals, or label-free estimates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from evaluation.metrics import (
    BOOTSTRAP_MAX_ROWS,
    bootstrap_interval,
    encode_truth,
    metrics_from_codes,
    with_unseen_labels,
)
from evaluation.resampling import metric_evaluator
from model_monitoring.estimate import (
    ESTIMATE_METHODS,
    estimate_divergence,
    estimate_intervals,
    estimate_performance,
)
from model_monitoring.measures import DriftSummary, ModelScores

BOOTSTRAP_RESAMPLES = 300
BOOTSTRAP_SEED = 7
INTERVAL_LEVEL = 0.95


def with_model_health(
    summary: DriftSummary,
    current: pd.DataFrame,
    target: str,
    *,
    scores: ModelScores,
    watch: Sequence[str],
    labelled: bool,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> DriftSummary:
    """Add the production model's realized metrics (with labels) or estimates (without).

    Realized metrics come with 95% percentile bootstrap intervals for the `watch` metrics; above
    `max_rows` labelled rows the bootstrap draws `max_rows` rows per resample and rescales (see
    `bootstrap_interval`).
    """
    if labelled:
        rows = current[target].notna().to_numpy()
        y = current[target][rows].reset_index(drop=True)
        predicted, classes = with_unseen_labels(
            scores.task, y, _select(scores.current, rows), scores.classes
        )
        truth = encode_truth(scores.task, y, classes)
        n_classes = len(classes)
        # Same definitions as the holdout baseline (`compute_metrics`), so a drop compares like
        # with like; labels are encoded once for the metrics and their intervals.
        realized = metrics_from_codes(scores.task, truth, predicted, n_classes)
        intervals = _intervals(
            scores.task, truth, predicted, n_classes, list(watch), max_rows=max_rows
        )
        summary = replace(summary, realized=realized, realized_interval=intervals)
        if scores.calibration is None:
            return summary
        # What the estimate would have said of these rows: a realized metric outside it is
        # concept drift (the model is wrong where it is sure), which the estimate cannot see.
        expected = estimate_intervals(
            _select(scores.current, rows), task=scores.task, calibration=scores.calibration
        )
        return replace(
            summary,
            estimated_interval=expected,
            divergence=estimate_divergence(realized, expected),
        )
    if scores.calibration is None:
        return summary
    estimated = estimate_performance(
        scores.current, task=scores.task, calibration=scores.calibration
    )
    return replace(
        summary,
        estimated=estimated,
        estimated_by=ESTIMATE_METHODS[scores.task],
        estimated_interval=estimate_intervals(
            scores.current, task=scores.task, calibration=scores.calibration
        ),
    )


def _intervals(
    task: str, truth: np.ndarray, predicted: Any, n_classes: int, names: list[str], *, max_rows: int
) -> dict[str, tuple[float, float]]:
    if not names:
        return {}
    statistic = metric_evaluator(task, truth, predicted, n_classes, names)
    lows, highs = bootstrap_interval(
        len(truth),
        statistic,
        resamples=BOOTSTRAP_RESAMPLES,
        level=INTERVAL_LEVEL,
        seed=BOOTSTRAP_SEED,
        max_rows=max_rows,
    )
    # A metric undefined in some resample (one class drawn) has no interval rather than a wrong one.
    return {
        m: (float(lows[i]), float(highs[i]))
        for i, m in enumerate(names)
        if np.isfinite(lows[i]) and np.isfinite(highs[i])
    }


def _select(values: Any, rows: np.ndarray) -> Any:
    if isinstance(values, pd.DataFrame):
        return values[rows].reset_index(drop=True)
    return np.asarray(values)[rows]
