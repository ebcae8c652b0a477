from __future__ import annotations

from model_monitoring.drift import DriftSummary
from model_monitoring.policy import should_retrain


def summary(share: float = 0.0, realized: dict[str, float] | None = None) -> DriftSummary:
    return DriftSummary(
        columns=(),
        drifted_count=0,
        drifted_share=share,
        prediction=None,
        realized=realized or {},
        reference_rows=100,
        current_rows=100,
    )


def decide(s: DriftSummary, **overrides):
    args = {
        "has_production": True,
        "force": False,
        "share_threshold": 0.5,
        "metric": "roc_auc",
        "baseline": 0.85,
        "drop_threshold": 0.05,
        "new_labelled_rows": 100,
    }
    return should_retrain(s, **(args | overrides))


def test_quiet_batch_keeps_the_production_model() -> None:
    decision = decide(summary(0.1, {"roc_auc": 0.84}))
    assert not decision.retrain and decision.reasons == ()
    assert decision.numbers["metric_drop"] == 0.85 - 0.84


def test_first_run_retrains_because_there_is_no_production_model() -> None:
    decision = decide(summary(), has_production=False, baseline=None)
    assert decision.retrain and decision.reasons == ("no production model yet",)


def test_drift_share_at_threshold_retrains() -> None:
    assert decide(summary(0.5)).reasons == ("drift share 0.50 >= 0.50",)


def test_metric_drop_over_threshold_retrains_even_without_feature_drift() -> None:
    decision = decide(summary(0.0, {"roc_auc": 0.70}))
    assert decision.retrain
    assert decision.reasons[0].startswith("roc_auc dropped 0.150 > 0.050")


def test_lower_is_better_metrics_drop_when_they_rise() -> None:
    decision = decide(summary(0.0, {"rmse": 12.0}), metric="rmse", baseline=10.0, drop_threshold=1)
    assert decision.retrain and decision.numbers["metric_drop"] == 2.0


def test_forced_retrain_always_retrains_and_says_so() -> None:
    decision = decide(summary(), force=True, new_labelled_rows=0)
    assert decision.retrain and decision.reasons == ("forced",)


def test_drift_without_new_labels_waits_for_labels() -> None:
    decision = decide(summary(0.9), new_labelled_rows=0)
    assert not decision.retrain
    assert decision.reasons[-1] == "no new labelled rows to train on: waiting for labels"
