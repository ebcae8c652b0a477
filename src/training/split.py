"""Split labelled rows by time: the holdout, the early-stopping slice, and resent rows.

One set of rules for every engine: a fit on one frame applies them to its rows, and a fit on a
cluster applies them to a small frame of the same rows' times and keys (`training.piece_split`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np
import pandas as pd

from config.spec import DatasetSpec
from training.errors import TrainingError

MIN_TRAIN_ROWS = 50
# Early stopping watches the newest slice of the training part, never the holdout, so the holdout
# stays an unbiased referee between challenger and champion.
EARLY_STOPPING_FRACTION = 0.1
# A column is continuous when more than this share of its present values are not whole numbers.
MOSTLY_FRACTIONAL = 0.5
# Whether each holdout row must leave the holdout (the champion trained on it, or it repeats one).
HeldBack = Callable[[pd.DataFrame], Any]


def time_ordered_split(
    frame: pd.DataFrame, *, timestamp: str | None, holdout_fraction: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train, holdout) with the newest rows held out.

    Rows are ordered by `timestamp` when the spec has one (stable, so ties keep arrival order),
    otherwise by arrival order.
    """
    # A stable sort of rows already in time order changes nothing; skipping it saves a copy.
    in_order = not timestamp or frame[timestamp].is_monotonic_increasing
    ordered = frame if in_order else frame.sort_values(timestamp, kind="stable")
    cut = round(len(ordered) * (1 - holdout_fraction))
    return ordered.iloc[:cut], ordered.iloc[cut:]


def unseen_split(
    labelled: pd.DataFrame,
    *,
    timestamp: str | None,
    holdout_fraction: float,
    held_back: HeldBack,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`time_ordered_split`, then the holdout rows `held_back` names go back to training.

    `held_back(holdout)` gives a boolean per holdout row. Training rows keep `labelled`'s order
    when some come back, else the time order.
    """
    train, holdout = time_ordered_split(
        labelled, timestamp=timestamp, holdout_fraction=holdout_fraction
    )
    back = held_back(holdout)
    if back.any():
        holdout = holdout[~back]
        train = labelled.drop(index=holdout.index)
    return train, holdout


def check_split(train_rows: int, holdout_rows: int) -> None:
    """Refuse a split with too few rows to train on, or no unseen row to hold out.

    Raises:
        TrainingError: fewer than `MIN_TRAIN_ROWS` training rows, or an empty holdout.
    """
    if train_rows < MIN_TRAIN_ROWS or holdout_rows == 0:
        raise TrainingError(
            f"{train_rows} rows to train on and {holdout_rows} unseen rows to hold out: need at "
            f"least {MIN_TRAIN_ROWS} and 1"
        )


def repeated_rows(labelled: pd.DataFrame, holdout: pd.DataFrame, spec: DatasetSpec) -> Any:
    """Which holdout rows repeat a row outside the holdout: the same id, or the same values.

    A row scored on the holdout that the model also trained on makes a challenger look better
    than it is (ROC AUC 1.0 on resent rows). Values are the columns as they arrived (the raw
    inputs and labels; derived ones such as a lag differ between a row and its resend), not
    the id or the time, which a resend may renumber. Unless two of them are continuous numbers
    (where an exact repeat of both happens by chance only), the time is part of the values.
    """
    columns = value_columns(spec, labelled.columns)
    continuous = sum(_continuous(labelled[c]) for c in columns)
    columns = key_columns(spec, columns, labelled.columns, continuous=continuous)
    if not columns:
        return np.zeros(len(holdout), dtype=bool)
    keys = pd.util.hash_pandas_object(labelled[columns], index=False)
    ids = labelled[spec.id] if spec.id is not None and spec.id in labelled.columns else None
    return repeated_keys(keys, holdout.index, ids=ids)


def value_columns(spec: DatasetSpec, present: Collection[str]) -> list[str]:
    """The columns as they arrived that a resent row repeats (see `repeated_rows`)."""
    arrived = (*spec.required_columns, *spec.label_columns)
    skipped = {spec.id, spec.timestamp, *spec.derived}
    return list(dict.fromkeys(c for c in arrived if c not in skipped and c in present))


def key_columns(
    spec: DatasetSpec, values: list[str], present: Collection[str], *, continuous: int
) -> list[str]:
    """`values`, and the time unless two of them are continuous numbers (see `repeated_rows`)."""
    timestamp = spec.timestamp
    if timestamp is not None and timestamp in present and continuous < 2:  # noqa: PLR2004
        return [*values, timestamp]
    return values


def repeated_keys(keys: pd.Series, holdout: pd.Index, *, ids: pd.Series | None) -> Any:
    """Which `holdout` rows share a key, or an id, with a row outside it (a boolean array).

    `keys` and `ids` are indexed like the labelled rows; `holdout` is part of that index.
    """
    rest = keys.index.drop(holdout)
    repeated = keys.loc[holdout].isin(set(keys.loc[rest]))
    if ids is not None:
        repeated |= ids.loc[holdout].isin(set(ids.loc[rest].dropna()))
    return repeated.to_numpy()


def continuous_share(values: pd.Series) -> tuple[int, int]:
    """How many values are present, and how many of those are not whole numbers."""
    if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values):
        return int(values.notna().sum()), 0
    known = values.dropna().to_numpy(dtype="float64")
    return len(known), int((known % 1 != 0).sum())


def is_continuous(dtype: Any, present: int, fractional: int) -> bool:
    """Whether a column is continuous: float, and most present values are not whole."""
    fractional_share = fractional / present if present else 0.0
    return bool(pd.api.types.is_float_dtype(dtype) and fractional_share > MOSTLY_FRACTIONAL)


def _continuous(values: pd.Series) -> bool:
    return is_continuous(values.dtype, *continuous_share(values))
