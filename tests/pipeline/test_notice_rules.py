from __future__ import annotations

import pytest

from delivery.notify import build_message
from model_monitoring.measures import DriftSummary
from model_monitoring.policy import PolicyRules, fire_signals
from model_monitoring.retrain import PastBatch, RetrainDecision, should_retrain
from pipeline.notices import drift_notice, held_back, held_back_notice

BASELINES = {"roc_auc": 0.836, "accuracy": 0.730}
WATCH = ("roc_auc", "accuracy")
QUIET, RETRAINED = PastBatch(False, False), PastBatch(True, True)
WHERE = {"batch": "batch-08.csv", "record": "reports/decision-x.md", "model_version": "2"}


def measured(*, realized: dict[str, float] | None = None, drift: bool = False) -> DriftSummary:
    return DriftSummary(
        columns=(),
        drifted_count=7 if drift else 0,
        drifted_share=0.88 if drift else 0.0,
        corrected_count=7 if drift else 0,
        corrected_share=0.88 if drift else 0.0,
        drift_detected=drift,
        prediction=None,
        realized=realized or {},
        reference_rows=1000,
        current_rows=300,
    )


DROPPED = {"roc_auc": 0.777, "accuracy": 0.684}


def decide(
    summary: DriftSummary,
    history: list[PastBatch] | None = None,
    *,
    rules: PolicyRules | None = None,
    new_labelled_rows: int = 300,
) -> RetrainDecision:
    rules = rules or PolicyRules()
    signals = fire_signals(summary, baselines=BASELINES, watch=WATCH, rules=rules)
    return should_retrain(
        signals,
        [QUIET] if history is None else history,
        rules=rules,
        has_production=True,
        force=False,
        new_labelled_rows=new_labelled_rows,
    )


def test_a_metric_drop_held_back_by_the_cooldown_says_so_with_its_numbers() -> None:
    decision = decide(measured(realized=DROPPED, drift=True), [RETRAINED])
    notice = held_back_notice("rainfall", decision, **WHERE)
    assert notice is not None and notice.event == "retrain_held_back"
    assert notice.summary.startswith("realized roc_auc dropped 0.059 > 0.02 (0.836 -> 0.777)")
    assert "feature drift after multiple-testing correction (raw share 0.88" in notice.summary
    assert notice.summary.endswith(
        "; held back by cooldown: last retrain 1 batch(es) ago, cooldown is 1"
    )
    assert notice.details == {"held back by": "cooldown", "signals": "realized_drop, drift"}
    assert (notice.batch, notice.record, notice.model_version) == (
        "batch-08.csv",
        "reports/decision-x.md",
        "2",
    )
    assert build_message(notice)["blocks"][0]["text"]["text"] == "Retrain held back: rainfall"


@pytest.mark.parametrize(
    ("rules", "history", "labelled", "hold", "words"),
    [
        (
            PolicyRules(budget=1, cooldown=0),
            [RETRAINED, QUIET],
            300,
            "budget",
            "budget: 1 retrains",
        ),
        (
            PolicyRules(persistence_n=2, persistence_m=3),
            [QUIET, QUIET],
            300,
            "persistence",
            "persistence: fired on 1 of the last 3 batches, needs 2 of 3",
        ),
        (PolicyRules(), [QUIET], 0, "waiting for labels", "waiting for labels"),
        (PolicyRules(dry_run=True), [QUIET], 300, "dry run", "DRIFTLOOP_POLICY__DRY_RUN"),
    ],
)
def test_each_rule_that_holds_a_retrain_back_is_named(
    rules: PolicyRules, history: list[PastBatch], labelled: int, hold: str, words: str
) -> None:
    decision = decide(measured(drift=True), history, rules=rules, new_labelled_rows=labelled)
    assert not decision.retrain
    assert list(held_back(decision)) == [hold]
    notice = held_back_notice("rainfall", decision, **WHERE)
    assert notice is not None and notice.details["held back by"] == hold
    assert notice.summary.startswith("feature drift after multiple-testing correction")
    assert words in notice.summary


def test_a_dry_run_that_a_rule_blocks_anyway_names_only_the_rule() -> None:
    rules = PolicyRules(dry_run=True, cooldown=1)
    decision = decide(measured(drift=True), [RETRAINED], rules=rules)
    assert not decision.would_retrain and list(held_back(decision)) == ["cooldown"]


def test_no_word_when_no_signal_fired_or_the_retrain_goes_ahead() -> None:
    quiet = decide(measured(), [RETRAINED])
    assert held_back_notice("rainfall", quiet, **WHERE) is None
    every_batch = PolicyRules(signals=(), every_batch=True, cooldown=1)
    held_without_signal = decide(measured(drift=True), [RETRAINED], rules=every_batch)
    assert (
        not held_without_signal.retrain
        and held_back_notice("r", held_without_signal, **WHERE) is None
    )
    retrained = decide(measured(realized=DROPPED), [QUIET])
    assert retrained.retrain and held_back_notice("rainfall", retrained, **WHERE) is None


def test_monitoring_tells_of_drift_and_metric_drops_with_the_policys_thresholds() -> None:
    notice = drift_notice(
        "rainfall",
        measured(realized=DROPPED, drift=True),
        rules=PolicyRules(),
        baselines=BASELINES,
        watch=WATCH,
        **WHERE,
    )
    assert notice is not None and notice.event == "drift_detected"
    assert notice.summary.startswith("realized roc_auc dropped 0.059 > 0.02 (0.836 -> 0.777)")
    assert "accuracy dropped 0.046 > 0.02" in notice.summary
    assert "feature drift after multiple-testing correction" in notice.summary
    assert notice.details == {"signals": "realized_drop, drift"}
    assert notice.record == "reports/decision-x.md"


def test_monitoring_is_quiet_below_the_thresholds() -> None:
    small = {"roc_auc": 0.826, "accuracy": 0.725}  # drops of 0.010 and 0.005 < 0.02
    for summary in (measured(), measured(realized=small)):
        notice = drift_notice(
            "rainfall", summary, rules=PolicyRules(), baselines=BASELINES, watch=WATCH, **WHERE
        )
        assert notice is None


def test_monitoring_names_a_signal_the_policy_does_not_act_on() -> None:
    notice = drift_notice(
        "rainfall",
        measured(drift=True),
        rules=PolicyRules(signals=("realized_drop",)),
        baselines={},
        watch=WATCH,
        **WHERE,
    )
    assert notice is not None
    assert notice.details["not acted on by the retrain policy"] == "drift"
