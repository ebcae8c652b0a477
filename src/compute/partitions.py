"""Datasets stored as a folder of Parquet files: list, fingerprint, sample and map partitions.

A folder is one dataset whose partitions are its Parquet files in path order. Nothing here reads
a whole dataset at once: a sample is drawn across partitions by global row position (the same
rows whichever engine reads them), and per-partition work runs where the engine runs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from compute.engine import Engine
from compute.errors import PartitionError

T = TypeVar("T")
PARTITION_SUFFIX = ".parquet"
# Files a writer leaves beside its partitions (Spark's _SUCCESS, checksums): never partitions.
SKIPPED_PREFIXES = ("_", ".")
Reader = Callable[[Path], pd.DataFrame]


def is_partitioned(path: Path) -> bool:
    """Whether `path` is a folder dataset (as opposed to one CSV or Parquet file)."""
    return path.is_dir()


def partition_files(folder: Path) -> list[Path]:
    """The Parquet files of a folder dataset, nested folders included, in path order.

    Raises:
        PartitionError: the folder holds no Parquet file.
    """
    found = sorted(
        p
        for p in folder.rglob(f"*{PARTITION_SUFFIX}")
        if p.is_file()
        and not any(part.startswith(SKIPPED_PREFIXES) for part in p.relative_to(folder).parts)
    )
    if not found:
        raise PartitionError(f"{folder} holds no {PARTITION_SUFFIX} file: not a dataset")
    return found


def folder_digests(folder: Path, digest: Callable[[Path], tuple[str, str]]) -> tuple[str, str]:
    """SHA-256 and MD5 of a folder dataset: of each partition's path and digests, in order.

    `digest` gives a file's (sha256, md5). Renaming, adding or changing a partition changes both.
    """
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    for path in partition_files(folder):
        line = f"{path.relative_to(folder).as_posix()}\0{'/'.join(digest(path))}\n".encode()
        sha256.update(line)
        md5.update(line)
    return sha256.hexdigest(), md5.hexdigest()


def newest_change(folder: Path) -> float:
    """When the folder dataset last changed: the newest mtime of the folder and its files."""
    times = [folder.stat().st_mtime, *(p.stat().st_mtime for p in folder.rglob("*"))]
    return max(times)


@dataclass(frozen=True)
class Partitions:
    """A folder dataset's partitions and their row counts (from the Parquet footers)."""

    files: tuple[Path, ...]
    rows: tuple[int, ...]

    @property
    def total(self) -> int:
        """Rows of the whole dataset."""
        return sum(self.rows)

    @property
    def starts(self) -> np.ndarray:
        """The global position of each partition's first row."""
        return np.concatenate([[0], np.cumsum(self.rows)[:-1]]).astype("int64")


def open_partitions(folder: Path) -> Partitions:
    """List a folder dataset's partitions with their row counts, reading only the footers.

    Raises:
        PartitionError: no Parquet file, or one whose footer cannot be read.
    """
    files = partition_files(folder)
    rows = []
    for path in files:
        try:
            rows.append(pq.read_metadata(path).num_rows)
        except (OSError, ValueError) as exc:
            raise PartitionError(f"partition {path} is not a readable Parquet file: {exc}") from exc
    return Partitions(tuple(files), tuple(rows))


def sample_positions(rows: int, size: int, *, seed: int) -> np.ndarray | None:
    """Sorted positions of `size` rows drawn without replacement; None keeps all `rows`."""
    if size <= 0 or rows <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))


def sample(
    engine: Engine, parts: Partitions, size: int, *, seed: int, read: Reader
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """`size` rows drawn across the partitions (all rows when fewer), in dataset order.

    The draw is by global row position, so every engine returns the same rows. Returns the rows
    and their global positions (None: all rows).
    """
    positions = sample_positions(parts.total, size, seed=seed)
    if positions is None:
        frames = engine.map(read, parts.files)
        return _concat(frames), None
    owner = np.searchsorted(parts.starts, positions, side="right") - 1
    wanted = [
        (path, positions[owner == i] - parts.starts[i])
        for i, path in enumerate(parts.files)
        if (owner == i).any()
    ]
    frames = engine.map(_rows_of, wanted, read)
    return _concat(frames), positions


def each_partition(
    engine: Engine, parts: Partitions, fn: Callable[..., T], *args: Any, read: Reader
) -> list[T]:
    """`fn(partition frame, index, *args)` for every partition, where the engine runs it."""
    return engine.map(_apply, list(enumerate(parts.files)), read, fn, *args)


def _rows_of(item: tuple[Path, np.ndarray], read: Reader) -> pd.DataFrame:
    path, rows = item
    return read(path).iloc[rows]


def _apply(item: tuple[int, Path], read: Reader, fn: Callable[..., T], *args: Any) -> T:
    index, path = item
    return fn(read(path), index, *args)


def _concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    return pd.concat(frames, ignore_index=True)
