"""The retrain policy: its signals, its rules and their defaults, and which signals fire.

Measure, then decide: `fire_signals` says which signals fired on this batch and with what
numbers; `retrain.should_retrain` applies the rules' persistence, cooldown, budget and dry run
to them and the history of earlier batches. A new signal is a name in `SIGNALS` and a note in
`fire_signals` (and the settings' `SignalName` literal).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from evaluation.metrics import HIGHER_IS_BETTER, improvement
from model_monitoring.measures import DriftSummary

logger = logging.getLogger(__name__)

SIGNALS = ("realized_drop", "estimated_drop", "drift", "window_full", "divergence")
# Signals that say the world changed: a retrain they trigger, once promoted, starts a new regime.
CHANGE_SIGNALS = ("realized_drop", "estimated_drop", "drift", "divergence")
# The signals the default policy acts on (a new signal is opt-in until it is added here).
# `divergence` is reported (record, notification) but not acted on by default: its interval
# covers 67-100% of realized values under covariate shift (benchmarks/estimates.py), so on its
# own it would retrain on some unchanged concepts.
DEFAULT_SIGNALS = ("realized_drop", "estimated_drop", "drift")


@dataclass(frozen=True)
class PolicyRules:
    """Which signals count and how eagerly to act on them; the defaults are the default policy.

    Chosen on benchmarks/adaptation.py: act on the first batch that shows a change, then give the
    new model one batch (`cooldown`) before judging it again, since its holdout baseline is small
    and noisy.
    """

    signals: tuple[str, ...] = DEFAULT_SIGNALS
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
    # Drops as a share of the baseline (0.02: 2% of the holdout value) rather than in the
    # metric's own units; the right reading for RMSE in ppm or dollars.
    relative: bool = False

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
        relative=rules.relative,
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
            relative=rules.relative,
        )
    )
    if realized:
        notes["realized_drop"] = "realized " + "; ".join(realized)
    if estimated:
        notes["estimated_drop"] = "estimated (no labels) " + "; ".join(estimated)
    worse = _below_estimate(summary, watch)
    if worse:
        notes["divergence"] = (
            "realized below its label-free estimate (concept drift: the model is wrong where it "
            "is sure): " + "; ".join(worse)
        )
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


def _below_estimate(summary: DriftSummary, watch: Sequence[str]) -> list[str]:
    """The watched metrics realized worse than the far end of their estimated interval."""
    out = []
    for metric in watch:
        if metric not in summary.divergence or metric not in summary.realized:
            continue
        low, high = summary.estimated_interval[metric]
        bound = low if HIGHER_IS_BETTER[metric] else high
        if improvement(metric, summary.realized[metric], bound) < 0:
            out.append(f"{metric} {summary.divergence[metric]}")
    return out


def _drops(
    values: dict[str, float],
    baselines: dict[str, float],
    watch: Sequence[str],
    intervals: dict[str, tuple[float, float]],
    numbers: dict[str, float],
    *,
    kind: str,
    threshold: float,
    relative: bool,
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
        limit = threshold * abs(baseline) if relative else threshold
        if drop > limit and beyond_noise:
            shown = f"{threshold:.0%} of {baseline:.3f}" if relative else f"{threshold}"
            fired.append(f"{metric} dropped {drop:.3f} > {shown} ({baseline:.3f} -> {value:.3f})")
    return fired
