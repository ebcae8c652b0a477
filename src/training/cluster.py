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
import operator
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from compute.engine import Engine
from compute.errors import EngineError
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
        EngineError: XGBoost failed after a worker left the cluster (not the data's fault).
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
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """One piece's rows of a part as the model reads them: features, label, weight (on a worker).

    Three objects, so that the matrix takes each as it is: selecting columns from one frame on
    the cluster would copy every partition while the original is still held.
    """
    path, rows, weight = item
    frame = read(path).iloc[rows]  # the whole piece is freed here: only its share is kept
    # XGBoost stores labels and weights as float32 whatever it is given.
    labels = encoded_labels(frame[spec.target], spec.task, schema["classes"])
    out = prepare_features(frame, schema).reset_index(drop=True)
    del frame
    # XGBoost bins float32 values: the same bins as from float64, in half the worker memory.
    numeric = {column: out[column].astype("float32") for column in schema["numeric"]}
    out = out.assign(**numeric)
    return (
        out,
        pd.Series(np.asarray(labels, dtype="float32"), name=LABEL),
        pd.Series(np.full(len(out), weight, dtype="float32"), name=WEIGHT),
    )


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
        _collections(engine, slices, read, spec, schema) for slices in parts
    )

    def matrix(part: tuple[Any, Any, Any], ref: Any = None) -> Any:
        features, label, weight = part
        return dxgb.DaskQuantileDMatrix(
            client,
            features,
            label,
            weight=weight,
            enable_categorical=True,
            max_bin=MAX_BIN,
            ref=ref,
        )

    workers = set(client.scheduler_info()["workers"])
    try:
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
    except xgb.core.XGBoostError as exc:
        # XGBoost's errors are ValueErrors, which quarantine a batch; a collective broken by a
        # worker that left is the cluster's fault, and a rerun should train on the batch.
        left = sorted(workers - set(client.scheduler_info()["workers"]))
        if left:
            raise EngineError(
                f"training on the cluster failed after worker(s) {', '.join(left)} left it "
                f"(restarted for memory? see the workers' logs): {exc}"
            ) from exc
        raise
    del fit_futures, stop_futures  # released once the booster is trained
    return out["booster"]


def _collections(
    engine: Engine, slices: list[Slice], read: Reader, spec: DatasetSpec, schema: dict[str, Any]
) -> tuple[tuple[Any, Any, Any], list[Any]]:
    """Dask collections of the slices' features, labels and weights, read on the workers.

    Returns the three collections and the futures they rest on (which the caller must hold
    until training ends). A future nothing holds is forgotten once its dependents finish; when
    a result is then moved or recomputed while XGBoost builds its matrices, the matrices'
    futures are cancelled ("lost dependencies").

    XGBoost trains each worker on the partitions it holds, and a worker without any cannot
    learn the categories, so every worker gets an equal share of the rows (`shares`), and each
    part's features, label and weight are placed on the worker that read them (no partition is
    copied); only a worker that left gives its parts to another.
    """
    import dask.dataframe as dd  # noqa: PLC0415 - only the dask engine needs it
    from distributed import wait  # noqa: PLC0415 - only the dask engine needs it

    client = engine.client
    workers = sorted(client.scheduler_info()["workers"])
    shared = [engine.share(value) for value in (read, spec, schema)]
    # A preference, not a pin: a pinned task whose worker the nanny restarted (over its memory
    # limit) would wait forever for that worker's address to come back.
    loose = {"allow_other_workers": True}
    placed = [
        (
            [workers[index]],
            client.submit(
                matrix_part, chunk, *shared, workers=[workers[index]], pure=False, **loose
            ),
        )
        for index, chunk in shares(slices, len(workers))
    ]
    columns = [
        [client.submit(operator.getitem, part, i, workers=where, **loose) for where, part in placed]
        for i in range(3)
    ]
    held = [future for column in columns for future in column]
    wait(held)
    # The tuples go now: their three members stay on the workers under their own keys.
    del placed
    # Reading left each worker's allocators holding the pieces it read and freed (~250 MiB at
    # 3.3M rows); XGBoost's binned matrix and the boosting rounds need that room.
    engine.release_memory()
    features, label, weight = (
        dd.from_delayed(column, meta=empty, verify_meta=False)
        for column, empty in zip(
            columns,
            (
                feature_meta(schema, numeric="float32"),
                pd.Series(dtype="float32", name=LABEL),
                pd.Series(dtype="float32", name=WEIGHT),
            ),
            strict=True,
        )
    )
    return (features, label, weight), [*held, *shared]


def shares(slices: list[Slice], count: int) -> list[tuple[int, Slice]]:
    """The slices cut into `count` equal runs of consecutive rows, each run's pieces numbered.

    Returns (run number, slice) in row order; a run that crosses a piece boundary is two
    slices. Fewer runs only when there are fewer rows than `count`.
    """
    total = sum(len(rows) for _, rows, _ in slices)
    size = max(1, -(-total // max(1, count)))
    out: list[tuple[int, Slice]] = []
    start = 0
    for path, rows, weight in slices:
        cuts = range(size - start % size, len(rows), size)
        for offset, part in zip([0, *cuts], np.split(rows, list(cuts)), strict=True):
            out.append(((start + offset) // size, (path, part, weight)))
        start += len(rows)
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
