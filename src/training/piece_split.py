"""Split data held in pieces (partitions, files) exactly as a fit on their concatenation would.

Workers read the pieces and send back only what the split needs of each labelled row: its time,
id and row keys (`training.piece_rows`). The driver lays the pieces end to end, decides the
holdout and the early-stopping slice with `training.split`'s rules, and fetches the holdout rows
alone; the training rows stay in their pieces, named by row positions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from compute.engine import Engine
from config.spec import DatasetSpec
from training.piece_rows import (
    PieceKeys,
    PieceValues,
    Reader,
    cast,
    cast_frame,
    concatenated_types,
    hashes_alike,
    joined,
    read_keys,
    read_values,
)
from training.schema import category_labels, label_classes
from training.split import (
    EARLY_STOPPING_FRACTION,
    check_split,
    is_continuous,
    key_columns,
    repeated_keys,
    time_ordered_split,
    unseen_split,
    value_columns,
)

# Columns of the driver's frame of labelled rows (beside the timestamp and id, by their names).
_PIECE, _ROW, _SEEN = "__driftloop_piece", "__driftloop_row", "__driftloop_seen"
Parts = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]


@dataclass(frozen=True)
class PieceSplit:
    """Where a split's rows are: per piece, the row positions of the fit and stop parts.

    `holdout` is the frame a fit on the concatenated pieces holds out (same rows, order, index
    and dtypes); `categories` are each categorical column's over the training rows, `classes`
    those of every labelled row and `trained_classes` those of the training rows.
    """

    holdout: pd.DataFrame
    fit_rows: tuple[np.ndarray[Any, Any], ...]
    stop_rows: tuple[np.ndarray[Any, Any], ...]
    train_rows: int
    categories: dict[str, list[str]]
    classes: list[Any]
    trained_classes: list[Any]


def split_pieces(
    engine: Engine,
    pieces: Sequence[tuple[Path, str]],
    read: Reader,
    spec: DatasetSpec,
    *,
    holdout_fraction: float,
    seen_files: set[str],
) -> PieceSplit:
    """Split the labelled rows of `pieces`, in order, as `fit_model` splits their concatenation.

    Args:
        engine: Where the pieces are read.
        pieces: (path, training file hash) of each piece, in data order.
        read: Reads one piece as the spec says (runs on the workers).
        spec: The dataset spec.
        holdout_fraction: The newest share of labelled rows held out.
        seen_files: Hashes of the files the champion was trained on: never held out.

    Returns:
        The holdout rows, and where the training rows are.

    Raises:
        TrainingError: too few rows to train on, or none to hold out.
    """
    paths = [path for path, _ in pieces]
    found, layout = _read_keys(engine, paths, read, spec)
    if not any(len(k.labelled) for k in found):
        check_split(0, 0)
    types = concatenated_types(layout, found, spec)
    labelled = _labelled_frame(found, [s in seen_files for _, s in pieces], spec, types)
    train, holdout = unseen_split(
        labelled,
        timestamp=spec.timestamp,
        holdout_fraction=holdout_fraction,
        held_back=_held_back(labelled, found, spec, layout),
    )
    check_split(len(train), len(holdout))
    fit_part, stop_part = time_ordered_split(
        train, timestamp=spec.timestamp, holdout_fraction=EARLY_STOPPING_FRACTION
    )
    values = _read_values(engine, paths, read, spec, parts=(train, holdout))
    target = types[spec.target]
    return PieceSplit(
        holdout=_holdout_frame([v.holdout for v in values], holdout.index, types),
        fit_rows=rows_by_piece(fit_part, len(paths)),
        stop_rows=rows_by_piece(stop_part, len(paths)),
        train_rows=len(train),
        categories=_categories(values, types, spec),
        classes=label_classes(joined([k.labels for k in found], target)),
        trained_classes=joined([v.labels for v in values], target).unique().tolist(),
    )


def rows_by_piece(part: pd.DataFrame, pieces: int) -> tuple[np.ndarray[Any, Any], ...]:
    """Each piece's row positions in `part` (rows of the driver's labelled frame), ascending."""
    out = [np.empty(0, dtype="int64")] * pieces
    for piece, rows in part.groupby(_PIECE, sort=True)[_ROW]:
        out[int(piece)] = np.sort(rows.to_numpy(dtype="int64"))
    return tuple(out)


def _read_keys(
    engine: Engine, paths: list[Path], read: Reader, spec: DatasetSpec
) -> tuple[list[PieceKeys], pd.DataFrame]:
    """Every piece's keys, and an empty frame typed like the concatenated pieces."""
    found: list[PieceKeys] = engine.map(read_keys, paths, read, spec, None)
    layout = pd.concat([k.columns for k in found])
    hashed = value_columns(spec, layout.columns)
    if spec.timestamp is not None and spec.timestamp in layout.columns:
        hashed.append(spec.timestamp)
    retyped = [i for i, k in enumerate(found) if not hashes_alike(k.columns, layout, hashed)]
    if retyped:  # typed unlike the whole (ints where other pieces hold floats): hash as the whole
        again = engine.map(read_keys, [paths[i] for i in retyped], read, spec, layout)
        for i, keys in zip(retyped, again, strict=True):
            found[i] = keys
    return found, layout


def _labelled_frame(
    found: list[PieceKeys], seen: list[bool], spec: DatasetSpec, types: pd.Series
) -> pd.DataFrame:
    """One row per labelled row, indexed by its position in the concatenated frame."""
    starts = np.concatenate([[0], np.cumsum([k.rows for k in found])[:-1]]).astype("int64")
    parts = [
        _labelled_part(k, piece=i, start=int(starts[i]), seen=seen[i], spec=spec, types=types)
        for i, k in enumerate(found)
        if len(k.labelled)
    ]
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def _labelled_part(
    keys: PieceKeys, *, piece: int, start: int, seen: bool, spec: DatasetSpec, types: pd.Series
) -> pd.DataFrame:
    index = pd.Index(start + keys.labelled)
    count = len(index)
    part = pd.DataFrame(
        {
            _PIECE: np.full(count, piece, dtype="int64"),
            _ROW: keys.labelled,
            _SEEN: np.full(count, seen),
        },
        index=index,
    )
    for column, values in ((spec.timestamp, keys.times), (spec.id, keys.ids)):
        if column is not None and column in types.index:
            filled = pd.Series([None] * count) if values is None else values
            part[column] = cast(filled, types[column]).set_axis(index)
    return part


def _held_back(
    labelled: pd.DataFrame, found: list[PieceKeys], spec: DatasetSpec, layout: pd.DataFrame
) -> Callable[[pd.DataFrame], Any]:
    """The rule of `fit_model`: the champion's files, and rows repeating a training row."""
    values = value_columns(spec, layout.columns)
    continuous = 0
    for column in values:
        present = sum(k.shares.get(column, (0, 0))[0] for k in found)
        fractional = sum(k.shares.get(column, (0, 0))[1] for k in found)
        continuous += is_continuous(layout[column].dtype, present, fractional)
    columns = key_columns(spec, values, layout.columns, continuous=continuous)
    ids = labelled[spec.id] if spec.id is not None and spec.id in labelled.columns else None
    keys = None
    if columns:
        timed = spec.timestamp in columns
        chunks = [k.timed_keys if timed else k.keys for k in found if len(k.labelled)]
        keys = pd.Series(np.concatenate(chunks), index=labelled.index)

    def held_back(holdout: pd.DataFrame) -> Any:
        seen = holdout[_SEEN].to_numpy(dtype=bool)
        if keys is None:
            return seen
        return seen | repeated_keys(keys, holdout.index, ids=ids)

    return held_back


def _read_values(
    engine: Engine,
    paths: list[Path],
    read: Reader,
    spec: DatasetSpec,
    *,
    parts: tuple[pd.DataFrame, pd.DataFrame],
) -> list[PieceValues]:
    """The holdout rows and the training rows' distinct values of every piece that has any."""
    train, holdout = parts
    held, trained = rows_by_piece(holdout, len(paths)), rows_by_piece(train, len(paths))
    items = [
        (path, held[i], trained[i])
        for i, path in enumerate(paths)
        if len(held[i]) or len(trained[i])
    ]
    return engine.map(read_values, items, read, spec)


def _holdout_frame(chunks: list[pd.DataFrame], index: pd.Index, types: pd.Series) -> pd.DataFrame:
    typed = [cast_frame(c, types) for c in chunks if len(c)]
    rows = pd.concat(typed) if len(typed) > 1 else typed[0]
    # Fetched in (piece, row) order, which is the concatenated frame's: reorder as held out.
    rows.index = pd.Index(np.sort(index.to_numpy()))
    return rows.loc[index]


def _categories(
    values: list[PieceValues], types: pd.Series, spec: DatasetSpec
) -> dict[str, list[str]]:
    return {
        column: category_labels(
            joined([v.categories[column] for v in values if column in v.categories], types[column])
        )
        for column in spec.features.categorical
    }
