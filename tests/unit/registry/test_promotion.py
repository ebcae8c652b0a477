from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from evaluation.comparison import PairedDifference, compare_on_holdout
from evaluation.holdout import Evaluation
from registry.promotion import PromotionRule, decide_promotion, judge_challenger

RULE = {"metric": "roc_auc", "min_improvement": 0.01, "confidence": 0.95, "floor": 0.55}


def diff(metric: str, gain: float, low: float, high: float) -> PairedDifference:
    return PairedDifference(metric, 0.8 + gain, 0.8, gain, low, high, 0.95, 1000)


def test_first_valid_model_is_promoted_on_the_floor_alone() -> None:
    decision = decide_promotion(challenger=0.70, comparisons=None, **RULE)
    assert decision.promote and decision.reason.startswith("no champion")
    assert "floor alone" in decision.rule


def test_first_model_below_the_floor_is_not_promoted() -> None:
    decision = decide_promotion(challenger=0.52, comparisons=None, **RULE)
    assert not decision.promote and "misses the floor" in decision.reason


def test_a_gain_whose_lower_bound_clears_the_margin_promotes() -> None:
    decision = decide_promotion(
        challenger=0.85, comparisons={"roc_auc": diff("roc_auc", 0.05, 0.02, 0.08)}, **RULE
    )
    assert decision.promote and decision.gain == pytest.approx(0.05)
    assert (
        "at least +0.0200" in decision.reason and "95% bounds +0.0200, +0.0800" in decision.reason
    )


def test_a_point_gain_within_the_noise_keeps_the_champion() -> None:
    decision = decide_promotion(
        challenger=0.83, comparisons={"roc_auc": diff("roc_auc", 0.03, -0.01, 0.07)}, **RULE
    )
    assert not decision.promote and "may be noise" in decision.reason


def test_challenger_that_fixes_a_shifted_threshold_wins_on_accuracy() -> None:
    decision = decide_promotion(
        challenger=0.80,
        comparisons={
            "roc_auc": diff("roc_auc", 0.0, -0.02, 0.02),
            "accuracy": diff("accuracy", 0.09, 0.05, 0.13),
        },
        **RULE,
    )
    assert decision.promote and "beats champion on accuracy" in decision.reason


def test_challenger_clearly_worse_on_any_compared_metric_is_not_promoted() -> None:
    decision = decide_promotion(
        challenger=0.85,
        comparisons={
            "roc_auc": diff("roc_auc", 0.05, 0.02, 0.08),
            "accuracy": diff("accuracy", -0.15, -0.2, -0.1),
        },
        **RULE,
    )
    assert not decision.promote and decision.reason.startswith("worse on accuracy")


def test_a_slice_regression_blocks_an_otherwise_better_challenger() -> None:
    decision = decide_promotion(
        challenger=0.85,
        comparisons={"roc_auc": diff("roc_auc", 0.05, 0.02, 0.08)},
        slice_regressions=("temperature (-2, -1]: roc_auc 0.60 vs 0.75 (-0.150)",),
        **RULE,
    )
    assert not decision.promote and "worse on slices: temperature" in decision.reason


def test_nothing_comparable_keeps_the_champion() -> None:
    decision = decide_promotion(challenger=0.85, comparisons={}, **RULE)
    assert not decision.promote and "no metric could be compared" in decision.reason


def _data(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5))
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 3]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    return pd.DataFrame(x, columns=[f"x{i}" for i in range(5)]), y


def _fit(
    x: pd.DataFrame, y: np.ndarray, seed: int, columns: list[str] | None = None
) -> xgb.Booster:
    params = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "max_depth": 4,
        "eta": 0.1,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "seed": seed,
        "nthread": 1,
    }
    return xgb.train(params, xgb.DMatrix(x[columns] if columns else x, label=y), 80)


def _decide(holdout: pd.DataFrame, y: pd.Series, ours: np.ndarray, theirs: np.ndarray):
    comparisons = compare_on_holdout(
        y,
        ours,
        theirs,
        task="binary",
        classes=[0, 1],
        metrics=["roc_auc", "accuracy"],
        confidence=0.95,
        resamples=300,
    )
    return decide_promotion(
        metric="roc_auc",
        challenger=comparisons["roc_auc"].challenger,
        comparisons=comparisons,
        min_improvement=0.005,
        confidence=0.95,
        floor=0.55,
    )


def test_the_same_model_retrained_with_another_seed_is_never_promoted() -> None:
    x, y = _data(3000, seed=1)
    holdout, y_holdout = _data(800, seed=2)
    champion = _fit(x, y, seed=0).predict(xgb.DMatrix(holdout))
    decisions = [
        _decide(
            holdout,
            pd.Series(y_holdout),
            _fit(x, y, seed=s).predict(xgb.DMatrix(holdout)),
            champion,
        )
        for s in range(1, 11)
    ]
    gains = [d.gain for d in decisions]
    assert any(g is not None and g > 0 for g in gains)  # some seeds do look better...
    assert not any(d.promote for d in decisions)  # ...and none is promoted for it


def test_a_truly_better_challenger_is_promoted() -> None:
    x, y = _data(3000, seed=1)
    holdout, y_holdout = _data(800, seed=2)
    # The champion never saw x1, which carries much of the signal.
    weak = _fit(x, y, seed=0, columns=["x0", "x2", "x3", "x4"])
    theirs = weak.predict(xgb.DMatrix(holdout[["x0", "x2", "x3", "x4"]]))
    ours = _fit(x, y, seed=0).predict(xgb.DMatrix(holdout))
    decision = _decide(holdout, pd.Series(y_holdout), ours, theirs)
    assert decision.promote, decision.reason


def test_paired_bounds_bracket_the_point_gain_and_respect_the_direction() -> None:
    rng = np.random.default_rng(3)
    y = pd.Series(rng.normal(size=500))
    good, bad = y + rng.normal(0, 0.3, 500), y + rng.normal(0, 0.6, 500)
    result = compare_on_holdout(
        y,
        good,
        bad,
        task="regression",
        classes=[],
        metrics=["rmse"],
        confidence=0.95,
        resamples=300,
    )["rmse"]
    assert result.gain > 0  # lower rmse is better: the gain is positive
    assert result.low <= result.gain <= result.high and result.low > 0


def test_a_relative_margin_is_a_share_of_the_champions_value() -> None:
    # RMSE of 400 (lower is better): 1.0 better is 0.25% of it, short of a 0.5% margin.
    small = PairedDifference("rmse", 399.0, 400.0, 1.0, 0.5, 1.5, 0.95, 1000)
    rule = {"metric": "rmse", "min_improvement": 0.005, "confidence": 0.95, "floor": None}
    assert decide_promotion(challenger=399.0, comparisons={"rmse": small}, **rule).promote
    kept = decide_promotion(challenger=399.0, comparisons={"rmse": small}, relative=True, **rule)
    assert not kept.promote and "0.5% of the champion's value" in kept.reason
    big = PairedDifference("rmse", 390.0, 400.0, 10.0, 6.0, 14.0, 0.95, 1000)
    assert decide_promotion(
        challenger=390.0, comparisons={"rmse": big}, relative=True, **rule
    ).promote


def test_a_metric_undefined_on_the_holdout_is_never_promoted() -> None:
    # Before: judge_challenger raised KeyError('roc_auc') on a holdout whose labels were one
    # class (statsmodels' fair survey, which is sorted by its target, with no timestamp).
    rule = PromotionRule(metric="roc_auc", min_improvement=0.01, confidence=0.95, floor=None)
    evaluation = Evaluation(champion_metrics=None, comparisons=None, intervals={}, slices=None)
    decision = judge_challenger(rule, {"accuracy": 0.9, "log_loss": 0.3}, evaluation)
    assert not decision.promote and "roc_auc is undefined" in decision.reason
