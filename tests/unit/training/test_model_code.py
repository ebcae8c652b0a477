from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.fit import _category_labels
from training.model_code import as_categories, prepare_features

CATEGORIES = ["1", "10", "2", "a", "b"]


def _per_row(values: pd.Series, categories: list[str]) -> pd.Categorical:
    # Each present value's own text, as `build_schema` writes it (it drops missing values first);
    # whole numbers stored as floats are their integer text ("1", not "1.0").
    known = values.dropna()
    if pd.api.types.is_float_dtype(known.dtype) and (known % 1 == 0).all():
        known = known.astype("int64")
    text = known.astype("string").reindex(values.index)
    return pd.Categorical(text, categories=categories)


VALUES = pytest.mark.parametrize(
    "values",
    [
        pd.Series(pd.Categorical(["b", "a", None, "zz", "a"])),
        pd.Series(pd.Categorical(["b", "a"], categories=["zz", "b", "q", "a"])),
        pd.Series(pd.Categorical([1, 10, 2, None, 3])),
        pd.Series(pd.Categorical([], categories=["a"])),
        pd.Series(["b", "a", None, np.nan, "zz", "a"], dtype=object),
        pd.Series([1, "1", 2.5, "b", None], dtype=object),
        pd.Series(["a", None, "b"], dtype="string"),
        pd.Series([1, 10, 2, 7]),
        pd.Series([1.0, np.nan, 2.0]),
    ],
    ids=lambda v: str(v.dtype),
)


@VALUES
def test_categories_match_the_per_row_text_conversion(values) -> None:
    fast = as_categories(values, CATEGORIES)
    expected = _per_row(values, CATEGORIES)
    assert fast.dtype == expected.dtype
    assert np.array_equal(fast.codes, expected.codes)


@VALUES
def test_every_present_value_finds_its_schema_category(values) -> None:
    labels = _category_labels(values)
    texts = pd.Series(_per_row(values, labels)).dropna().astype(str)
    assert labels == sorted(texts.unique().tolist())
    out = as_categories(values, labels)
    assert out.isna().tolist() == values.isna().tolist()


def test_integer_categories_with_missing_values_are_not_lost() -> None:
    # Converting the whole column row by row wrote these as "1.0" while the schema says "1".
    values = pd.Series(pd.Categorical([1, 10, None]))
    assert as_categories(values, ["1", "10"]).codes.tolist() == [0, 1, -1]


def test_unseen_and_missing_categories_become_missing() -> None:
    values = pd.Series(pd.Categorical(["a", "new", None, "b"]))
    out = as_categories(values, ["a", "b"])
    assert out.isna().tolist() == [False, True, True, False]


def test_no_training_categories_leaves_every_value_missing() -> None:
    values = pd.Series(pd.Categorical(["a", "b"]))
    assert as_categories(values, []).isna().all()
    assert as_categories(values.astype(object), []).isna().all()


def test_prepare_features_coerces_numbers_and_keeps_the_row_index() -> None:
    frame = pd.DataFrame(
        {"x": ["1.5", "oops", None], "c": pd.Categorical(["b", "a", "c"])}, index=[7, 8, 9]
    )
    schema = {"numeric": ["x"], "categorical": {"c": ["a", "b"]}}
    out = prepare_features(frame, schema)
    assert out.index.tolist() == [7, 8, 9]
    assert out["x"].dtype == "float64" and out["x"].isna().tolist() == [False, True, True]
    assert out["c"].cat.categories.tolist() == ["a", "b"]
    assert out["c"].cat.codes.tolist() == [1, 0, -1]
