"""The retrain policy: turn measurements into signals, then decide with history in mind.

Measure, then decide: `fire_signals` says which signals fired on this batch and with what
numbers; `should_retrain` applies persistence, cooldown, budget and dry run to them and the
history of earlier batches. Both are plain functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from evaluation.metrics import HIGHER_IS_BETTER, improvement
from model_monitoring.measures import DriftSummary

logger = logging.getLogger(__name__)

SIGNALS = ("realized_drop", "estimated_drop", "drift", "window_full")
# Signals that say the world changed: a retrain they trigger, once promoted, starts a new regime.
CHANGE_SIGNALS = ("realized_drop", "estimated_drop", "drift")


@dataclass(frozen=True)
class PolicyRules:
    """Which signals count and how eagerly to act on them; the defaults are the default policy.

    Chosen on benchmarks/adaptation.py: act on the first batch that shows a change, then give the
    new model one batch (`cooldown`) before judging it again, since its holdout baseline is small
    and noisy.
    """

    signals: tuple[str, ...] = CHANGE_SIGNALS
    realized_drop: float = 0.02
    estimated_drop: float = 0.03
    persistence_n: int = 1
    persistence_m: int = 1
    cooldown: int = 1
    budget: int | None = None
    budget_window: int = 20
    every_batch: bool = False
    dry_run: bool = False
    full_window: int = 3

    def __post_init__(self) -> None:
        """Refuse rules that can never be met."""
        if self.persistence_n > self.persistence_m:
            raise ValueError("persistence_n must not exceed persistence_m")


# Named policies: each is the default rules with these fields changed. The presets other than
# the default act on every signal they watch at once (no cooldown).
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "metric-only": {"signals": ("realized_drop", "estimated_drop"), "cooldown": 0},
    "drift-only": {"signals": ("drift",), "cooldown": 0},
    "every-batch": {"signals": (), "every_batch": True, "cooldown": 0},
    "never": {"signals": (), "cooldown": 0},
}


def policy_rules(name: str, overrides: Mapping[str, Any] | None = None) -> PolicyRules:
    """The named policy, with every field given in `overrides` (None: not given) on top.

    Raises:
        ValueError: an unknown policy name, or rules that can never be met.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(PRESETS)}")
    values = PRESETS[name] | {k: v for k, v in (overrides or {}).items() if v is not None}
    if "signals" in values:
        values["signals"] = tuple(values["signals"])
    return replace(PolicyRules(), **values)


@dataclass(frozen=True)
class Signals:
    """What fired on one batch, and the numbers behind each signal."""

    fired: dict[str, bool]
    numbers: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

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
    baselines: dict[str, float],
    watch: Sequence[str],
    rules: PolicyRules,
    regime_files: int = 0,
    model_files: int = 0,
) -> Signals:
    """Say which signals fire on this batch, and why.

    The metric signals compare every watched metric with the production model's value on its
    own holdout: a ranking metric (ROC AUC) misses a shifted decision threshold that accuracy
    sees, and the reverse. A realized drop must also be beyond sampling noise (its bootstrap
    interval excludes the baseline). `window_full` fires once the data since the last change
    (the regime) fills the training window while the production model saw less of it: after a
    change the first retrain uses the one new batch there is, this refits on the full window.

    Args:
        summary: What the monitor measured.
        baselines: The production model's holdout metrics (empty: no production model).
        watch: Metrics whose drop fires the metric signals.
        rules: Thresholds.
        regime_files: Labelled files since the last change, this batch included.
        model_files: Files the production model was trained on.

    Returns:
        Per-signal verdicts (every signal is evaluated and reported) and their numbers.
    """
    numbers: dict[str, float] = {
        "drift_share": summary.drifted_share,
        "drift_share_corrected": summary.corrected_share,
        "regime_files": float(regime_files),
        "model_files": float(model_files),
    }
    notes: dict[str, str] = {}
    realized = _drops(
        summary.realized,
        baselines,
        watch,
        summary.realized_interval,
        numbers,
        kind="realized",
        threshold=rules.realized_drop,
    )
    estimated = (
        []
        if summary.realized
        else _drops(
            summary.estimated,
            baselines,
            watch,
            {},
            numbers,
            kind="estimated",
            threshold=rules.estimated_drop,
        )
    )
    if realized:
        notes["realized_drop"] = "realized " + "; ".join(realized)
    if estimated:
        notes["estimated_drop"] = "estimated (no labels) " + "; ".join(estimated)
    if summary.drift_detected:
        notes["drift"] = (
            f"feature drift after multiple-testing correction (raw share "
            f"{summary.drifted_share:.2f}, corrected {summary.corrected_share:.2f})"
        )
    if baselines and regime_files == rules.full_window > model_files:
        notes["window_full"] = (
            f"the window since the last change is full ({regime_files} "
            f"files); the production model saw {model_files}"
        )
    fired = {name: name in notes and name in rules.signals for name in SIGNALS}
    return Signals(fired=fired, numbers=numbers, notes=notes)


def _drops(
    values: dict[str, float],
    baselines: dict[str, float],
    watch: Sequence[str],
    intervals: dict[str, tuple[float, float]],
    numbers: dict[str, float],
    *,
    kind: str,
    threshold: float,
) -> list[str]:
    fired = []
    for metric in watch:
        if metric not in values or metric not in baselines:
            continue
        baseline, value = baselines[metric], values[metric]
        drop = improvement(metric, baseline, value)
        numbers |= {
            f"{metric}.baseline": baseline,
            f"{metric}.{kind}": value,
            f"{metric}.{kind}_drop": drop,
        }
        beyond_noise = True
        if metric in intervals:
            low, high = intervals[metric]
            numbers |= {f"{metric}.{kind}_low": low, f"{metric}.{kind}_high": high}
            best = high if HIGHER_IS_BETTER[metric] else low
            beyond_noise = improvement(metric, baseline, best) > 0
        if drop > threshold and beyond_noise:
            fired.append(
                f"{metric} dropped {drop:.3f} > {threshold} ({baseline:.3f} -> {value:.3f})"
            )
    return fired


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
    reasons = [signals.notes.get(name, name) for name in fired]
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
