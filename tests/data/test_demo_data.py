"""Data checks: the demo data is what the demo promises, and the committed suite judges it."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from config.spec import load_spec
from data_validation.gate import ensure_suites, open_context, validate_frame
from demo_data.rainfall import BATCH_ROWS, REFERENCE_ROWS, write_demo_data
from runs.batches import read_batch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    write_demo_data(root / "data")
    # A copy of the committed GX context, so validation results stay out of the repository.
    shutil.copytree(
        ROOT / "great_expectations",
        root / "great_expectations",
        ignore=shutil.ignore_patterns("uncommitted"),
    )
    return root


def batches(demo: Path) -> list[Path]:
    return sorted((demo / "data" / "incoming" / "rainfall").glob("batch-*.csv"))


def test_reference_and_at_least_six_batches_in_time_order(demo: Path) -> None:
    reference = pd.read_parquet(demo / "data" / "reference" / "rainfall.parquet")
    assert len(reference) == REFERENCE_ROWS
    files = batches(demo)
    assert len(files) >= 6
    days = [reference.day] + [pd.read_csv(f).day for f in files]
    assert all(a.max() < b.min() for a, b in itertools.pairwise(days))
    assert sum(len(d) for d in days) == 18159  # every source row, once
    assert all(len(d) >= BATCH_ROWS for d in days[1:])


def test_committed_suite_accepts_the_clean_batches_and_rejects_the_broken_one(demo: Path) -> None:
    spec = load_spec(ROOT / "data" / "rainfall.yaml", base=demo)
    context = open_context(demo / "great_expectations")
    ensure_suites(context, spec, lambda: pytest.fail("the committed suite should be used"))
    verdicts = {f.name: validate_frame(context, read_batch(f), spec) for f in batches(demo)}
    broken = verdicts.pop("batch-03.csv")
    assert not broken.success
    assert {f.column for f in broken.failures} >= {"sea_level_pressure", "visibility"}
    assert all(v.success for v in verdicts.values()), {
        k: [str(f) for f in v.failures] for k, v in verdicts.items() if not v.success
    }
    assert verdicts["batch-04.csv"].suite == "rainfall-unlabelled"


def test_committed_suite_matches_a_fresh_derivation(demo: Path, tmp_path: Path) -> None:
    spec = load_spec(ROOT / "data" / "rainfall.yaml", base=demo)
    fresh = open_context(tmp_path / "gx")
    ensure_suites(fresh, spec, lambda: read_batch(spec.reference))
    committed = open_context(demo / "great_expectations")
    for name in ("rainfall", "rainfall-unlabelled"):
        expected = _configurations(fresh.suites.get(name))
        stored = _configurations(committed.suites.get(name))
        assert stored == expected, f"suite {name} is stale: run `driftloop suite`"


def _configurations(suite) -> set[str]:
    # Expectation ids are random per derivation; the configuration is what must match.
    return {
        json.dumps(
            {k: v for k, v in e.configuration.to_json_dict().items() if k != "id"}, sort_keys=True
        )
        for e in suite.expectations
    }
