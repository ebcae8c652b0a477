"""Metric names every stage agrees on: which direction is better, defaults and floors per task."""

from __future__ import annotations

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
