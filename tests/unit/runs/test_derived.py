from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.spec import DatasetSpec
from runs.batches import build_manifest, content_hash
from runs.derived import derive, read_history, read_training_data
from runs.ledger import LedgerEntry, append_entry, history_files
from training.fit import build_schema, repeated_rows
from training.model_code import prepare_features
from training.row_features import add_row_features, parse_times

WEEKS = pd.date_range("2020-01-05", periods=10, freq="7D")


def co2_spec(**derived: dict) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "co2",
            "task": "regression",
            "target": "co2_change",
            "timestamp": "week",
            "features": {"numeric": []},
            "reference": "ref.csv",
            "incoming": "in",
            "derived": {
                "co2_lag_1": {"lag": "co2", "periods": 1},
                **derived,
                "co2_change": {"diff": "co2"},
            },
        }
    )


def weekly(values: list[float], start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"week": WEEKS[start : start + len(values)], "co2": values})


def test_lags_and_differences_cross_into_the_history() -> None:
    spec = co2_spec()
    out = derive(weekly([6.0, 8.0], start=5), spec, history=weekly([1.0, 2, 3, 4, 5]))
    assert out["co2_lag_1"].tolist() == [5.0, 6.0]
    assert out["co2_change"].tolist() == [1.0, 2.0]


def test_rows_out_of_time_order_get_their_own_lags_back_in_their_order() -> None:
    spec = co2_spec()
    batch = weekly([6.0, 7.0, 9.0], start=5).iloc[::-1].reset_index(drop=True)
    out = derive(batch, spec, history=weekly([5.0], start=4))
    assert out["co2"].tolist() == [9.0, 7.0, 6.0]
    assert out["co2_lag_1"].tolist() == [7.0, 6.0, 5.0]


def test_a_rolling_statistic_of_the_target_source_never_sees_its_own_row() -> None:
    spec = co2_spec(
        co2_mean_2={"rolling": "co2", "window": 2},
        co2_max_14d={"rolling": "co2", "window": "14D", "stat": "max"},
    )
    out = derive(weekly([1.0, 2.0, 10.0, 3.0]), spec)
    assert out["co2_mean_2"].tolist()[1:] == [1.0, 1.5, 6.0]
    assert out["co2_max_14d"].tolist()[1:] == [1.0, 2.0, 10.0]
    assert np.isnan(out["co2_mean_2"].iloc[0])


def test_a_rolling_statistic_of_a_plain_feature_includes_its_row() -> None:
    spec = co2_spec(temp_mean_2={"rolling": "temp", "window": 2})
    frame = weekly([1.0, 2.0, 3.0]).assign(temp=[10.0, 20.0, 40.0])
    assert derive(frame, spec)["temp_mean_2"].tolist() == [10.0, 15.0, 30.0]


def test_an_unlabelled_batch_stays_unlabelled_and_its_first_lag_comes_from_history() -> None:
    spec = co2_spec()
    unlabelled = weekly([0.0, 0.0], start=5).drop(columns="co2")
    out = derive(unlabelled, spec, history=weekly([4.0, 5.0], start=3))
    assert "co2_change" not in out.columns
    assert out["co2_lag_1"].iloc[0] == 5.0
    assert np.isnan(out["co2_lag_1"].iloc[1])


def test_row_local_features_parse_times_and_guard_division() -> None:
    spec = DatasetSpec.model_validate(
        {
            "name": "orders",
            "task": "binary",
            "target": "late",
            "features": {"numeric": ["price"], "categorical": ["month"]},
            "reference": "ref.csv",
            "incoming": "in",
            "derived": {
                "days": {"between": ["ordered_at", "delivered_at"], "unit": "days"},
                "month": {"date_part": "ordered_at", "part": "month"},
                "per_kg": {"ratio": ["price", "weight"]},
            },
        }
    )
    frame = pd.DataFrame(
        {
            "ordered_at": ["2024-01-30 12:00", "2024-02-03 00:00", "not a time"],
            "delivered_at": ["2024-02-01 00:00", "2024-02-03 06:00", "2024-02-05"],
            "price": [10.0, 3.0, 1.0],
            "weight": [2.0, 0.0, 4.0],
        }
    )
    out = derive(frame, spec)
    assert out["days"].tolist()[:2] == [1.5, 0.25] and np.isnan(out["days"].iloc[2])
    assert out["month"].astype(str).tolist()[:2] == ["1", "2"]
    assert isinstance(out["month"].dtype, pd.CategoricalDtype)
    assert out["per_kg"].tolist()[0] == 5.0 and out["per_kg"].isna().tolist()[1:] == [True, False]
    assert set(spec.served_columns) == {"price", "ordered_at", "delivered_at", "weight"}
    # The served model's own computation gives the same values from the raw columns.
    schema = [spec.derived[n].as_schema(n) for n in ("days", "month", "per_kg")]
    served = add_row_features(frame, schema)
    pd.testing.assert_series_equal(served["days"], out["days"])
    pd.testing.assert_series_equal(served["per_kg"], out["per_kg"])


def test_history_is_the_reference_and_accepted_batches_only(tmp_path: Path) -> None:
    spec = co2_spec(co2_mean_3={"rolling": "co2", "window": 3})
    files = {}
    for name, start, values in (("ref", 0, [1.0, 2.0]), ("b1", 2, [3.0]), ("bad", 3, [99.0])):
        files[name] = tmp_path / f"{name}.csv"
        weekly(values, start).to_csv(files[name], index=False)
    ledger = tmp_path / "ledger.jsonl"
    for name, status in (("b1", "accepted"), ("bad", "quarantined")):
        path = files[name]
        append_entry(
            ledger,
            LedgerEntry(name, content_hash(path), status, True, 1, str(path), "r", "now"),
        )
    paths = history_files(ledger, files["ref"], before=None)
    assert paths == [files["ref"], files["b1"]]
    history = read_history(paths, spec)
    assert history["co2"].tolist() == [1.0, 2.0, 3.0]
    out = derive(weekly([4.0], start=4), spec, history=history)
    assert out["co2_lag_1"].tolist() == [3.0]
    assert out["co2_mean_3"].tolist() == [2.0]


def test_training_files_are_one_history(tmp_path: Path) -> None:
    spec = co2_spec()
    paths = []
    for index, values in enumerate(([1.0, 2.0], [4.0, 7.0])):
        paths.append(tmp_path / f"part{index}.csv")
        weekly(values, start=2 * index).to_csv(paths[-1], index=False)
    data = read_training_data(build_manifest(paths, tmp_path), tmp_path, spec)
    assert data["co2_change"].tolist()[1:] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("derived", "message"),
    [
        ({"x": {"lag": "co2", "rolling": "co2"}}, "exactly one of"),
        ({"x": {"lag": "co2", "window": 3}}, "lag takes periods"),
        ({"x": {"ratio": "co2"}}, "ratio: give [first, second]"),
        ({"x": {"rolling": "co2", "window": "fortnight"}}, "a span like 28D"),
        ({"x": {"ratio": ["co2", "t"]}}, "would leak the target"),
        ({"x": {"lag": "y2", "periods": 1}, "y2": {"lag": "t"}}, "define 'y2' above it"),
        ({"x": {"rolling": "t", "window": "4"}}, "without quotes"),
        ({"x": {"rolling": "t", "window": 3, "min_periods": 5}}, "more than the window"),
    ],
)
def test_unusable_derived_columns_are_refused_with_the_fix(derived: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        co2_spec(**derived)


def test_a_difference_target_needs_its_lag_to_score_back_as_a_level() -> None:
    with pytest.raises(ValueError, match=r"add co2_lag_1: \{lag: co2, periods: 1\}"):
        DatasetSpec.model_validate(
            {
                "name": "co2",
                "task": "regression",
                "target": "co2_change",
                "features": {"numeric": ["t"]},
                "reference": "r.csv",
                "incoming": "in",
                "derived": {"co2_change": {"diff": "co2"}},
            }
        )


def test_the_target_source_is_never_a_feature_or_required_of_unlabelled_batches() -> None:
    spec = co2_spec()
    assert spec.label_columns == ("co2_change", "co2")
    assert "co2" not in spec.required_columns and "co2" not in spec.feature_columns
    assert spec.features.numeric == ("co2_lag_1",)
    with pytest.raises(ValueError, match="what the target is computed from"):
        DatasetSpec.model_validate(
            {**co2_spec().model_dump(mode="json"), "features": {"numeric": ["co2"]}}
        )


def test_a_categorical_date_part_is_the_same_category_in_training_and_serving() -> None:
    spec = DatasetSpec.model_validate(
        {
            "name": "m",
            "task": "binary",
            "target": "y",
            "timestamp": "t",
            "features": {"numeric": ["x"], "categorical": ["month"]},
            "reference": "r.csv",
            "incoming": "in",
            "derived": {"month": {"date_part": "t", "part": "month"}},
        }
    )
    frame = pd.DataFrame(
        {"t": pd.date_range("2024-01-20", periods=3, freq="10D"), "x": [1.0, 2.0, 3.0]}
    ).assign(y=[0, 1, 0])
    derived = derive(frame, spec)
    schema = build_schema(derived, spec)
    assert schema["categorical"]["month"] == ["1", "2"]
    served = prepare_features(frame, schema)  # the raw columns only, as a caller sends them
    assert served["month"].astype(str).tolist() == ["1", "1", "2"]


def test_times_in_another_format_are_read_on_one_clock() -> None:
    text = pd.Series(["2024-01-02 10:00", "2024-01-02T11:00:00+00:00", "2024-01-02T12:00+01:00"])
    parsed = parse_times(text, format="%Y-%m-%d %H:%M")
    assert pd.api.types.is_datetime64_any_dtype(parsed.dtype)
    assert parsed.dt.hour.tolist() == [10, 11, 11]


def test_resent_rows_are_found_by_what_arrived_not_by_their_lags() -> None:
    spec = co2_spec()
    first = weekly([1.0, 2.4, 3.1, 4.7, 5.2, 6.9, 7.3, 8.8])
    resent = first.iloc[5:7]  # the same weeks sent again in a later file
    data = derive(pd.concat([first, resent], ignore_index=True), spec).dropna()
    holdout = data.tail(2)
    assert repeated_rows(data, holdout, spec).tolist() == [True, True]
    steady = derive(weekly([1.0, 2.0, 1.0, 2.0, 1.0, 2.0]), spec).dropna()
    assert not repeated_rows(steady, steady.tail(2), spec).any()  # same values, other weeks
