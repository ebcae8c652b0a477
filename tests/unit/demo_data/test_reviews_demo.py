"""The reviews demo: a fixed split of real reviews, one batch broken, two of other products."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from config.spec import load_spec
from data_validation.gate import ensure_suites, open_context, validate_frame
from demo_data import DEMO_DATASETS
from demo_data.rainfall import write_demo_spec
from demo_data.reviews import (
    BATCH_ROWS,
    BROKEN_BATCH,
    REFERENCE_ROWS,
    REPLACEMENT,
    UNLABELLED_BATCH,
    break_text,
    load_source_frames,
    split_batches,
    write_demo_data,
)
from demo_data.workspace import DEMO_FILE, DEMO_STAGES, demo_spec
from runs.batches import read_batch

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reviews")
    write_demo_data(root / "data")
    return root


def _batches(root: Path) -> list[Path]:
    return sorted((root / "data" / "incoming" / "reviews").glob("batch-*.csv"))


def test_the_split_is_the_same_every_time_and_uses_every_review_once() -> None:
    training, testing = load_source_frames()
    reference, batches = split_batches(training, testing)
    again, batches_again = split_batches(*load_source_frames())
    assert reference.equals(again)
    assert all(a.equals(b) for a, b in zip(batches, batches_again, strict=True))
    assert len(reference) == REFERENCE_ROWS
    assert [len(b) for b in batches] == [BATCH_ROWS] * 6
    products = pd.concat([reference, *batches])["product"]
    assert products.is_unique and len(products) == len(training) + len(testing) == 5000


def test_the_last_batches_are_reviews_of_products_the_training_part_never_had() -> None:
    training, testing = load_source_frames()
    _, batches = split_batches(training, testing)
    seen = set(training["product"])
    assert [not set(b["product"]) & seen for b in batches] == [False] * 4 + [True] * 2


def test_the_broken_batch_loses_texts_and_garbles_apostrophes() -> None:
    training, _ = load_source_frames()
    batch = training.iloc[2000:2500]
    broken = break_text(batch)["review"]
    assert (broken.str.strip() == "").mean() == pytest.approx(0.3)
    assert not broken.str.contains("'").any()
    assert broken.str.contains(REPLACEMENT).mean() > 0.3
    assert broken.index.equals(batch.index)


def test_the_files_are_written_as_delivered(written: Path) -> None:
    files = _batches(written)
    assert [f.name for f in files] == [f"batch-{n:02d}.csv" for n in range(1, 7)]
    assert all(DEMO_FILE.fullmatch(f.name) for f in files)
    assert DEMO_FILE.fullmatch("reviews.parquet")
    unlabelled = pd.read_csv(files[UNLABELLED_BATCH - 1])
    assert "score" not in unlabelled.columns
    broken = pd.read_csv(files[BROKEN_BATCH - 1])
    assert broken["review"].isna().sum() == 75  # the empty texts read back as missing
    reference = pd.read_parquet(written / "data" / "reference" / "reviews.parquet")
    assert list(reference.columns) == ["product", "review", "score"]
    assert set(reference["score"]) == {"great", "other"}


def test_the_suite_accepts_the_clean_batches_and_rejects_the_broken_one(written: Path) -> None:
    shutil.copytree(
        ROOT / "great_expectations",
        written / "great_expectations",
        ignore=shutil.ignore_patterns("uncommitted"),
        dirs_exist_ok=True,
    )
    spec = load_spec(ROOT / "data" / "reviews.yaml", base=written)
    reference = read_batch(spec.reference, types=spec.column_types)
    context = open_context(written / "great_expectations")
    ensure_suites(context, spec, lambda: reference)
    verdicts = {
        f.name: validate_frame(context, read_batch(f, types=spec.column_types), spec)
        for f in _batches(written)
    }
    broken = verdicts.pop(f"batch-{BROKEN_BATCH:02d}.csv")
    assert not broken.success
    assert {f.column for f in broken.failures} == {"review"}
    assert len(broken.failures) == 4
    assert all(v.success for v in verdicts.values()), {
        k: [str(f) for f in v.failures] for k, v in verdicts.items() if not v.success
    }


def test_every_demo_has_a_spec_and_a_dvc_stage() -> None:
    stages = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    for dataset in DEMO_DATASETS:
        assert (ROOT / demo_spec(dataset)).is_file()
        assert f"  {DEMO_STAGES[dataset]}:\n" in stages
        assert f"python -m demo_data.{dataset} --out data" in stages


def test_a_replay_copy_of_the_spec_leads_into_its_own_folder(tmp_path: Path) -> None:
    target = write_demo_spec(
        ROOT / "data" / "reviews.yaml", Path("sim"), tmp_path / "reviews.yaml", dataset="reviews"
    )
    copy = load_spec(target, base=tmp_path)
    assert copy.reference == tmp_path / "sim/reference/reviews.parquet"
    assert copy.incoming == tmp_path / "sim/incoming/reviews"
