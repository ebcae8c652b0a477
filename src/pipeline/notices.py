"""What the channel hears of a decision or a measurement: a held-back retrain, a drifted batch."""

from __future__ import annotations

from collections.abc import Sequence

from delivery.notify import Notification
from model_monitoring.measures import DriftSummary
from model_monitoring.policy import CHANGE_SIGNALS, PolicyRules, fire_signals
from model_monitoring.retrain import RetrainDecision

# How `retrain.should_retrain` words each rule that holds a retrain back, by the rule's name.
RULE_HOLDS = {
    "persistence": "persistence:",
    "cooldown": "cooldown:",
    "budget": "budget:",
    "waiting for labels": "no new labelled rows",
}
EVERY_BATCH = "policy retrains on every batch"
DRY_RUN = "dry run: the policy would retrain, but DRIFTLOOP_POLICY__DRY_RUN only reports"
UNNAMED_SHOWN = 20  # columns named in the notice; the rest are counted


def unnamed_notice(dataset: str, columns: Sequence[str], *, batch: str) -> Notification:
    """The warning that a batch carries columns the spec does not name (they are not used)."""
    more = len(columns) - UNNAMED_SHOWN
    shown = ", ".join(f"`{c}`" for c in columns[:UNNAMED_SHOWN])
    shown += f" and {more} more" if more > 0 else ""
    return Notification(
        "unexpected_columns",
        dataset,
        f"{len(columns)} columns the spec does not name, not used: {shown}",
        batch=batch,
    )


def held_back(decision: RetrainDecision) -> dict[str, str]:
    """What held back a retrain a signal asked for: the rule's name -> its reason with numbers.

    Empty when the decision retrains or no signal fired (a quiet batch is no news).
    """
    if decision.retrain or not decision.signals:
        return {}
    holds = {
        name: reason
        for reason in decision.reasons
        for name, start in RULE_HOLDS.items()
        if reason.startswith(start)
    }
    if decision.dry_run and decision.would_retrain:
        holds["dry run"] = DRY_RUN
    # A rule worded in a way this does not know still says something: the whole decision.
    return holds or {"retrain policy": str(decision)}


def held_back_notice(
    dataset: str,
    decision: RetrainDecision,
    *,
    batch: str,
    record: str,
    model_version: str | None,
) -> Notification | None:
    """The word that a signal fired and the policy held the retrain back (None: nothing to say).

    The summary carries the signals' numbers, then the rule with its own ("realized roc_auc
    dropped 0.059 > 0.02 (0.836 -> 0.777); held back by cooldown: last retrain 1 batch(es)
    ago, cooldown is 1").
    """
    holds = held_back(decision)
    if not holds:
        return None
    held = set(holds.values())
    fired = [r for r in decision.reasons if r not in held and r != EVERY_BATCH]
    summary = "; ".join([*fired, f"held back by {'; '.join(holds.values())}"])
    return Notification(
        "retrain_held_back",
        dataset,
        summary,
        batch=batch,
        model_version=model_version,
        record=record,
        details={"held back by": ", ".join(holds), "signals": ", ".join(decision.signals)},
    )


def drift_notice(
    dataset: str,
    drift: DriftSummary,
    *,
    rules: PolicyRules,
    baselines: dict[str, float],
    watch: tuple[str, ...],
    batch: str,
    record: str,
    model_version: str | None,
) -> Notification | None:
    """The word that a measured batch shows drift or a metric drop (None: all is quiet).

    The thresholds are the retrain policy's (`fire_signals`), so this fires when a retraining
    run's drift or metric signal would. A signal the policy does not act on is still told,
    and named as such.

    Args:
        dataset: The dataset's name.
        drift: What the monitor measured.
        rules: The retrain policy.
        baselines: The production model's holdout metrics (empty: no production model).
        watch: Metrics whose drop counts.
        batch: The batch file's name.
        record: The run's decision record.
        model_version: The production version the batch was measured against.
    """
    signals = fire_signals(drift, baselines=baselines, watch=watch, rules=rules)
    shown = {name: note for name, note in signals.notes.items() if name in CHANGE_SIGNALS}
    if not shown:
        return None
    details = {"signals": ", ".join(shown)}
    ignored = [name for name in shown if name not in rules.signals]
    if ignored:
        details["not acted on by the retrain policy"] = ", ".join(ignored)
    return Notification(
        "drift_detected",
        dataset,
        "; ".join(shown.values()),
        batch=batch,
        model_version=model_version,
        record=record,
        details=details,
    )
