from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from config.spec import ColumnTypes
from runs.batches import read_batch
from runs.categories import as_text_categories, with_text_categories


def test_numbers_floats_with_nulls_and_text_become_the_same_text_categories() -> None:
    ints = as_text_categories(pd.Series([3, 1, 3]))
    floats = as_text_categories(pd.Series([3.0, np.nan, 1.0]))
    text = as_text_categories(pd.Series(["3", None, "1"]))
    assert ints.tolist() == ["3", "1", "3"]
    assert floats.tolist()[::2] == ["3", "1"] and pd.isna(floats.iloc[1])
    assert list(ints.cat.categories) == list(floats.cat.categories) == ["1", "3"]
    assert list(text.cat.categories) == ["1", "3"]


def test_a_categorical_of_numbers_keeps_its_codes_and_gets_text_categories() -> None:
    values = pd.Series(pd.Categorical([2, 1, None, 2]))
    typed = as_text_categories(values)
    assert typed.tolist()[:2] == ["2", "1"] and pd.isna(typed.iloc[2])
    already = pd.Series(pd.Categorical(["a", "b"]))
    assert as_text_categories(already) is already


def test_a_csv_keeps_leading_zeros_and_matches_a_parquet_of_numbers(tmp_path: Path) -> None:
    csv = tmp_path / "b.csv"
    csv.write_text("region,code,x\n01,3,0.5\n2,1,0.7\n01,,0.1\n")
    parquet = tmp_path / "r.parquet"
    pd.DataFrame({"region": ["01", "2"], "code": [3, 1], "x": [0.1, 0.2]}).to_parquet(parquet)
    batch = read_batch(csv, types=ColumnTypes(categorical=("region", "code", "absent")))
    reference = read_batch(parquet, types=ColumnTypes(categorical=("region", "code")))
    assert batch["region"].tolist() == ["01", "2", "01"]
    assert batch["code"].tolist()[:2] == ["3", "1"] and pd.isna(batch["code"].iloc[2])
    assert set(batch["code"].dropna()) <= set(reference["code"].cat.categories)
    assert batch["x"].dtype == "float64"  # columns the spec does not call categorical stay


def test_columns_already_text_categories_are_left_alone() -> None:
    frame = pd.DataFrame({"c": pd.Categorical(["a"]), "n": [1]})
    assert with_text_categories(frame, ["c"]) is frame


def test_text_timestamps_are_parsed_once_with_the_specs_format_and_zone(tmp_path: Path) -> None:
    csv = tmp_path / "b.csv"
    csv.write_text("when,seq,x\n31/01/2024 23:30,1,0.5\n01/02/2024 08:00,2,0.7\nnot a date,3,0\n")
    types = ColumnTypes(timestamp="when", timestamp_format="%d/%m/%Y %H:%M", timezone="UTC")
    frame = read_batch(csv, types=types)
    assert str(frame["when"].dt.tz) == "UTC"
    assert frame["when"].iloc[1] == pd.Timestamp("2024-02-01 08:00", tz="UTC")
    assert pd.isna(frame["when"].iloc[2])  # validation reports it: timestamps may not be missing
    ordinal = read_batch(csv, types=ColumnTypes(timestamp="seq"))
    assert ordinal["seq"].tolist() == [1, 2, 3]  # a number is an ordinal time, left as it is
