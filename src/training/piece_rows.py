"""What workers read off each piece for a split, and the column types of the pieces end to end.

A piece's labelled rows become times, ids and row keys (`read_keys`); once the driver has
decided the split, a piece gives its holdout rows and its training rows' distinct values
(`read_values`). The dtypes are those pandas gives the concatenated pieces, so a key, a time or
a category means the same on every piece as in one frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from config.spec import DatasetSpec
from training.split import continuous_share, value_columns

Reader = Callable[[Path], pd.DataFrame]


@dataclass(frozen=True)
class PieceKeys:
    """What the split needs of one piece: its labelled rows' times, ids and keys, its columns.

    `labelled` are the labelled rows' positions. `keys` hash each labelled row's arrived values,
    `timed_keys` those and the time (see `repeated_rows`); `shares` are (present, not whole)
    counts of each value column; `labels` the distinct labels; `columns` an empty frame typed
    like the piece; `present` the distinct values of each categorical column.
    """

    rows: int
    labelled: np.ndarray[Any, Any]
    times: pd.Series | None
    ids: pd.Series | None
    keys: np.ndarray[Any, Any] | None
    timed_keys: np.ndarray[Any, Any] | None
    shares: dict[str, tuple[int, int]]
    labels: pd.Series
    columns: pd.DataFrame
    present: dict[str, pd.Series]


@dataclass(frozen=True)
class PieceValues:
    """One piece's holdout rows, and the distinct values of its training rows (for the schema)."""

    holdout: pd.DataFrame
    categories: dict[str, pd.Series]
    labels: pd.Series


def read_keys(
    path: Path, read: Reader, spec: DatasetSpec, layout: pd.DataFrame | None
) -> PieceKeys:
    """Read one piece's split keys (on a worker); `layout` types its columns like the whole."""
    frame = read(path)
    if layout is not None:
        frame = _typed_like(frame, layout)
    has_target = spec.target in frame.columns
    labelled = np.flatnonzero(frame[spec.target].notna()) if has_target else np.empty(0, int)
    rows = frame.iloc[labelled]
    values = value_columns(spec, frame.columns)
    timestamp = spec.timestamp if spec.timestamp in frame.columns else None
    return PieceKeys(
        rows=len(frame),
        labelled=labelled.astype("int64"),
        times=rows[timestamp].reset_index(drop=True) if timestamp else None,
        ids=rows[spec.id].reset_index(drop=True) if spec.id in frame.columns else None,
        keys=_row_hashes(rows, values),
        timed_keys=_row_hashes(rows, [*values, timestamp]) if timestamp else None,
        shares={c: continuous_share(rows[c]) for c in values},
        labels=distinct(rows[spec.target]) if has_target else pd.Series([], dtype=object),
        columns=frame.iloc[:0].copy(),  # a view would keep the whole piece alive
        present={c: distinct(frame[c]) for c in spec.features.categorical if c in frame},
    )


def read_values(
    item: tuple[Path, np.ndarray[Any, Any], np.ndarray[Any, Any]], read: Reader, spec: DatasetSpec
) -> PieceValues:
    """Read one piece's holdout rows and its training rows' distinct values (on a worker).

    `item` is the piece's path and the positions of its holdout and training rows.
    """
    path, held, trained = item
    frame = read(path)
    train = frame.iloc[trained]
    return PieceValues(
        holdout=frame.iloc[held],
        categories={c: distinct(train[c]) for c in spec.features.categorical if c in frame},
        labels=distinct(train[spec.target]),
    )


def hashes_alike(columns: pd.DataFrame, layout: pd.DataFrame, hashed: list[str]) -> bool:
    """Whether a piece's `hashed` columns hash as they do in the concatenated frame."""
    return all(c in columns and _alike(columns[c].dtype, layout[c].dtype) for c in hashed)


def concatenated_types(
    layout: pd.DataFrame, found: list[PieceKeys], spec: DatasetSpec
) -> pd.Series:
    """The dtypes of the concatenated frame: categorical columns as categories of their text.

    Pieces with the same categories keep them; otherwise the categories are the sorted text of
    every value present in any piece, as reading the files into one frame makes them.
    """
    types = layout.dtypes.copy()
    for column in spec.features.categorical:
        if column not in layout.columns:
            continue
        dtype = types[column]
        if isinstance(dtype, pd.CategoricalDtype) and all(
            isinstance(c, str) for c in dtype.categories
        ):
            continue
        texts = {str(v) for k in found if column in k.present for v in k.present[column]}
        types[column] = pd.CategoricalDtype(sorted(texts))
    return types


def cast(values: pd.Series, dtype: Any) -> pd.Series:
    """`values` as `dtype` (itself when it already is)."""
    return values if values.dtype == dtype else values.astype(dtype)


def cast_frame(frame: pd.DataFrame, types: pd.Series) -> pd.DataFrame:
    """`frame` with the columns and dtypes of `types` (missing columns are missing values)."""
    frame = frame.reindex(columns=types.index)
    changed = {c: cast(frame[c], t) for c, t in types.items() if frame[c].dtype != t}
    return frame.assign(**changed) if changed else frame


def joined(values: list[pd.Series], dtype: Any) -> pd.Series:
    """Distinct values of several pieces as one series typed like the concatenated column."""
    typed = [cast(v, dtype) for v in values if len(v)]
    if not typed:
        return pd.Series([], dtype=dtype)
    return pd.concat(typed, ignore_index=True) if len(typed) > 1 else typed[0]


def distinct(values: pd.Series) -> pd.Series:
    """The distinct present values, in their dtype."""
    return values.dropna().drop_duplicates().reset_index(drop=True)


def _row_hashes(rows: pd.DataFrame, columns: list[str]) -> np.ndarray[Any, Any] | None:
    if not columns:
        return None
    return pd.util.hash_pandas_object(rows[columns], index=False).to_numpy()


def _typed_like(frame: pd.DataFrame, layout: pd.DataFrame) -> pd.DataFrame:
    frame = frame.reindex(columns=layout.columns)
    changed = {
        c: frame[c].astype(layout[c].dtype)
        for c in layout.columns
        if not _alike(frame[c].dtype, layout[c].dtype)
    }
    return frame.assign(**changed) if changed else frame


def _alike(mine: Any, whole: Any) -> bool:
    # A category hashes (and compares) as its value: categories in any set are their text.
    if isinstance(mine, pd.CategoricalDtype):
        return isinstance(whole, pd.CategoricalDtype) or pd.api.types.is_object_dtype(whole)
    return bool(mine == whole)
