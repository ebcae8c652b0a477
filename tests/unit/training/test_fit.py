from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from config.spec import DatasetSpec
from evaluation.metrics import compute_metrics
from factories import make_frame
from training.errors import TrainingError
from training.fit import fit_model, time_ordered_split
from training.model_code import predict_scores
from training.params import TrainingParams
from training.served import save_model_files

FAST = TrainingParams(n_estimators=60, max_depth=3, learning_rate=0.2, n_jobs=1)


def test_split_holds_out_the_newest_rows() -> None:
    frame = make_frame(100).sample(frac=1, random_state=0)
    train, holdout = time_ordered_split(frame, timestamp="t", holdout_fraction=0.2)
    assert len(holdout) == 20 and holdout.t.min() > train.t.max()


def test_model_learns_the_signal_and_scores_its_holdout(spec: DatasetSpec) -> None:
    result = fit_model(make_frame(1500), spec, FAST)
    assert result.metrics["roc_auc"] > 0.8
    assert len(result.holdout) == 300 and result.train_rows == 1200
    assert result.schema["categorical"]["colour"] == ["blue", "green", "red"]
    assert result.schema["classes"] == [0, 1]


def test_holdout_never_contains_rows_the_champion_saw(spec: DatasetSpec) -> None:
    frame = make_frame(1000)
    result = fit_model(frame, spec, FAST, seen=frame.t < 900)
    assert result.holdout.t.min() >= 900 and len(result.holdout) == 100
    assert result.train_rows == 900


def test_single_class_target_is_refused(spec: DatasetSpec) -> None:
    with pytest.raises(TrainingError, match="single class"):
        fit_model(make_frame(400).assign(y=1), spec, FAST)


def test_nothing_unseen_to_hold_out_is_refused(spec: DatasetSpec) -> None:
    with pytest.raises(TrainingError, match="0 unseen rows"):
        frame = make_frame(400)
        fit_model(frame, spec, FAST, seen=frame.t >= 0)


def test_saved_booster_scores_raw_rows_like_the_trained_one(spec, tmp_path) -> None:
    result = fit_model(make_frame(800), spec, FAST)
    booster_path, schema_path = save_model_files(result, tmp_path)
    loaded = xgb.Booster()
    loaded.load_model(str(booster_path))
    raw = make_frame(50, seed=9)
    raw.loc[0, "colour"] = "never-seen"  # unseen category is treated as missing
    raw["x1"] = raw["x1"].astype(str)  # numbers read as text still score
    again = predict_scores(loaded, raw, json.loads(schema_path.read_text()))
    assert np.allclose(again, predict_scores(result.booster, raw, result.schema))
    assert booster_path.read_bytes()[:1] == b"{"  # UBJSON object, not a pickle


def test_metrics_for_each_task() -> None:
    y = pd.Series([0, 1, 1, 0])
    binary = compute_metrics("binary", y, np.array([0.1, 0.9, 0.8, 0.3]), [0, 1])
    assert binary["roc_auc"] == 1.0 and binary["accuracy"] == 1.0
    multi = compute_metrics(
        "multiclass", pd.Series(["a", "b"]), np.array([[0.9, 0.1], [0.2, 0.8]]), ["a", "b"]
    )
    assert multi["accuracy"] == 1.0
    reg = compute_metrics("regression", pd.Series([1.0, 2.0]), np.array([1.0, 4.0]), [])
    assert reg["mae"] == 1.0 and reg["rmse"] == pytest.approx(np.sqrt(2))


def test_row_order_index_and_unlabelled_rows_do_not_change_the_model(spec) -> None:
    frame = make_frame(800).astype({"y": "float64"})
    shuffled = frame.sample(frac=1, random_state=1).set_axis(range(1000, 1800))
    with_unlabelled = frame.copy()
    with_unlabelled.loc[[5, 700], "y"] = np.nan
    untouched = with_unlabelled.copy()
    plain = fit_model(frame.drop(index=[5, 700]), spec, FAST)
    for other in (
        fit_model(shuffled[~shuffled.t.isin([5, 700])], spec, FAST),
        fit_model(with_unlabelled, spec, FAST),
    ):
        assert other.train_rows == plain.train_rows
        assert other.holdout["t"].tolist() == plain.holdout["t"].tolist()
        assert np.array_equal(
            predict_scores(other.booster, frame, other.schema),
            predict_scores(plain.booster, frame, plain.schema),
        )
    pd.testing.assert_frame_equal(with_unlabelled, untouched)  # the caller's frame is left as is


def test_split_of_rows_already_in_time_order_keeps_ties_in_arrival_order() -> None:
    frame = pd.DataFrame({"t": [1, 1, 2, 2, 3], "v": [0, 1, 2, 3, 4]})
    train, holdout = time_ordered_split(frame, timestamp="t", holdout_fraction=0.4)
    assert train["v"].tolist() == [0, 1, 2] and holdout["v"].tolist() == [3, 4]
    late = frame.assign(t=[1, 2, 1, 3, 2])
    train, holdout = time_ordered_split(late, timestamp="t", holdout_fraction=0.4)
    assert train["v"].tolist() == [0, 2, 1] and holdout["v"].tolist() == [4, 3]


def test_rows_sent_again_under_new_ids_and_times_never_enter_the_holdout(spec) -> None:
    frame = make_frame(1000)
    resent = frame.iloc[300:500].assign(t=np.arange(1000, 1200))  # the same rows, renumbered
    data = pd.concat([frame, resent], ignore_index=True)
    result = fit_model(data, spec, FAST)
    # The newest 240 rows: 40 new ones, and 200 resent training rows that must not be scored.
    assert len(result.holdout) == 40 and result.holdout.t.max() == 999
    assert result.train_rows == 1160


def test_discrete_rows_that_repeat_at_other_times_stay_in_the_holdout(spec) -> None:
    frame = make_frame(1000).assign(x1=lambda f: f.x1.round(), x2=lambda f: f.x2.round())
    result = fit_model(frame, spec, FAST)
    assert len(result.holdout) == 200
