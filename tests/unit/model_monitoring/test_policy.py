from __future__ import annotations

from dataclasses import replace
from typing import get_args

import pytest

from config.settings import PolicyName, PolicySettings, SignalName
from model_monitoring.measures import DriftSummary
from model_monitoring.policy import (
    CHANGE_SIGNALS,
    PRESETS,
    SIGNALS,
    PolicyRules,
    Signals,
    fire_signals,
    policy_rules,
)

RULES = PolicyRules(signals=("realized_drop", "estimated_drop", "drift"))


def summary(*, realized=None, interval=None, estimated=None, drift=False) -> DriftSummary:
    return DriftSummary(
        columns=(),
        drifted_count=0,
        drifted_share=0.0,
        corrected_count=0,
        corrected_share=1.0 if drift else 0.0,
        drift_detected=drift,
        prediction=None,
        realized=realized or {},
        reference_rows=100,
        current_rows=100,
        realized_interval=interval or {},
        estimated=estimated or {},
    )


def fire(s: DriftSummary, baselines: dict[str, float], rules: PolicyRules = RULES, **kw):
    return fire_signals(s, baselines=baselines, watch=("roc_auc", "accuracy"), rules=rules, **kw)


def test_realized_drop_fires_only_beyond_threshold_and_noise() -> None:
    dropped = fire(
        summary(realized={"roc_auc": 0.80}, interval={"roc_auc": (0.78, 0.82)}), {"roc_auc": 0.85}
    )
    assert dropped.names() == ["realized_drop"]
    assert dropped.numbers["roc_auc.realized_drop"] == pytest.approx(0.05)
    assert "roc_auc dropped 0.050" in dropped.notes["realized_drop"]
    noisy = fire(
        summary(realized={"roc_auc": 0.80}, interval={"roc_auc": (0.70, 0.86)}), {"roc_auc": 0.85}
    )
    assert noisy.names() == []  # the interval reaches the baseline: could be sampling noise
    assert fire(summary(realized={"roc_auc": 0.84}), {"roc_auc": 0.85}).names() == []


def test_a_shifted_threshold_is_caught_by_accuracy_when_ranking_holds() -> None:
    shifted = summary(
        realized={"roc_auc": 0.90, "accuracy": 0.78},
        interval={"roc_auc": (0.89, 0.91), "accuracy": (0.76, 0.80)},
    )
    fired = fire(shifted, {"roc_auc": 0.90, "accuracy": 0.85})
    assert fired.names() == ["realized_drop"]
    assert "accuracy dropped 0.070" in fired.notes["realized_drop"]


def test_lower_is_better_metric_drops_when_it_rises() -> None:
    fired = fire_signals(
        summary(realized={"rmse": 12.0}, interval={"rmse": (11.0, 13.0)}),
        baselines={"rmse": 10.0},
        watch=("rmse",),
        rules=RULES,
    )
    assert fired.names() == ["realized_drop"]


def test_estimate_is_used_only_without_labels() -> None:
    unlabelled = fire(summary(estimated={"roc_auc": 0.70}), {"roc_auc": 0.85})
    assert unlabelled.names() == ["estimated_drop"]
    assert unlabelled.notes["estimated_drop"].startswith("estimated (no labels)")
    labelled = fire(
        summary(realized={"roc_auc": 0.85}, estimated={"roc_auc": 0.70}), {"roc_auc": 0.85}
    )
    assert labelled.names() == []


def test_signals_outside_the_policy_are_reported_but_not_fired() -> None:
    fired = fire(
        summary(realized={"roc_auc": 0.5}), {"roc_auc": 0.85}, PolicyRules(signals=("drift",))
    )
    assert fired.names() == [] and "realized_drop" in fired.notes


def test_window_full_fires_once_when_the_regime_fills_the_window() -> None:
    rules = PolicyRules(signals=("window_full",), full_window=3)
    assert fire(summary(), {"roc_auc": 0.8}, rules, regime_files=3, model_files=1).names() == [
        "window_full"
    ]
    assert fire(summary(), {"roc_auc": 0.8}, rules, regime_files=4, model_files=1).names() == []
    assert fire(summary(), {"roc_auc": 0.8}, rules, regime_files=3, model_files=3).names() == []


def test_presets_resolve_and_fields_override_them() -> None:
    default = policy_rules("default", PolicySettings().overrides())
    assert default == PolicyRules()
    assert default.signals == ("realized_drop", "estimated_drop", "drift")
    assert default.cooldown == 1
    drift_only = policy_rules("drift-only", PolicySettings(cooldown=3).overrides())
    assert drift_only.signals == ("drift",) and drift_only.cooldown == 3
    assert policy_rules("never").signals == ()
    with pytest.raises(ValueError, match="persistence_n"):
        policy_rules("default", PolicySettings(persistence_n=3, persistence_m=2).overrides())


def test_the_settings_offer_exactly_the_policies_and_signals_defined_here() -> None:
    assert set(get_args(PolicyName)) == set(PRESETS)
    assert set(get_args(SignalName)) == set(SIGNALS)
    assert set(CHANGE_SIGNALS) <= set(SIGNALS)


def test_a_relative_drop_is_a_share_of_the_baseline() -> None:
    def rmse(measured: DriftSummary, rules: PolicyRules) -> Signals:
        return fire_signals(measured, baselines={"rmse": 400.0}, watch=("rmse",), rules=rules)

    # RMSE in ppm: 0.6 worse is far beyond an absolute 0.02, and within 2% of 400.
    small = summary(realized={"rmse": 400.6}, interval={"rmse": (400.2, 401.0)})
    relative = PolicyRules(signals=("realized_drop",), relative=True)
    assert rmse(small, RULES).names() == ["realized_drop"]
    assert rmse(small, relative).names() == []
    big = summary(realized={"rmse": 412.0}, interval={"rmse": (410.0, 414.0)})
    fired = rmse(big, relative)
    assert fired.names() == ["realized_drop"] and "> 2% of 400.000" in fired.notes["realized_drop"]


def test_a_realized_metric_below_its_estimate_is_divergence_and_above_it_is_not() -> None:
    rules = PolicyRules(signals=("divergence",))
    band = {"accuracy": (0.80, 0.84)}

    def diverged(value: float) -> DriftSummary:
        return replace(
            summary(realized={"accuracy": value}),
            estimated_interval=band,
            divergence={"accuracy": f"realized {value:.4f}, estimated interval [0.8000, 0.8400]"},
        )

    worse = fire(diverged(0.71), {"accuracy": 0.82}, rules)
    assert worse.names() == ["divergence"]
    assert "accuracy realized 0.7100" in worse.notes["divergence"]
    assert fire(diverged(0.90), {"accuracy": 0.82}, rules).names() == []
    # Reported, not acted on, by the default policy; a change signal when it is acted on.
    assert "divergence" not in PolicyRules().signals and "divergence" in CHANGE_SIGNALS
    assert "divergence" in fire(diverged(0.71), {"accuracy": 0.82}).notes
