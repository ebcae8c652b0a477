"""The retrain policy: given what the monitor measured, decide whether to retrain."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from config.metrics import improvement
from model_monitoring.drift import DriftSummary

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, every reason that fired, and the numbers behind them."""

    retrain: bool
    reasons: tuple[str, ...]
    numbers: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        verdict = "retrain" if self.retrain else "keep the production model"
        because = "; ".join(self.reasons) if self.reasons else "no signal fired"
        return f"{verdict}: {because}"


def should_retrain(
    summary: DriftSummary,
    *,
    has_production: bool,
    force: bool,
    share_threshold: float,
    metric: str,
    baseline: float | None,
    drop_threshold: float,
    new_labelled_rows: int,
) -> RetrainDecision:
    """Decide from the evidence: forced, no production model, drift share, or a metric drop.

    Args:
        summary: What the monitor measured on the batch.
        has_production: Whether a production model exists.
        force: Retrain regardless of the evidence.
        share_threshold: Retrain when at least this share of features drifted.
        metric: The promotion metric, e.g. "roc_auc".
        baseline: The production model's holdout value of `metric` (None: unknown).
        drop_threshold: Retrain when the realized metric is worse than baseline by this much.
        new_labelled_rows: Labelled rows the production model has not been trained on; with
            none, a retrain could only refit the same data, so it waits for labels.

    Returns:
        The decision with every reason that fired.
    """
    reasons: list[str] = []
    numbers = {"drift_share": summary.drifted_share, "drift_share_threshold": share_threshold}
    if force:
        reasons.append("forced")
    if not has_production:
        reasons.append("no production model yet")
    if summary.drifted_share >= share_threshold:
        reasons.append(f"drift share {summary.drifted_share:.2f} >= {share_threshold:.2f}")
    realized = summary.realized.get(metric)
    if realized is not None and baseline is not None:
        drop = improvement(metric, baseline, realized)
        numbers |= {
            "realized": realized,
            "baseline": baseline,
            "metric_drop": drop,
            "metric_drop_threshold": drop_threshold,
        }
        if drop > drop_threshold:
            reasons.append(
                f"{metric} dropped {drop:.3f} > {drop_threshold:.3f} "
                f"({baseline:.3f} -> {realized:.3f})"
            )
    numbers["new_labelled_rows"] = float(new_labelled_rows)
    retrain = bool(reasons)
    if retrain and has_production and not force and new_labelled_rows == 0:
        retrain = False
        reasons.append("no new labelled rows to train on: waiting for labels")
    decision = RetrainDecision(retrain=retrain, reasons=tuple(reasons), numbers=numbers)
    logger.info("decision: %s", decision)
    return decision
