"""What a replay is measured against: never retraining, and the naive last-value forecast."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from config.spec import DatasetSpec, level_lag
from evaluation.metrics import compute_metrics


@dataclass(frozen=True)
class Baselines:
    """Per batch, the metric of each baseline (batches without labels are left out).

    `never_retrained`: the first model, kept for ever. `last_value`: for a model of a
    difference only, predicting no change (the level stays where it was).
    """

    metric: str
    never_retrained: dict[str, float]
    last_value: dict[str, float]


def score_baselines(
    frames: Mapping[str, pd.DataFrame],
    spec: DatasetSpec,
    *,
    metric: str,
    first: Callable[[pd.DataFrame], Any] | None,
    classes: list[Any],
) -> Baselines:
    """Score each labelled batch (already derived) with the baselines.

    Args:
        frames: Batches by name, with their derived columns.
        spec: The dataset spec (task, target).
        metric: The metric the replay reports.
        first: Scores a frame with the first model the replay registered, or None.
        classes: The first model's classes.
    """
    never: dict[str, float] = {}
    naive: dict[str, float] = {}
    has_level = level_lag(spec) is not None
    for name, frame in frames.items():
        if spec.target not in frame.columns:
            continue
        labelled = frame[frame[spec.target].notna()]
        if labelled.empty:
            continue
        truth = labelled[spec.target]
        task = spec.task.value
        if first is not None:
            found = compute_metrics(task, truth, first(labelled), classes, only=metric)
            never |= {name: found[metric]} if metric in found else {}
        if has_level:
            still = np.zeros(len(labelled))
            found = compute_metrics(task, truth, still, classes, only=metric)
            naive |= {name: found[metric]} if metric in found else {}
    return Baselines(metric, never, naive)
