"""Challenger against champion on the same holdout: paired differences, intervals, slices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from config.spec import DatasetSpec
from evaluation.comparison import PairedDifference, compare_on_holdout, metric_intervals
from evaluation.metrics import compute_metrics
from evaluation.slices import SliceReport, compare_slices


@dataclass(frozen=True)
class EvaluationRules:
    """How the two models are compared (from the promotion settings)."""

    confidence: float
    resamples: int
    slice_min_rows: int
    slice_tolerance: float


@dataclass(frozen=True)
class Evaluation:
    """What the promotion rule and the model card need to know about the challenger."""

    champion_metrics: dict[str, float] | None
    comparisons: dict[str, PairedDifference] | None
    intervals: dict[str, tuple[float, float]]
    slices: SliceReport | None


def over_classes(scores: Any, classes: list[Any], union: list[Any]) -> pd.DataFrame:
    """Class probabilities (n x k over `classes`) as columns of `union`, 0 for the others."""
    frame = pd.DataFrame(np.asarray(scores), columns=[str(c) for c in classes])
    return frame.reindex(columns=[str(c) for c in union], fill_value=0.0)


def evaluate_challenger(
    holdout: pd.DataFrame,
    spec: DatasetSpec,
    *,
    challenger: tuple[Any, list[Any]],
    champion: tuple[Any, list[Any]] | None,
    metric: str,
    watch: tuple[str, ...],
    rules: EvaluationRules,
) -> Evaluation:
    """Measure the challenger against the champion on the challenger's holdout.

    Args:
        holdout: The challenger's holdout rows (features and target).
        spec: The dataset spec (task, target, slice columns).
        challenger: The challenger's scores on `holdout` and its label classes.
        champion: The champion's scores on the same rows and its classes (None: no champion).
        metric: The promotion metric (the one slices are judged on).
        watch: The metrics to compare.
        rules: Confidence, resamples and slice rules.

    Returns:
        Paired differences (None without a champion; empty when the two models' classes
        differ, so their scores cannot be compared), the challenger's metric intervals, and
        the slice report when the spec names slice columns.
    """
    y, task = holdout[spec.target], spec.task.value
    ours, classes = challenger
    theirs = champion[0] if champion else None
    if champion is not None and task == "multiclass" and champion[1] != classes:
        # A class one model never saw has probability 0 in its scores: compare over them all.
        union = sorted({*classes, *champion[1]}, key=str)
        ours, theirs = over_classes(ours, classes, union), over_classes(theirs, champion[1], union)
        classes, champion = union, (theirs, union)
    # Scores are comparable only over the same label classes, in the same order.
    comparable = champion is not None and champion[1] == classes
    comparisons = None
    if champion is not None:
        comparisons = (
            compare_on_holdout(
                y,
                ours,
                theirs,
                task=task,
                classes=classes,
                metrics=watch,
                confidence=rules.confidence,
                resamples=rules.resamples,
            )
            if comparable
            else {}
        )
    slices = None
    if spec.slices:
        slices = compare_slices(
            holdout,
            columns=spec.slices,
            numeric_columns=spec.features.numeric,
            bins=spec.slice_bins,
            target=spec.target,
            task=task,
            classes=classes,
            metric=metric,
            challenger_scores=np.asarray(ours),
            champion_scores=np.asarray(theirs) if comparable else None,
            min_rows=rules.slice_min_rows,
            tolerance=rules.slice_tolerance,
        )
    return Evaluation(
        champion_metrics=compute_metrics(task, y, theirs, champion[1]) if champion else None,
        comparisons=comparisons,
        intervals=metric_intervals(y, ours, task=task, classes=classes, metrics=watch),
        slices=slices,
    )
