from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runs.errors import BatchReadError
from runs.split import SplitPlan, split_history, write_split


def history(days: int = 70) -> pd.DataFrame:
    dates = pd.date_range("2024-01-01", periods=days, freq="D").strftime("%Y-%m-%d")
    # Stored out of order: the split orders by the timestamp, not by the file.
    return pd.DataFrame({"day": dates, "x": np.arange(days)}).sample(frac=1, random_state=0)


def test_a_date_and_a_period_cut_the_history_in_time_order() -> None:
    plan = SplitPlan(reference_until="2024-01-31", every="1W")
    reference, batches = split_history(history(), timestamp="day", plan=plan)
    assert reference["day"].max() == "2024-01-31" and len(reference) == 31
    assert sum(len(b) for b in batches) == 39
    starts = [b["day"].min() for b in batches]
    assert starts == sorted(starts) and all(b["day"].is_monotonic_increasing for b in batches)
    assert all(len(b) <= 7 for b in batches)


def test_a_share_and_a_row_count_need_no_timestamp() -> None:
    frame = pd.DataFrame({"x": range(100)})
    reference, batches = split_history(
        frame, timestamp=None, plan=SplitPlan(reference_fraction=0.4, rows=25)
    )
    assert reference["x"].tolist() == list(range(40))
    assert [len(b) for b in batches] == [25, 25, 10]


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (SplitPlan(rows=10), "one of --reference-until"),
        (SplitPlan(reference_fraction=0.5), "one of --every"),
        (SplitPlan(reference_until="2024-01-31", rows=10), "need the spec's `timestamp`"),
        (SplitPlan(reference_fraction=1.0, rows=10), "0 batches"),
    ],
)
def test_an_incomplete_or_empty_split_is_refused(plan: SplitPlan, message: str) -> None:
    with pytest.raises(BatchReadError, match=message):
        split_history(pd.DataFrame({"x": range(20)}), timestamp=None, plan=plan)


def test_the_split_is_written_and_never_overwrites(tmp_path: Path) -> None:
    reference, batches = split_history(
        history(), timestamp="day", plan=SplitPlan(reference_fraction=0.5, rows=10)
    )
    target = {"reference_path": tmp_path / "ref.parquet", "incoming": tmp_path / "in"}
    written = write_split(reference, batches, **target)
    assert [p.name for p in written[1:]] == [f"batch-{i:04d}.csv" for i in range(1, 5)]
    assert len(pd.read_parquet(written[0])) == 35
    with pytest.raises(BatchReadError, match="exists already"):
        write_split(reference, batches, **target)
