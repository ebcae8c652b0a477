"""Folder datasets: listed and fingerprinted by their partitions, sampled the same on any engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import statsmodels.api as sm

from compute.engine import LOCAL, Engine, open_engine
from compute.errors import PartitionError
from compute.partitions import (
    each_partition,
    folder_digests,
    open_partitions,
    partition_files,
    sample,
)
from runs.batches import file_digests


@pytest.fixture(scope="module")
def cluster() -> Iterator[Engine]:
    with open_engine("dask", workers=2, memory_limit="512MiB") as engine:
        yield engine


@pytest.fixture
def star(tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    """statsmodels' star98 schools (303 rows) as four Parquet partitions of unequal size."""
    frame = sm.datasets.star98.load_pandas().data.reset_index(drop=True)
    folder = tmp_path / "star98"
    folder.mkdir()
    for i, (start, end) in enumerate([(0, 40), (40, 160), (160, 170), (170, len(frame))]):
        frame.iloc[start:end].to_parquet(folder / f"part-{i}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    return frame, folder


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def _rows_and_index(frame: pd.DataFrame, index: int) -> tuple[int, int]:
    return index, len(frame)


def test_partitions_are_the_parquet_files_in_path_order_with_footer_row_counts(star) -> None:
    frame, folder = star
    parts = open_partitions(folder)
    assert [p.name for p in parts.files] == [f"part-{i}.parquet" for i in range(4)]
    assert parts.rows == (40, 120, 10, 133)
    assert parts.total == len(frame)
    assert parts.starts.tolist() == [0, 40, 160, 170]


def test_an_empty_folder_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "_SUCCESS").write_text("")
    with pytest.raises(PartitionError, match=r"holds no \.parquet file"):
        partition_files(tmp_path)


def test_the_folder_digest_changes_with_a_partition_renamed_or_changed(star) -> None:
    _, folder = star
    first = folder_digests(folder, file_digests)
    (folder / "part-3.parquet").rename(folder / "part-9.parquet")
    renamed = folder_digests(folder, file_digests)
    pd.DataFrame({"a": [1]}).to_parquet(folder / "part-9.parquet")
    changed = folder_digests(folder, file_digests)
    assert len({first, renamed, changed}) == 3


def test_a_sample_across_partitions_is_the_same_rows_on_both_engines(star, cluster) -> None:
    frame, folder = star
    parts = open_partitions(folder)
    here, positions = sample(LOCAL, parts, 50, seed=0, read=_read)
    there, same = sample(cluster, parts, 50, seed=0, read=_read)
    assert positions is not None and same is not None
    assert positions.tolist() == same.tolist()
    pd.testing.assert_frame_equal(here, there)
    pd.testing.assert_frame_equal(here, frame.iloc[positions].reset_index(drop=True))


def test_a_dataset_smaller_than_the_sample_is_read_whole(star) -> None:
    frame, folder = star
    whole, positions = sample(LOCAL, open_partitions(folder), 1000, seed=0, read=_read)
    assert positions is None
    pd.testing.assert_frame_equal(whole, frame)


def test_each_partition_runs_on_the_workers_in_order(star, cluster) -> None:
    _, folder = star
    parts = open_partitions(folder)
    assert each_partition(cluster, parts, _rows_and_index, read=_read) == list(
        enumerate(parts.rows)
    )
    assert cluster.workers == 2
