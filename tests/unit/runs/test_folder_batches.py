"""A folder of Parquet files is one batch: found, fingerprinted, read and sampled by partition."""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pandas as pd
import pytest
import statsmodels.api as sm

from compute.engine import LOCAL
from compute.partitions import open_partitions
from config.spec import DatasetSpec
from runs.batches import (
    build_manifest,
    check_reference,
    content_hash,
    find_next_batch,
    list_batches,
    read_batch,
)
from runs.errors import BatchReadError
from runs.pieces import (
    check_piecewise,
    labelled_rows,
    manifest_pieces,
    piece_partitions,
    pieces_of,
    sample_pieces,
)


def _fair() -> pd.DataFrame:
    """statsmodels' `fair` survey: occupation codes 1-6 as categories, a binary label."""
    fair = sm.datasets.fair.load_pandas().data.head(600).reset_index(drop=True)
    fair["occupation"] = fair["occupation"].astype("int64").astype(str)
    fair["had_affair"] = (fair.pop("affairs") > 0).astype("int64")
    return fair


def _spec(tmp_path: Path, **fields: object) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "fair",
            "task": "binary",
            "target": "had_affair",
            "features": {"numeric": ["age", "yrs_married"], "categorical": ["occupation"]},
            "reference": str(tmp_path / "reference"),
            "incoming": str(tmp_path / "incoming"),
        }
        | fields
    )


def _write_folder(frame: pd.DataFrame, folder: Path, cuts: list[int]) -> Path:
    folder.mkdir(parents=True)
    edges = [0, *cuts, len(frame)]
    for i, (start, end) in enumerate(itertools.pairwise(edges)):
        frame.iloc[start:end].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def test_a_folder_of_parquet_files_is_one_batch_and_an_empty_folder_none(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    _write_folder(_fair(), incoming / "b1", [200, 400])
    _fair().to_csv(incoming / "b2.csv", index=False)
    (incoming / "empty").mkdir()
    (incoming / "_tmp").mkdir()
    assert [p.name for p in list_batches(incoming)] == ["b1", "b2.csv"]


def test_a_folder_still_being_written_waits_by_its_newest_partition(tmp_path: Path) -> None:
    folder = _write_folder(_fair(), tmp_path / "incoming" / "b1", [300])
    old = time.time() - 600
    for path in [folder, *folder.iterdir()]:
        os.utime(path, (old, old))
    assert find_next_batch(folder.parent, set(), settle_seconds=60) is not None
    (folder / "part-1.parquet").touch()  # a partition written just now
    assert find_next_batch(folder.parent, set(), settle_seconds=60) is None


def test_the_batch_hash_changes_when_a_partition_changes(tmp_path: Path) -> None:
    folder = _write_folder(_fair(), tmp_path / "b1", [300])
    before = content_hash(folder)
    _fair().head(10).to_parquet(folder / "part-1.parquet", index=False)
    assert content_hash(folder) != before
    assert build_manifest([folder], tmp_path)[0].sha256 == content_hash(folder)


def test_a_folder_reads_whole_with_categories_made_whole_across_partitions(tmp_path: Path) -> None:
    fair = _fair()
    folder = _write_folder(fair, tmp_path / "reference", [100, 350])
    spec = _spec(tmp_path)
    check_reference(spec)  # a folder reference is a reference
    read = read_batch(folder, types=spec.column_types)
    assert len(read) == len(fair)
    assert isinstance(read["occupation"].dtype, pd.CategoricalDtype)
    assert sorted(read["occupation"].cat.categories) == sorted(fair["occupation"].unique())


def test_pieces_mix_files_and_partitions_and_sample_the_same_rows_as_one_frame(
    tmp_path: Path,
) -> None:
    fair = _fair()
    folder = _write_folder(fair.iloc[:400], tmp_path / "reference", [150])
    fair.iloc[400:].to_csv(tmp_path / "b2.csv", index=False)
    spec = _spec(tmp_path)
    manifest = build_manifest([folder, tmp_path / "b2.csv"], tmp_path)
    found = manifest_pieces(manifest, tmp_path)
    assert [p.path.name for p in found] == ["part-0.parquet", "part-1.parquet", "b2.csv"]
    assert [p.source for p in found] == [manifest[0].sha256] * 2 + [manifest[1].sha256]
    parts = piece_partitions(found, spec)
    assert parts.rows == (150, 250, 200)
    drawn = sample_pieces(LOCAL, parts, spec, 100)
    assert len(drawn) == 100
    assert set(drawn["age"]) <= set(fair["age"])
    assert pieces_of([tmp_path / "b2.csv"], ["x"])[0].path.name == "b2.csv"


def test_labels_are_counted_on_every_partition(tmp_path: Path) -> None:
    fair = _fair()
    fair.loc[:399, "had_affair"] = None
    folder = _write_folder(fair, tmp_path / "b1", [400])
    assert labelled_rows(open_partitions(folder), "had_affair") == len(fair) - 400


def test_lags_cannot_be_read_piece_by_piece(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        timestamp="t",
        features={"numeric": ["age", "age_lag"], "categorical": []},
        derived={"age_lag": {"lag": "age", "periods": 1}},
    )
    with pytest.raises(BatchReadError, match=r"\['age_lag'\] look back"):
        check_piecewise(spec, "batch b1")
