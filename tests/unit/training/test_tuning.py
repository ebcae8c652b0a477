from __future__ import annotations

import json
from dataclasses import asdict, replace
from types import SimpleNamespace

import numpy as np
import pytest
import xgboost as xgb

from factories import make_frame, toy_spec
from training import boosting
from training.errors import TrainingError
from training.fit import TrainingResult, fit_model
from training.model_code import predict_scores
from training.params import TrainingParams
from training.tuning import (
    SEARCH_SPACE,
    XGBOOST_DEFAULTS,
    plan_parallelism,
    should_tune,
    tune_hyperparams,
)

FAST = TrainingParams(n_estimators=60, max_depth=3, learning_rate=0.2, n_jobs=1)
TUNED = replace(FAST, tuning_trials=6, tuning_jobs=1, tuning_min_rows=0)
DEFAULTS = {**XGBOOST_DEFAULTS, "max_depth": 3, "learning_rate": 0.2}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    root = tmp_path_factory.mktemp("tuning")
    spec = toy_spec(root)
    return fit_model(make_frame(1500), spec, TUNED)


def test_tuning_runs_the_trial_count_and_records_each_trial(tuned) -> None:
    assert [t.number for t in tuned.trials] == list(range(6))
    assert tuned.tuning["trials"] == 6
    for trial in tuned.trials:
        assert set(trial.params) == set(SEARCH_SPACE)
        assert trial.state in {"COMPLETE", "PRUNED"}
        assert trial.value is not None and trial.value > 0
        json.dumps(asdict(trial))  # logged as nested MLflow runs: plain values only


def test_default_params_are_trial_zero_and_always_finish(tuned) -> None:
    first = tuned.trials[0]
    assert first.params == DEFAULTS and first.state == "COMPLETE"
    assert tuned.tuning["default_validation"] == first.value


def test_final_model_is_no_worse_than_defaults_on_the_validation_slice(tuned) -> None:
    complete = [t.value for t in tuned.trials if t.state == "COMPLETE"]
    assert tuned.tuning["best_validation"] == min(complete)
    assert tuned.tuning["validation"] == pytest.approx(tuned.tuning["best_validation"])
    assert tuned.tuning["validation"] <= tuned.tuning["default_validation"]


def test_result_params_are_the_ones_the_booster_was_trained_with(tuned) -> None:
    best = tuned.trials[tuned.tuning["best_trial"]].params
    assert {k: tuned.params[k] for k in best} == best
    config = json.loads(tuned.booster.save_config())
    tree = config["learner"]["gradient_booster"]["tree_train_param"]
    assert int(tree["max_depth"]) == best["max_depth"]
    assert float(tree["subsample"]) == pytest.approx(best["subsample"])


def test_tuning_never_trains_or_scores_on_holdout_rows(spec, monkeypatch) -> None:
    seen_times: list[int] = []
    original = boosting.build_matrices

    def spy(fit_part, stop_part, *args, **kwargs):
        seen_times.extend(fit_part["t"].tolist() + stop_part["t"].tolist())
        return original(fit_part, stop_part, *args, **kwargs)

    monkeypatch.setattr(boosting, "build_matrices", spy)
    result = fit_model(make_frame(800), spec, replace(TUNED, tuning_trials=4))
    assert len(result.trials) == 4
    assert max(seen_times) < result.holdout["t"].min()


def test_disabled_tuning_leaves_training_unchanged(spec) -> None:
    frame = make_frame(800)
    plain = fit_model(frame, spec, FAST)
    too_small = fit_model(frame, spec, replace(TUNED, tuning_min_rows=10_000))
    for result in (plain, too_small):
        assert result.trials == () and result.tuning == {}
        assert result.params["max_depth"] == 3 and "subsample" not in result.params
    assert np.array_equal(
        predict_scores(plain.booster, frame, plain.schema),
        predict_scores(too_small.booster, frame, too_small.schema),
    )


def test_parallel_trials_run_every_trial(spec) -> None:
    params = replace(TUNED, n_jobs=2, tuning_jobs=2)
    result = fit_model(make_frame(800), spec, params)
    assert sorted(t.number for t in result.trials) == list(range(6))
    assert result.trials[0].params == DEFAULTS


def test_parallel_trials_share_the_cores_without_oversubscribing() -> None:
    assert plan_parallelism(cores=8, jobs=0, trials=25) == (8, 1)
    assert plan_parallelism(cores=8, jobs=3, trials=25) == (3, 2)
    assert plan_parallelism(cores=2, jobs=4, trials=25) == (2, 1)
    assert plan_parallelism(cores=8, jobs=0, trials=2) == (2, 4)


def test_tuning_runs_only_with_trials_and_enough_rows() -> None:
    assert should_tune(1000, trials=25, min_rows=1000)
    assert not should_tune(999, trials=25, min_rows=1000)
    assert not should_tune(10_000, trials=0, min_rows=0)


def _fake_booster(score: float) -> SimpleNamespace:
    return SimpleNamespace(best_iteration=7, best_score=score)


def test_only_trials_after_the_defaults_can_be_pruned() -> None:
    calls: list[tuple[dict, int]] = []

    def train(params, callbacks):
        calls.append((params, len(callbacks)))
        return _fake_booster(params["learning_rate"])

    result = tune_hyperparams(
        train, {"max_depth": 3, "learning_rate": 0.2}, observe="v-logloss", **_budget(trials=4)
    )
    assert [n for _, n in calls] == [0, 1, 1, 1]
    assert all(params["nthread"] == 2 for params, _ in calls)
    assert result.best_value == min(params["learning_rate"] for params, _ in calls)
    assert result.trials[0].best_iteration == 7 and result.metric == "v-logloss"


def test_tuning_fails_when_no_trial_completes() -> None:
    def train(params, callbacks):
        raise xgb.core.XGBoostError("bad parameters")

    with pytest.raises(TrainingError, match="no tuning trial completed"):
        tune_hyperparams(
            train, {"max_depth": 3, "learning_rate": 0.2}, observe="v-logloss", **_budget(trials=2)
        )


def _budget(trials: int) -> dict:
    return {"trials": trials, "timeout_seconds": None, "jobs": 1, "cores": 2, "seed": 0}
