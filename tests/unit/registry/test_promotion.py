from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from registry.promotion import apply_promotion, decide_promotion

RULE = {"metric": "roc_auc", "min_improvement": 0.01, "floor": 0.55}


def test_first_valid_model_is_promoted() -> None:
    decision = decide_promotion(challenger=0.70, champion=None, **RULE)
    assert decision.promote and decision.reason.startswith("no champion")


def test_first_model_below_the_floor_is_not_promoted() -> None:
    decision = decide_promotion(challenger=0.52, champion=None, **RULE)
    assert not decision.promote and "misses the floor" in decision.reason


def test_promotion_requires_the_margin() -> None:
    decision = decide_promotion(challenger=0.815, champion=0.80, **RULE)
    assert decision.promote and decision.gain == pytest.approx(0.015)


def test_promotion_keeps_champion_when_challenger_is_worse() -> None:
    decision = decide_promotion(challenger=0.79, champion=0.80, **RULE)
    assert not decision.promote and "champion stays" in decision.reason


def test_promotion_keeps_champion_when_gain_is_below_margin() -> None:
    assert not decide_promotion(challenger=0.805, champion=0.80, **RULE).promote


def test_challenger_that_fixes_a_shifted_threshold_wins_on_accuracy() -> None:
    decision = decide_promotion(
        challenger=0.90, champion=0.90, others={"accuracy": (0.86, 0.77)}, **RULE
    )
    assert decision.promote and "beats champion on accuracy by +0.0900" in decision.reason


def test_challenger_worse_on_any_compared_metric_is_not_promoted() -> None:
    decision = decide_promotion(
        challenger=0.95, champion=0.90, others={"accuracy": (0.70, 0.85)}, **RULE
    )
    assert not decision.promote and decision.reason.startswith("accuracy is worse by 0.1500")


def test_lower_is_better_metrics_are_compared_the_right_way() -> None:
    rule = {"metric": "rmse", "min_improvement": 0.5, "floor": None}
    assert decide_promotion(challenger=9.0, champion=10.0, **rule).promote
    assert not decide_promotion(challenger=11.0, champion=10.0, **rule).promote


@pytest.fixture
def registry(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    for _ in range(3):
        client.create_model_version("m", source=(tmp_path / "model").as_uri())
    yield client
    mlflow.set_tracking_uri(None)


ALIASES = {
    "production_alias": "production",
    "previous_alias": "previous",
    "challenger_alias": "challenger",
}


def test_promotion_moves_production_and_keeps_previous(registry) -> None:
    win = decide_promotion(challenger=0.8, champion=None, **RULE)
    apply_promotion(registry, name="m", version="1", decision=win, **ALIASES)
    action = apply_promotion(registry, name="m", version="2", decision=win, **ALIASES)
    aliases = {k: str(v) for k, v in registry.get_registered_model("m").aliases.items()}
    assert aliases == {"production": "2", "previous": "1", "challenger": "2"}
    assert [(m.alias, m.from_version, m.to_version) for m in action.moves] == [
        ("challenger", "1", "2"),
        ("previous", None, "1"),
        ("production", "1", "2"),
    ]


def test_losing_challenger_leaves_production_untouched(registry) -> None:
    apply_promotion(
        registry,
        name="m",
        version="1",
        decision=decide_promotion(challenger=0.8, champion=None, **RULE),
        **ALIASES,
    )
    lose = decide_promotion(challenger=0.7, champion=0.8, **RULE)
    action = apply_promotion(registry, name="m", version="3", decision=lose, **ALIASES)
    assert not action.promoted
    aliases = {k: str(v) for k, v in registry.get_registered_model("m").aliases.items()}
    assert aliases["production"] == "1" and aliases["challenger"] == "3"
    assert registry.get_model_version("m", "3").tags["driftloop.promotion"] == lose.reason
