from __future__ import annotations

from model_monitoring.policy import PolicyRules, Signals
from model_monitoring.retrain import PastBatch, RetrainDecision, new_labelled_rows, should_retrain

RULES = PolicyRules(signals=("realized_drop", "estimated_drop", "drift"))


def signals(*names: str) -> Signals:
    return Signals(fired={n: n in names for n in ("realized_drop", "estimated_drop", "drift")})


def decide(s: Signals, history=(), rules=RULES, **overrides) -> RetrainDecision:
    args = {"has_production": True, "force": False, "new_labelled_rows": 100} | overrides
    return should_retrain(s, list(history), rules=rules, **args)


QUIET, FIRED, RETRAINED = PastBatch(False, False), PastBatch(True, False), PastBatch(True, True)


def test_quiet_batch_keeps_the_production_model() -> None:
    decision = decide(signals())
    assert not decision.retrain and decision.reasons == ()


def test_first_model_and_forced_runs_retrain_whatever_the_rules() -> None:
    strict = PolicyRules(persistence_n=3, persistence_m=3, cooldown=5, budget=0)
    assert decide(signals(), rules=strict, has_production=False).reasons == (
        "no production model yet",
    )
    assert decide(signals(), rules=strict, force=True).retrain


def test_persistence_needs_n_of_the_last_m_batches() -> None:
    rules = PolicyRules(signals=RULES.signals, persistence_n=2, persistence_m=3)
    first = decide(signals("drift"), [QUIET, QUIET], rules)
    assert not first.retrain and first.reasons[-1].startswith("persistence: fired on 1 of")
    assert decide(signals("drift"), [QUIET, FIRED], rules).retrain
    assert not decide(signals("drift"), [FIRED, QUIET, QUIET], rules).retrain  # out of window


def test_cooldown_blocks_retraining_right_after_a_retrain() -> None:
    rules = PolicyRules(signals=RULES.signals, cooldown=2)
    blocked = decide(signals("realized_drop"), [QUIET, RETRAINED], rules)
    assert not blocked.retrain and "cooldown" in blocked.reasons[-1]
    assert decide(signals("realized_drop"), [RETRAINED, QUIET, QUIET], rules).retrain


def test_budget_caps_retrains_per_window() -> None:
    rules = PolicyRules(signals=RULES.signals, budget=2, budget_window=5)
    blocked = decide(signals("realized_drop"), [RETRAINED, QUIET, RETRAINED, QUIET], rules)
    assert not blocked.retrain and blocked.reasons[-1].startswith("budget: 2 retrains")
    # The older retrain has left the 5-batch window: one used, one left.
    history = [RETRAINED, QUIET, QUIET, RETRAINED, QUIET, QUIET]
    assert decide(signals("realized_drop"), history, rules).retrain


def test_dry_run_reports_what_it_would_do_without_acting() -> None:
    rules = PolicyRules(signals=RULES.signals, dry_run=True)
    decision = decide(signals("realized_drop"), rules=rules)
    assert not decision.retrain and decision.would_retrain and decision.dry_run
    assert str(decision).startswith("dry run: would retrain")


def test_no_new_labels_means_waiting() -> None:
    decision = decide(signals("drift"), new_labelled_rows=0)
    assert not decision.retrain and decision.reasons[-1].endswith("waiting for labels")


def test_every_batch_policy_retrains_without_signals() -> None:
    rules = PolicyRules(signals=(), every_batch=True)
    assert decide(signals(), rules=rules).reasons == ("policy retrains on every batch",)


def test_only_labelled_rows_the_champion_never_saw_count_as_new() -> None:
    assert new_labelled_rows(100, labelled=True, batch="b", trained_on={"a"}) == 100
    assert new_labelled_rows(100, labelled=True, batch="a", trained_on={"a"}) == 0
    assert new_labelled_rows(100, labelled=False, batch="b", trained_on=set()) == 0


def test_a_change_signal_starts_a_regime_and_window_full_does_not() -> None:
    assert RetrainDecision(True, ("x",), signals=("drift",)).starts_regime
    assert not RetrainDecision(True, ("x",), signals=("window_full",)).starts_regime
    explained = RetrainDecision(True, ("x",), signals=("drift",), numbers={"a": 1.0}).explain()
    assert "signals fired: drift" in explained and "a 1.0000" in explained
