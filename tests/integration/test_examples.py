"""Each example under examples/ replays end to end from its spec alone (fast settings).

The README's figures come from `make example-<name>` with the default settings; here the same
split and replay run with smaller training budgets, and the checks are what each example is
meant to show.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from config.settings import get_settings
from config.spec import load_spec
from pipeline.cli import main
from pipeline.flows import simulation_flow
from runs.derived import derive
from runs.timeline import replay_figures

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The split of each example's history, as the Makefile's SPLIT_<name> gives it.
SPLITS = {
    "co2": ["--reference-until", "1990-01-01", "--every", "3YS"],
    "seattle_weather": ["--reference-until", "2013-01-01", "--every", "2QS"],
    "flights": ["--reference-fraction", "0.6", "--every", "2MS"],
}
FAST = {
    "DRIFTLOOP_TRAINING__N_ESTIMATORS": "80",
    "DRIFTLOOP_TRAINING__TUNING_TRIALS": "3",
    "DRIFTLOOP_PROMOTION__BOOTSTRAP_RESAMPLES": "300",
}


@pytest.fixture
def replay(
    request: pytest.FixtureRequest,
    prefect_harness: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[dict, Path]]:
    name = request.param
    shutil.copytree(EXAMPLES / name, tmp_path / "examples" / name, ignore=_no_data)
    monkeypatch.chdir(tmp_path)
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    spec = f"examples/{name}/spec.yaml"
    assert main(["split", f"examples/{name}/history.csv", "--spec", spec, *SPLITS[name]]) == 0
    out = tmp_path / "replay"
    simulation_flow(spec=spec, batches=f"examples/{name}/data/incoming", out=str(out))
    yield replay_figures(pd.read_csv(out / "timeline.csv")), out
    mlflow.set_tracking_uri(None)
    get_settings.cache_clear()


def _no_data(folder: str, names: list[str]) -> list[str]:
    return ["data"] if "data" in names else []


@pytest.mark.parametrize("replay", ["co2"], indirect=True)
def test_the_co2_forecaster_beats_the_last_value_and_serves_the_level(replay) -> None:
    figures, out = replay
    assert figures["rejected"] == 0 and figures["metric"] == "rmse"
    assert figures["driftloop"] < 0.95 * figures["last_value"]
    # The served model takes the raw week and last week's level, and answers the level.
    spec = load_spec(Path("examples/co2/spec.yaml"))
    rows = derive(pd.read_csv(spec.reference, parse_dates=["week"]), spec).dropna().tail(20)
    model = mlflow.pyfunc.load_model(_uri(out, "co2"))
    level = np.asarray(model.predict(rows[list(spec.served_columns)]), dtype="float64")
    assert "month" not in spec.served_columns and "week" in spec.served_columns
    error = np.sqrt(np.mean((level - rows["co2"].to_numpy()) ** 2))
    assert error < np.sqrt(np.mean(rows["co2_change"].to_numpy() ** 2))


@pytest.mark.parametrize("replay", ["seattle_weather"], indirect=True)
def test_the_weather_labels_drift_and_retraining_follows_them(replay) -> None:
    figures, _ = replay
    assert figures["rejected"] == 0 and figures["metric"] == "accuracy"
    assert figures["promotions"] >= 2  # the first model, then at least one that adapted
    assert figures["driftloop"] > figures["never_retrained"] + 0.1


@pytest.mark.parametrize("replay", ["flights"], indirect=True)
def test_the_flights_model_computes_its_durations_from_the_raw_times(replay) -> None:
    figures, out = replay
    assert figures["rejected"] == 0 and figures["driftloop"] > 0.55
    spec = load_spec(Path("examples/flights/spec.yaml"))
    raw = pd.read_csv(spec.reference).tail(50)
    served = mlflow.pyfunc.load_model(_uri(out, "flights")).predict(raw[list(spec.served_columns)])
    assert {"scheduled_arrival", "scheduled_departure"} <= set(spec.served_columns)
    assert "block_minutes" not in spec.served_columns
    assert np.all((np.asarray(served) > 0) & (np.asarray(served) < 1))


def _uri(out: Path, name: str) -> str:
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlflow.db'}")
    return f"models:/{name}/1"
