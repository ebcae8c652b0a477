"""The retrain policy: turn measurements into signals, then decide with history in mind.

Measure, then decide: `fire_signals` says which signals fired on this batch and with what
numbers; `should_retrain` applies persistence, cooldown, budget and dry run to them and the
history of earlier batches. Both are plain functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from config.metrics import HIGHER_IS_BETTER, improvement
from model_monitoring.drift import DriftSummary

logger = logging.getLogger(__name__)

SIGNALS = ("realized_drop", "estimated_drop", "drift")


@dataclass(frozen=True)
class PolicyRules:
    """Which signals count and how eagerly to act on them."""

    signals: tuple[str, ...] = ("realized_drop", "estimated_drop")
    realized_drop: float = 0.02
    estimated_drop: float = 0.03
    persistence_n: int = 1
    persistence_m: int = 1
    cooldown: int = 0
    budget: int | None = None
    budget_window: int = 20
    every_batch: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class Signals:
    """What fired on one batch, and the numbers behind each signal."""

    fired: dict[str, bool]
    numbers: dict[str, float] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        """Whether any signal fired."""
        return any(self.fired.values())

    def names(self) -> list[str]:
        """The signals that fired."""
        return [name for name, on in self.fired.items() if on]


@dataclass(frozen=True)
class PastBatch:
    """What the policy saw and did on an earlier batch (from the run ledger)."""

    fired: bool
    retrained: bool


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, every reason, the signals that fired and the numbers behind them."""

    retrain: bool
    reasons: tuple[str, ...]
    signals: tuple[str, ...] = ()
    numbers: dict[str, float] = field(default_factory=dict)
    dry_run: bool = False
    would_retrain: bool = False

    def __str__(self) -> str:
        if self.dry_run and self.would_retrain:
            verdict = "dry run: would retrain"
        else:
            verdict = "retrain" if self.retrain else "keep the production model"
        because = "; ".join(self.reasons) if self.reasons else "no signal fired"
        return f"{verdict}: {because}"


def fire_signals(
    summary: DriftSummary,
    *,
    metric: str,
    baseline: float | None,
    rules: PolicyRules,
) -> Signals:
    """Say which signals fire on this batch.

    Args:
        summary: What the monitor measured.
        metric: The promotion metric (e.g. "roc_auc").
        baseline: The production model's holdout value of `metric` (None: no production model).
        rules: Thresholds.

    Returns:
        Per-signal verdicts (all three are always evaluated and reported) and their numbers.
    """
    fired = dict.fromkeys(SIGNALS, False)
    numbers: dict[str, float] = {
        "drift_share": summary.drifted_share,
        "drift_share_corrected": summary.corrected_share,
    }
    realized = summary.realized.get(metric)
    if realized is not None and baseline is not None:
        drop = improvement(metric, baseline, realized)
        numbers |= {"realized": realized, "baseline": baseline, "realized_drop": drop}
        beyond_noise = True
        if metric in summary.realized_interval:
            low, high = summary.realized_interval[metric]
            numbers |= {"realized_low": low, "realized_high": high}
            # The drop must be more than sampling noise: the interval excludes the baseline.
            best = high if HIGHER_IS_BETTER[metric] else low
            beyond_noise = improvement(metric, baseline, best) > 0
        fired["realized_drop"] = drop > rules.realized_drop and beyond_noise
    estimated = summary.estimated.get(metric)
    if realized is None and estimated is not None and baseline is not None:
        drop = improvement(metric, baseline, estimated)
        numbers |= {"estimated": estimated, "baseline": baseline, "estimated_drop": drop}
        fired["estimated_drop"] = drop > rules.estimated_drop
    fired["drift"] = summary.drift_detected
    return Signals(fired={k: v and k in rules.signals for k, v in fired.items()}, numbers=numbers)


def should_retrain(
    signals: Signals,
    history: Sequence[PastBatch],
    *,
    rules: PolicyRules,
    has_production: bool,
    force: bool,
    new_labelled_rows: int,
) -> RetrainDecision:
    """Decide whether to retrain on this batch.

    A signal must fire on at least `persistence_n` of the last `persistence_m` batches (this one
    included); no retrain within `cooldown` batches of the last one; at most `budget` retrains
    per `budget_window` batches. Forced runs and the first model skip these rules. In dry-run
    mode the decision is reported ("would retrain") but not acted on.

    Args:
        signals: What fired on this batch.
        history: Earlier batches, oldest first.
        rules: The policy.
        has_production: Whether a production model exists.
        force: Retrain regardless.
        new_labelled_rows: Labelled rows the production model has not seen.

    Returns:
        The decision, its reasons and numbers.
    """
    numbers = dict(signals.numbers)
    fired = signals.names()
    reasons = [_describe(name, numbers, rules) for name in fired]
    if force:
        return _decided(True, ["forced", *reasons], fired, numbers, rules)
    if not has_production:
        return _decided(True, ["no production model yet", *reasons], fired, numbers, rules)
    if rules.every_batch:
        reasons.insert(0, "policy retrains on every batch")
    elif not fired:
        return _decided(False, [], fired, numbers, rules)
    blocked = _blocked_by(signals.any or rules.every_batch, history, rules, numbers)
    if new_labelled_rows == 0:
        blocked = "no new labelled rows to train on: waiting for labels"
    if blocked:
        return _decided(False, [*reasons, blocked], fired, numbers, rules)
    return _decided(True, reasons, fired, numbers, rules)


def _blocked_by(
    fired_now: bool, history: Sequence[PastBatch], rules: PolicyRules, numbers: dict[str, float]
) -> str | None:
    recent = (
        [*history[-(rules.persistence_m - 1) :], PastBatch(fired_now, False)]
        if (rules.persistence_m > 1)
        else [PastBatch(fired_now, False)]
    )
    fired_count = sum(b.fired for b in recent)
    numbers["persistence"] = float(fired_count)
    if fired_count < rules.persistence_n:
        return (
            f"persistence: fired on {fired_count} of the last {len(recent)} batches, "
            f"needs {rules.persistence_n} of {rules.persistence_m}"
        )
    since = next((i for i, b in enumerate(reversed(history)) if b.retrained), None)
    if since is not None and since < rules.cooldown:
        return f"cooldown: last retrain {since + 1} batch(es) ago, cooldown is {rules.cooldown}"
    if rules.budget is not None:
        window = history[max(0, len(history) - rules.budget_window + 1) :]
        used = sum(b.retrained for b in window)
        numbers["budget_used"] = float(used)
        if used >= rules.budget:
            return (
                f"budget: {used} retrains in the last {rules.budget_window} batches, "
                f"budget is {rules.budget}"
            )
    return None


def _describe(name: str, numbers: dict[str, float], rules: PolicyRules) -> str:
    def show(key: str) -> str:
        return f"{numbers[key]:.3f}" if key in numbers else "?"

    if name == "realized_drop":
        return (
            f"realized metric dropped {show('realized_drop')} > {rules.realized_drop} "
            f"({show('baseline')} -> {show('realized')})"
        )
    if name == "estimated_drop":
        return (
            f"estimated metric dropped {show('estimated_drop')} > {rules.estimated_drop} "
            f"({show('baseline')} -> {show('estimated')}, an estimate)"
        )
    return (
        f"feature drift after multiple-testing correction (raw share "
        f"{show('drift_share')}, corrected share {show('drift_share_corrected')})"
    )


def _decided(
    retrain: bool,
    reasons: list[str],
    fired: list[str],
    numbers: dict[str, float],
    rules: PolicyRules,
) -> RetrainDecision:
    decision = RetrainDecision(
        retrain=retrain and not rules.dry_run,
        reasons=tuple(reasons),
        signals=tuple(fired),
        numbers=numbers,
        dry_run=rules.dry_run,
        would_retrain=retrain,
    )
    logger.info("decision: %s", decision)
    return decision
