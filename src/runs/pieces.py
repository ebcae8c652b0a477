"""Data read piece by piece: the partitions of folder datasets and the files of a manifest.

A piece is one Parquet partition of a folder dataset, or one whole CSV/Parquet file. Every
piece is read as `read_batch` reads a file and gets the spec's row-wise derived columns, so a
piece can be read on any worker; lags and rolling statistics, which look across rows of other
files, cannot be computed piece by piece and are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from compute.engine import Engine
from compute.partitions import Partitions, is_partitioned, sample
from config.manifest import DataFile
from config.spec import DatasetSpec
from runs.batches import partition_files_or_none, read_batch
from runs.categories import with_text_categories
from runs.derived import derive
from runs.errors import BatchReadError

# Seed of the rows a monitor draws across pieces (the in-memory path's seed, see report.py).
SAMPLE_SEED = 0


@dataclass(frozen=True)
class Piece:
    """One piece of data and the training file or folder (by content hash) it belongs to."""

    path: Path
    source: str


def history_features(spec: DatasetSpec) -> list[str]:
    """The spec's derived columns that look back over earlier rows (lags, rolling, diffs)."""
    return [name for name, feature in spec.derived.items() if feature.uses_history]


def check_piecewise(spec: DatasetSpec, what: str) -> None:
    """Refuse to read `what` piece by piece when the spec derives columns across rows.

    Raises:
        BatchReadError: the spec has lags, rolling statistics or differences.
    """
    looking_back = history_features(spec)
    if looking_back:
        raise BatchReadError(
            f"{what} is read piece by piece (a folder dataset, or the dask engine), and the "
            f"spec's derived columns {looking_back} look back across rows of other files: send "
            "single files and use DRIFTLOOP_ENGINE__KIND=local for this dataset"
        )


def read_piece(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """One piece read as the spec says, with its row-wise derived columns."""
    return derive(read_batch(path, types=spec.column_types), spec)


def piece_reader(spec: DatasetSpec) -> partial[pd.DataFrame]:
    """`read_piece` for this spec, as a picklable function of the path alone (for workers)."""
    return partial(read_piece, spec=spec)


def pieces_of(paths: Sequence[Path], sources: Sequence[str]) -> tuple[Piece, ...]:
    """The pieces of files and folders in order; `sources` are their content hashes."""
    pieces: list[Piece] = []
    for path, source in zip(paths, sources, strict=True):
        parts = partition_files_or_none(path) if is_partitioned(path) else [path]
        pieces.extend(Piece(p, source) for p in parts)
    return tuple(pieces)


def manifest_pieces(manifest: Sequence[DataFile], root: Path) -> tuple[Piece, ...]:
    """The pieces of a manifest's files and folders, in the manifest's order."""
    return pieces_of([root / e.path for e in manifest], [e.sha256 for e in manifest])


def has_folders(paths: Sequence[Path]) -> bool:
    """Whether any of `paths` is a folder dataset (then it is read piece by piece)."""
    return any(is_partitioned(p) for p in paths)


def piece_partitions(pieces: Sequence[Piece], spec: DatasetSpec) -> Partitions:
    """The pieces with their row counts: a Parquet footer's, or a CSV file's rows (read once)."""
    rows = []
    for piece in pieces:
        if piece.path.suffix.lower() == ".parquet":
            rows.append(pq.read_metadata(piece.path).num_rows)
        else:
            rows.append(len(read_batch(piece.path, types=spec.column_types)))
    return Partitions(tuple(p.path for p in pieces), tuple(rows))


def sample_pieces(
    engine: Engine, parts: Partitions, spec: DatasetSpec, size: int, *, seed: int = SAMPLE_SEED
) -> pd.DataFrame:
    """`size` rows drawn across the pieces (every engine draws the same rows), categories whole.

    Raises:
        BatchReadError: a piece cannot be read, or the spec derives columns across rows.
    """
    check_piecewise(spec, "this data")
    frame, _ = sample(engine, parts, size, seed=seed, read=piece_reader(spec))
    return with_text_categories(frame, spec.features.categorical)


def labelled_rows(parts: Partitions, target: str) -> int:
    """Rows with a label across the partitions, reading the target column alone."""
    count = 0
    for path in parts.files:
        schema = pq.read_schema(path)
        if target in schema.names:
            column = pq.read_table(path, columns=[target]).column(0)
            count += len(column) - column.null_count
    return count


def column_names(parts: Partitions) -> list[str]:
    """The columns of a folder dataset: those of its first partition."""
    return list(pq.read_schema(parts.files[0]).names)
