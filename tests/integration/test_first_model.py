"""The first model learns from the reference too, whatever the first batch's drift."""

from __future__ import annotations

import pytest
from flow_project import toy_project

from factories import make_frame
from runs.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_drifted_first_batch_on_a_short_reference_trains_on_both(
    prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with toy_project(tmp_path_factory.mktemp("first"), "ghp_first_model_0123456789") as project:
        make_frame(200, seed=11).to_parquet(project.root / "data" / "reference.parquet")
        # 500 rows whose x1 moved by 1.5 sd: one feature of three, so drift needs a share of 0.3.
        summary = project.run("b3-drift.csv", DRIFT__SHARE_THRESHOLD="0.3")
        assert summary.outcome == "promoted" and "drift" in summary.signals
        # 200 + 500 rows less the 20% holdout: the batch alone would leave 400.
        assert summary.train_rows == 560
        [entry] = read_ledger(project.root / "data" / "ledger.jsonl")
        assert not entry.regime_start  # the next window still starts at the reference
