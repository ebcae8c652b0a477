"""The retrain decision: the policy's persistence, cooldown, budget and dry run over signals."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from model_monitoring.measures import DriftSummary
from model_monitoring.policy import CHANGE_SIGNALS, PolicyRules, Signals, fire_signals

logger = logging.getLogger(__name__)


class History(Protocol):
    """What the policy needs to know of an earlier batch (a ledger entry is one)."""

    @property
    def fired(self) -> bool:
        """Whether a signal fired on it."""

    @property
    def retrained(self) -> bool:
        """Whether it was retrained on."""


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

    @property
    def starts_regime(self) -> bool:
        """Whether a change signal fired: the model it trains starts a new regime."""
        return bool(set(self.signals) & set(CHANGE_SIGNALS))

    def explain(self) -> str:
        """The decision with the signals that fired and the numbers behind it."""
        fired = ", ".join(self.signals) or "none"
        numbers = ", ".join(f"{k} {v:.4f}" for k, v in sorted(self.numbers.items()))
        return f"{self}\n\nsignals fired: {fired}\n\nnumbers: {numbers}"


def should_retrain(
    signals: Signals,
    history: Sequence[History],
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
    fired_now: bool, history: Sequence[History], rules: PolicyRules, numbers: dict[str, float]
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


def new_labelled_rows(rows: int, *, labelled: bool, batch: str, trained_on: set[str]) -> int:
    """Labelled rows in this batch (by content hash) that the production model did not see."""
    return rows if labelled and batch not in trained_on else 0


def decide_retrain(
    summary: DriftSummary,
    history: Sequence[History],
    *,
    rules: PolicyRules,
    watch: Sequence[str],
    baselines: dict[str, float],
    force: bool,
    new_labelled_rows: int,
    regime_files: int,
    model_files: int,
) -> RetrainDecision:
    """Fire the policy's signals on a measurement (`fire_signals`), then decide (`should_retrain`).

    `baselines` are the production model's holdout metrics (empty: no production model yet).
    """
    signals = fire_signals(
        summary,
        baselines=baselines,
        watch=watch,
        rules=rules,
        regime_files=regime_files,
        model_files=model_files,
    )
    return should_retrain(
        signals,
        history,
        rules=rules,
        has_production=bool(baselines),
        force=force,
        new_labelled_rows=new_labelled_rows,
    )
