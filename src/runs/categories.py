"""Categorical columns as categories of text, whatever the file format stored them as.

A CSV parser reads survey answers coded 1-5, region numbers or product codes as integers (and
drops the zero of "01"); Parquet keeps whatever type the writer used. The spec says what a
column is, so a categorical column is read as text: `3` in a CSV batch and `"3"` in a Parquet
reference are one category, and `"01"` stays `"01"`.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from training.row_features import whole_numbers


def as_text_categories(values: pd.Series) -> pd.Series:
    """`values` as a pandas Categorical whose categories are the values' text.

    Integers stored as floats (a column with nulls) keep their integer text ("3", not "3.0").
    Values are converted per distinct value, not per row, so a million-row column is cheap.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        if all(isinstance(c, str) for c in values.cat.categories):
            return values
        codes, distinct = values.cat.codes.to_numpy(), list(values.cat.categories)
    else:
        if pd.api.types.is_float_dtype(values.dtype) and whole_numbers(values):
            values = values.astype("Int64")
        codes, uniques = pd.factorize(values)
        distinct = list(uniques)
    texts = [str(v) for v in distinct]
    categories = sorted(set(texts))
    # Each distinct value's category; the extra -1 is where a missing row's code points.
    positions = np.append(pd.Index(categories).get_indexer(texts), -1)
    typed = pd.Categorical.from_codes(positions[codes], categories=categories)
    return pd.Series(typed, index=values.index, name=values.name)


def with_text_categories(frame: pd.DataFrame, columns: Collection[str]) -> pd.DataFrame:
    """`frame` with each of `columns` it has turned into categories of text (a copy if any)."""
    present = [c for c in columns if c in frame.columns]
    changed = {c: as_text_categories(frame[c]) for c in present}
    changed = {c: v for c, v in changed.items() if v is not frame[c]}
    return frame.assign(**changed) if changed else frame
