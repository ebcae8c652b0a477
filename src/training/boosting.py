"""Train one booster, tuned or not, on matrices built once for every trial and the final fit."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import pandas as pd
import xgboost as xgb

from config.spec import DatasetSpec, Task
from training.device import Device
from training.matrices import MAX_BIN, TrainingMatrices, build_matrices
from training.params import TrainingParams
from training.tuning import (
    Trainer,
    TuningResult,
    available_cores,
    should_tune,
    tune_hyperparams,
)

logger = logging.getLogger(__name__)

EVALS_NAME = "early_stopping"


def train_booster(
    fit_part: pd.DataFrame,
    stop_part: pd.DataFrame,
    spec: DatasetSpec,
    schema: dict[str, Any],
    *,
    weights: pd.Series | None,
    params: TrainingParams,
    device: Device,
) -> tuple[xgb.Booster, dict[str, Any], TuningResult | None]:
    """Fit on `fit_part`, early-stopped on `stop_part`, with tuned parameters when tuning runs.

    The matrices are built once and shared by every tuning trial and the final fit. On a GPU,
    trials run one at a time.

    Args:
        fit_part: Rows to train on.
        stop_part: The newest training rows: early stopping and tuning are judged on them.
        spec: The dataset spec (task, target).
        schema: The model's input schema.
        weights: Sample weights indexed like the parts' rows, or None.
        params: Hyperparameters, thread count and tuning budget.
        device: Where XGBoost trains ("cpu" or "cuda").

    Returns:
        The booster (every round it ran; set to score on the CPU), the searched parameters it
        was trained with, and the tuning study (None when tuning did not run).
    """
    threads = params.n_jobs or available_cores()
    fixed = booster_params(
        spec.task, params, n_classes=len(schema["classes"]), device=device, threads=threads
    )
    matrices = build_matrices(fit_part, stop_part, spec, schema, weights=weights, threads=threads)
    train = make_trainer(fixed, matrices, params)
    used = starting_params(params)
    rows, tuning = len(fit_part) + len(stop_part), None
    if should_tune(rows, trials=params.tuning_trials, min_rows=params.tuning_min_rows):
        tuning = tune_hyperparams(
            train,
            used,
            observe=observed_metric(fixed),
            trials=params.tuning_trials,
            timeout_seconds=params.tuning_timeout_seconds,
            # Trials on one GPU would only queue for it and share its memory: one at a time.
            jobs=1 if device == "cuda" else params.tuning_jobs,
            cores=threads,
            seed=params.seed,
        )
        used = dict(tuning.best_params)
    elif params.tuning_trials > 0:
        logger.info("not tuning: %d training rows < %d", rows, params.tuning_min_rows)
    booster = train(used, [])
    if device == "cuda":
        # From here on the booster scores pandas frames held in host memory (holdout, monitoring).
        booster.set_param({"device": "cpu"})
    return booster, used, tuning


def make_trainer(
    fixed: dict[str, Any], matrices: TrainingMatrices, params: TrainingParams
) -> Trainer:
    """A `Trainer` of boosters on `matrices`, early-stopped on their stop slice."""
    return partial(
        _train_on,
        fixed=fixed,
        matrices=matrices,
        rounds=params.n_estimators,
        patience=params.early_stopping_rounds,
    )


def starting_params(params: TrainingParams) -> dict[str, Any]:
    """The searched parameters a request sets: where tuning starts, and the untuned fit's."""
    return {"max_depth": params.max_depth, "learning_rate": params.learning_rate}


def observed_metric(fixed: dict[str, Any]) -> str:
    """The evaluation early stopping and tuning watch, "<evals name>-<metric>"."""
    return f"{EVALS_NAME}-{fixed['eval_metric']}"


def _train_on(
    hyper: dict[str, Any],
    callbacks: list[xgb.callback.TrainingCallback],
    *,
    fixed: dict[str, Any],
    matrices: TrainingMatrices,
    rounds: int,
    patience: int,
) -> xgb.Booster:
    return xgb.train(
        {**fixed, **hyper},
        matrices.fit,
        num_boost_round=rounds,
        evals=[(matrices.stop, EVALS_NAME)],
        early_stopping_rounds=patience,
        callbacks=callbacks,
        verbose_eval=False,
    )


def booster_params(
    task: Task, params: TrainingParams, *, n_classes: int, device: Device, threads: int
) -> dict[str, Any]:
    """The parameters every booster of a fit shares: objective, metric, bins, seed, threads.

    `threads` 0 leaves the count to the trainer (a Dask worker's own thread count).
    """
    base: dict[str, Any] = {
        "tree_method": "hist",
        "device": device,
        "max_bin": MAX_BIN,
        "seed": params.seed,
        # Explicit, so XGBoost never falls back to its own guess of the core count.
        "nthread": threads,
    }
    if task is Task.BINARY:
        return {**base, "objective": "binary:logistic", "eval_metric": "logloss"}
    if task is Task.MULTICLASS:
        return {
            **base,
            "objective": "multi:softprob",
            "num_class": n_classes,
            "eval_metric": "mlogloss",
        }
    return {**base, "objective": "reg:squarederror", "eval_metric": "rmse"}
