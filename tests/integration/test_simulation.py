"""simulation_flow replays a folder of batches through the real loop into its own workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from config.settings import get_settings
from factories import make_frame, spec_for_frames
from pipeline.flows import simulation_flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_replay_writes_the_timeline_and_leaves_the_originals(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = tmp_path / "history"
    batches.mkdir()
    make_frame(1200, seed=1).to_parquet(tmp_path / "reference.parquet")
    make_frame(400, seed=2, start=1200).to_csv(batches / "01.csv", index=False)
    make_frame(400, seed=3, start=1600, flip=True).to_csv(batches / "02.csv", index=False)
    make_frame(400, seed=4, start=2000).rename(columns={"x1": "X1"}).to_csv(
        batches / "03.csv", index=False
    )
    before = {p.name: p.read_bytes() for p in batches.iterdir()}
    spec = spec_for_frames("replay", str(tmp_path / "reference.parquet"), str(batches))
    (tmp_path / "replay.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRIFTLOOP_TRAINING__N_ESTIMATORS", "60")
    monkeypatch.setenv("DRIFTLOOP_POLICY__COOLDOWN", "0")
    get_settings.cache_clear()
    try:
        summaries = simulation_flow(
            spec=str(tmp_path / "replay.yaml"), batches=str(batches), out=str(tmp_path / "out")
        )
    finally:
        os.environ.pop("DRIFTLOOP_TRAINING__N_ESTIMATORS", None)
        os.environ.pop("DRIFTLOOP_POLICY__COOLDOWN", None)
        get_settings.cache_clear()
    assert [s.outcome for s in summaries][::2] == ["promoted", "rejected"]
    timeline = pd.read_csv(tmp_path / "out" / "timeline.csv")
    assert timeline["batch"].tolist() == ["01.csv", "02.csv", "03.csv"]
    second = timeline.iloc[1]
    assert second["value"] < 0.5  # the old model, scored on the flipped batch before retraining
    assert "realized_drop" in second["signals"] and bool(second["retrained"])
    assert second["train_rows"] > 0
    assert {p.name: p.read_bytes() for p in batches.iterdir()} == before
    assert (tmp_path / "out" / "timeline.png").exists()
    assert (tmp_path / "out" / "mlflow.db").exists() and not (tmp_path / "mlflow.db").exists()
