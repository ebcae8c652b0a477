"""Fit a challenger on a Dask cluster: every piece's rows stay on the workers that read them.

The split is `fit_model`'s, decided on the driver from each row's time and keys
(`training.piece_split`); the schema comes from each piece's distinct values. XGBoost's Dask
interface bins and trains on the workers' partitions, early-stopped on the newest training rows.
Tuning trials fit on a seeded sample of at most `tuning_rows` training rows, sent to every
worker, and run on all of them as one Optuna study (`training.cluster_tuning`); the final
booster, with the parameters they chose, trains on every row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from compute.engine import Engine
from config.spec import DatasetSpec, Task
from training.boosting import (
    EVALS_NAME,
    booster_params,
    starting_params,
)
from training.cluster_tuning import TuningSample, tune_on_workers
from training.errors import TrainingError
from training.fit import FitRecord, TrainingResult, check_classes, finish_fit
from training.matrices import MAX_BIN, encoded_labels, feature_meta
from training.model_code import prepare_features
from training.params import TrainingParams
from training.piece_rows import Reader
from training.piece_split import split_pieces
from training.schema import check_inputs, describe_inputs
from training.trials import TuningResult
from training.tuning import should_tune

logger = logging.getLogger(__name__)

# Columns the workers' partitions carry beside the model's features.
LABEL, WEIGHT = "__driftloop_label", "__driftloop_weight"
DEVICE = "cpu"
# (path, row positions, weight) of one piece's share of a part.
Slice = tuple[Path, np.ndarray[Any, Any], float]


def fit_on_cluster(
    engine: Engine,
    pieces: Sequence[tuple[Path, str]],
    read: Reader,
    spec: DatasetSpec,
    params: TrainingParams,
    *,
    seen_files: set[str],
    file_weights: dict[str, float],
    tuning_rows: int,
) -> TrainingResult:
    """Train on the labelled rows of `pieces` as `fit_on_files` would on their concatenation.

    Args:
        engine: A distributed engine (its workers read the pieces and train).
        pieces: (path, training file hash) of each piece, in data order.
        read: Reads one piece as the spec says (runs on the workers).
        spec: The dataset spec (no text columns).
        params: The training request.
        seen_files: Hashes of the files the champion was trained on: never held out.
        file_weights: Each file hash's sample weight (1 for a file it does not name).
        tuning_rows: Most training rows a tuning trial fits on.

    Returns:
        The training result, scored on the holdout like a local fit's.

    Raises:
        TrainingError: the engine is not distributed, the spec has text columns, or the
            data cannot train a model (too few rows, a single class).
    """
    if not engine.distributed:
        raise TrainingError("fit_on_cluster needs the dask engine")
    if spec.features.text:
        raise TrainingError(
            f"text column(s) {', '.join(spec.features.text)} train on the local engine only: "
            "their vocabulary is fitted on every training row in one process"
        )
    split = split_pieces(
        engine,
        pieces,
        read,
        spec,
        holdout_fraction=params.holdout_fraction,
        seen_files=seen_files,
    )
    classes = [] if spec.task is Task.REGRESSION else split.classes
    schema = describe_inputs(spec, split.categories, classes)
    check_inputs(schema, spec)
    check_classes(spec, split.trained_classes)
    weights = [float(file_weights.get(source, 1.0)) for _, source in pieces]
    paths = [path for path, _ in pieces]
    fit_slices = _slices(paths, split.fit_rows, weights)
    stop_slices = _slices(paths, split.stop_rows, weights)
    fixed = booster_params(
        spec.task, params, n_classes=len(schema["classes"]), device=DEVICE, threads=0
    )
    del fixed["nthread"]  # each worker trains with its own thread count
    used, tuning = starting_params(params), None
    if should_tune(split.train_rows, trials=params.tuning_trials, min_rows=params.tuning_min_rows):
        tuning = _tune_on_sample(
            engine,
            (fit_slices, stop_slices),
            read=read,
            spec=spec,
            schema=schema,
            fixed=fixed,
            params=params,
            tuning_rows=tuning_rows,
        )
        used = dict(tuning.best_params)
    elif params.tuning_trials > 0:
        logger.info("not tuning: %d training rows < %d", split.train_rows, params.tuning_min_rows)
    booster = _train(
        engine,
        (fit_slices, stop_slices),
        read=read,
        spec=spec,
        schema=schema,
        booster={**fixed, **used},
        params=params,
    )
    logger.info(
        "trained on the cluster: %d pieces, %d workers, %d training rows",
        len(pieces),
        engine.workers,
        split.train_rows,
    )
    result = finish_fit(
        booster,
        spec,
        params,
        schema=schema,
        holdout=split.holdout,
        train_rows=split.train_rows,
        fitted=FitRecord(used=used, device=DEVICE, tuning=tuning),
    )
    # Logged with the model: which engine trained it, on how many workers.
    return replace(result, params={**result.params, "engine": "dask", "workers": engine.workers})


def matrix_part(
    item: Slice, read: Reader, spec: DatasetSpec, schema: dict[str, Any]
) -> pd.DataFrame:
    """One piece's rows of a part as the model reads them, with label and weight (on a worker)."""
    path, rows, weight = item
    frame = read(path).iloc[rows]
    out = prepare_features(frame, schema).reset_index(drop=True)
    # XGBoost bins float32 values: the same bins as from float64, in half the worker memory.
    numeric = {column: out[column].astype("float32") for column in schema["numeric"]}
    out = out.assign(**numeric)
    labels = encoded_labels(frame[spec.target], spec.task, schema["classes"])
    return out.assign(**{LABEL: np.asarray(labels, dtype="float64"), WEIGHT: weight})


def sample_rows(item: tuple[Path, np.ndarray[Any, Any]], read: Reader) -> pd.DataFrame:
    """The rows at the given positions of one piece (on a worker)."""
    path, rows = item
    return read(path).iloc[rows]


def _slices(
    paths: list[Path], rows: tuple[np.ndarray[Any, Any], ...], weights: list[float]
) -> list[Slice]:
    return [(p, r, w) for p, r, w in zip(paths, rows, weights, strict=True) if len(r)]


def _train(
    engine: Engine,
    parts: tuple[list[Slice], list[Slice]],
    *,
    read: Reader,
    spec: DatasetSpec,
    schema: dict[str, Any],
    booster: dict[str, Any],
    params: TrainingParams,
) -> xgb.Booster:
    """Bin and train on the workers: the fit part, early-stopped on the stop part."""
    import xgboost.dask as dxgb  # noqa: PLC0415 - only the dask engine needs it

    client = engine.client
    engine.release_memory()  # what reading and splitting freed, before the matrices take it
    # The partitions' futures are held until training ends: a collection built from futures
    # does not keep them alive, and a future nothing holds is forgotten by the scheduler.
    (fit_part, fit_futures), (stop_part, stop_futures) = (
        _collection(engine, slices, read, spec, schema) for slices in parts
    )
    features = list(feature_meta(schema).columns)

    def matrix(frame: Any, ref: Any = None) -> Any:
        return dxgb.DaskQuantileDMatrix(
            client,
            frame[features],
            frame[LABEL],
            weight=frame[WEIGHT],
            enable_categorical=True,
            max_bin=MAX_BIN,
            ref=ref,
        )

    train = matrix(fit_part)
    stop = matrix(stop_part, ref=train)
    out = dxgb.train(
        client,
        booster,
        train,
        num_boost_round=params.n_estimators,
        evals=[(stop, EVALS_NAME)],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )
    del fit_futures, stop_futures  # released once the booster is trained
    return out["booster"]


def _collection(
    engine: Engine, slices: list[Slice], read: Reader, spec: DatasetSpec, schema: dict[str, Any]
) -> tuple[Any, list[Any]]:
    """A Dask frame of the slices' rows, read on the workers, every worker holding a partition.

    Returns the frame and the futures it rests on, the partitions' and the scattered inputs'
    (which the caller must hold until training ends). A scattered value nothing holds is
    forgotten once its tasks finish, and the scheduler then marks those tasks' results as
    having lost a dependency: should the results be moved or recomputed while XGBoost builds
    its matrices, the matrices' futures are cancelled ("lost dependencies").

    XGBoost trains each worker on the partitions it holds, and a worker without any cannot
    learn the categories, so the slices are cut into at least one chunk per worker and the
    chunks are placed on the workers in turn.
    """
    import dask.dataframe as dd  # noqa: PLC0415 - only the dask engine needs it

    client = engine.client
    workers = sorted(client.scheduler_info()["workers"])
    meta = feature_meta(schema, numeric="float32").assign(
        **{LABEL: pd.Series(dtype="float64"), WEIGHT: pd.Series(dtype="float64")}
    )
    shared = [engine.share(value) for value in (read, spec, schema)]
    futures = [
        client.submit(matrix_part, chunk, *shared, workers=[workers[i % len(workers)]], pure=False)
        for i, chunk in enumerate(chunked(slices, len(workers)))
    ]
    return dd.from_delayed(futures, meta=meta, verify_meta=False), [*futures, *shared]


def chunked(slices: list[Slice], count: int) -> list[Slice]:
    """The slices, each cut into pieces of consecutive rows, at least `count` in all.

    Fewer only when there are fewer rows than `count`; the order of the rows is kept.
    """
    cuts = max(1, -(-count // max(1, len(slices))))
    out: list[Slice] = []
    for path, rows, weight in slices:
        parts = np.array_split(rows, min(cuts, len(rows)))
        out.extend((path, part, weight) for part in parts)
    return out


def _tune_on_sample(
    engine: Engine,
    parts: tuple[list[Slice], list[Slice]],
    *,
    read: Reader,
    spec: DatasetSpec,
    schema: dict[str, Any],
    fixed: dict[str, Any],
    params: TrainingParams,
    tuning_rows: int,
) -> TuningResult:
    """Tune on a seeded sample of at most `tuning_rows` training rows, trials on every worker."""
    fit_slices, stop_slices = parts
    total = sum(len(rows) for _, rows, _ in (*fit_slices, *stop_slices))
    share = min(1.0, tuning_rows / total)
    rng = np.random.default_rng(params.seed)
    fit_sample, stop_sample = (
        _gather(engine, slices, read, rng, share) for slices in (fit_slices, stop_slices)
    )
    weights = pd.concat([fit_sample[WEIGHT], stop_sample[WEIGHT]], ignore_index=True)
    stop_sample.index += len(fit_sample)
    logger.info(
        "tuning on %d of %d training rows (engine.tuning_rows %d), on %d workers",
        len(fit_sample) + len(stop_sample),
        total,
        tuning_rows,
        engine.workers,
    )
    sample = TuningSample(
        fit=fit_sample.drop(columns=WEIGHT), stop=stop_sample.drop(columns=WEIGHT), weights=weights
    )
    return tune_on_workers(engine, sample, spec=spec, schema=schema, fixed=fixed, params=params)


def _gather(
    engine: Engine, slices: list[Slice], read: Reader, rng: np.random.Generator, share: float
) -> pd.DataFrame:
    """A `share` of each slice's rows (at least one), in piece order, indexed from 0."""
    picked = [
        (path, np.sort(rng.choice(rows, size=max(1, round(len(rows) * share)), replace=False)))
        for path, rows, _ in slices
    ]
    frames = engine.map(sample_rows, picked, read)
    weighted = [
        frame.assign(**{WEIGHT: weight})
        for frame, (_, _, weight) in zip(frames, slices, strict=True)
    ]
    return pd.concat(weighted, ignore_index=True)
