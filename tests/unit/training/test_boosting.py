from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
import xgboost as xgb

from factories import make_frame
from training import boosting, device, matrices
from training.boosting import train_booster
from training.fit import build_schema, fit_model, time_ordered_split
from training.matrices import MAX_BIN, build_matrices
from training.params import TrainingParams
from training.tuning import available_cores

FAST = TrainingParams(n_estimators=60, max_depth=3, learning_rate=0.2, n_jobs=1, device="cpu")
TUNED = replace(FAST, tuning_trials=5, tuning_jobs=2, n_jobs=2, tuning_min_rows=0)


def _parts(spec, rows: int = 1200):
    train, _ = time_ordered_split(make_frame(rows), timestamp="t", holdout_fraction=0.2)
    fit_part, stop_part = time_ordered_split(train, timestamp="t", holdout_fraction=0.1)
    return fit_part, stop_part, build_schema(train, spec)


def _config(booster: xgb.Booster) -> dict:
    return json.loads(booster.save_config())


def test_tuning_trials_and_the_final_fit_share_one_build_of_the_matrices(spec, monkeypatch):
    built: list[int] = []
    original = matrices.matrix_inputs

    def counting(frame, schema):
        built.append(len(frame))
        return original(frame, schema)

    monkeypatch.setattr(matrices, "matrix_inputs", counting)
    result = fit_model(make_frame(1500), spec, TUNED)
    assert len(result.trials) == 5
    assert built == [1080, 120]  # the training part and the early-stopping slice, once each


def test_concurrent_fits_on_shared_matrices_equal_fits_on_their_own(spec) -> None:
    fit_part, stop_part, schema = _parts(spec)
    grid = [
        {"max_depth": depth, "learning_rate": rate, "subsample": sub, "colsample_bytree": col}
        for depth, rate, sub, col in [(2, 0.3, 1.0, 1.0), (4, 0.1, 0.7, 0.8), (6, 0.2, 0.6, 0.5)]
    ]

    def fit(params, shared):
        data = shared or build_matrices(fit_part, stop_part, spec, schema, weights=None, threads=1)
        booster = xgb.train(
            {"tree_method": "hist", "objective": "binary:logistic", "nthread": 1, **params},
            data.fit,
            num_boost_round=40,
            evals=[(data.stop, "stop")],
            early_stopping_rounds=5,
            verbose_eval=False,
        )
        return bytes(booster.save_raw("json"))

    alone = [fit(params, None) for params in grid]
    shared = build_matrices(fit_part, stop_part, spec, schema, weights=None, threads=1)
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda params: fit(params, shared), grid * 4))
    assert together == alone * 4


def test_sample_weights_reach_the_binned_matrices(spec) -> None:
    fit_part, stop_part, schema = _parts(spec)
    weights = make_frame(1200)["t"].astype("float64") + 1.0
    built = build_matrices(fit_part, stop_part, spec, schema, weights=weights, threads=1)
    assert np.array_equal(built.fit.get_weight(), weights.loc[fit_part.index].to_numpy())
    assert np.array_equal(built.stop.get_weight(), weights.loc[stop_part.index].to_numpy())
    assert built.fit.num_row() == len(fit_part) and built.stop.num_col() == 3


def test_boosters_use_every_core_by_default_and_the_matrices_bin_count(spec) -> None:
    fit_part, stop_part, schema = _parts(spec)
    params = replace(FAST, n_jobs=0)
    booster, _, _ = train_booster(
        fit_part, stop_part, spec, schema, weights=None, params=params, device="cpu"
    )
    learner = _config(booster)["learner"]
    assert int(learner["generic_param"]["nthread"]) == available_cores()
    assert learner["generic_param"]["device"] == "cpu"
    assert int(learner["gradient_booster"]["tree_train_param"]["max_bin"]) == MAX_BIN


def test_explicit_n_jobs_sets_the_booster_threads(spec) -> None:
    fit_part, stop_part, schema = _parts(spec)
    booster, _, _ = train_booster(
        fit_part, stop_part, spec, schema, weights=None, params=FAST, device="cpu"
    )
    assert int(_config(booster)["learner"]["generic_param"]["nthread"]) == 1


class _StopError(Exception):
    pass


@pytest.mark.parametrize(("device", "jobs"), [("cuda", 1), ("cpu", 2)])
def test_trials_on_a_gpu_run_one_at_a_time(spec, monkeypatch, device, jobs) -> None:
    seen: dict = {}

    def fake_tune(train, start, **kwargs):
        seen.update(kwargs)
        raise _StopError

    monkeypatch.setattr(boosting, "tune_hyperparams", fake_tune)
    fit_part, stop_part, schema = _parts(spec)
    with pytest.raises(_StopError):
        train_booster(fit_part, stop_part, spec, schema, weights=None, params=TUNED, device=device)
    assert seen["jobs"] == jobs and seen["cores"] == 2


def test_result_records_the_device_auto_resolved_to(spec, monkeypatch) -> None:
    monkeypatch.setattr(device, "xgboost_has_cuda", lambda: False)
    result = fit_model(make_frame(600), spec, replace(FAST, device="auto"))
    assert result.params["device"] == "cpu"
