"""Tune XGBoost hyperparameters with Optuna on the early-stopping slice of the training part."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import optuna
import xgboost as xgb
from optuna_integration import XGBoostPruningCallback

from training.trials import TuningResult, study_result

logger = logging.getLogger(__name__)

# Searched parameters: (low, high, log scale). Ranges stretch to include the starting point.
SEARCH_SPACE: dict[str, tuple[float, float, bool]] = {
    "max_depth": (2, 10, False),
    "learning_rate": (0.01, 0.3, True),
    "min_child_weight": (0.5, 20.0, True),
    "subsample": (0.5, 1.0, False),
    "colsample_bytree": (0.5, 1.0, False),
    "reg_lambda": (0.1, 10.0, True),
    "reg_alpha": (0.0, 1.0, False),  # linear: XGBoost's default 0 has no log
}
INTEGER_PARAMS = frozenset({"max_depth"})
# XGBoost's own defaults for the searched parameters that TrainingParams does not set.
XGBOOST_DEFAULTS: dict[str, float] = {
    "min_child_weight": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "reg_lambda": 1.0,
    "reg_alpha": 0.0,
}
# The median of a few finished trials is a fair bar; earlier than that pruning is guesswork.
PRUNER_STARTUP_TRIALS = 5
# Slow learners trail fast ones in the first rounds; judge no trial before this many rounds.
PRUNER_WARMUP_ROUNDS = 30
# Fits one booster from (parameters, callbacks), early-stopped on the validation slice.
Trainer = Callable[[dict[str, Any], list[xgb.callback.TrainingCallback]], xgb.Booster]
# A parameter set XGBoost rejects fails its trial, not the retrain.
TRIAL_ERRORS = (xgb.core.XGBoostError,)


def should_tune(train_rows: int, *, trials: int, min_rows: int) -> bool:
    """Tune when trials are allowed and the training part is big enough to judge them on."""
    return trials > 0 and train_rows >= min_rows


def available_cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - platforms without CPU affinity (macOS)


def plan_parallelism(*, cores: int, jobs: int, trials: int) -> tuple[int, int]:
    """Split the cores between trials: (trials run in parallel, XGBoost threads per trial).

    `jobs` 0 means one trial per core; there are never more parallel trials than cores or trials.
    """
    parallel = max(1, min(jobs or cores, cores, trials))
    return parallel, max(1, cores // parallel)


def tune_hyperparams(
    train: Trainer,
    start: dict[str, float | int],
    *,
    observe: str,
    trials: int,
    timeout_seconds: float | None,
    jobs: int,
    cores: int,
    seed: int,
) -> TuningResult:
    """Search XGBoost hyperparameters with a seeded TPE sampler and median pruning.

    `train(params, callbacks)` fits one booster with early stopping on the validation slice;
    a trial scores its best value of `observe` (lower is better). Trial 0 evaluates `start` and
    is never pruned, so the best result is never worse than the defaults on that slice. Which
    rows train and validate is up to `train`: tuning never sees the data.

    Args:
        train: Fits a booster with the given parameters (merged over the fixed ones) and
            callbacks, early-stopped on the validation slice. Trials may call it concurrently.
        start: The default values of the searched parameters (at least max_depth and
            learning_rate); XGBoost's defaults fill in the rest.
        observe: The evaluation XGBoost reports, "<evals name>-<metric>", e.g.
            "early_stopping-logloss".
        trials: Most trials, the starting point included.
        timeout_seconds: No new trial starts after this long (running ones finish).
        jobs: Trials run in parallel (0: one per core).
        cores: Cores to share between parallel trials (0: all this process may use).
        seed: Seed of the sampler (with parallel trials the order they finish in still varies).

    Returns:
        The best parameters (every searched one), their score, and a record of every trial.

    Raises:
        TrainingError: no trial completed.
    """
    began = time.perf_counter()
    parallel, threads = plan_parallelism(cores=cores or available_cores(), jobs=jobs, trials=trials)
    initial = starting_point(start)
    with quiet_optuna():
        study = optuna.create_study(
            direction="minimize", sampler=tuning_sampler(seed, parallel > 1), pruner=tuning_pruner()
        )
        study.enqueue_trial(initial)
        study.optimize(
            trial_objective(train, initial, observe=observe, threads=threads),
            n_trials=trials,
            timeout=timeout_seconds,
            n_jobs=parallel,
            catch=TRIAL_ERRORS,
        )
    return study_result(study, observe, time.perf_counter() - began, parallel, threads)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna logs warnings only while this runs (not a line per trial)."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def tuning_sampler(seed: int, parallel: bool) -> optuna.samplers.BaseSampler:
    """The seeded TPE sampler; with trials in parallel it assumes running ones did badly."""
    return optuna.samplers.TPESampler(seed=seed, constant_liar=parallel)


def tuning_pruner() -> optuna.pruners.BasePruner:
    """Median pruning, after a few finished trials and a warm-up of rounds."""
    return optuna.pruners.MedianPruner(
        n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=PRUNER_WARMUP_ROUNDS
    )


def starting_point(start: dict[str, float | int]) -> dict[str, float | int]:
    """Every searched parameter's starting value: `start`, and XGBoost's defaults for the rest."""
    return {**XGBOOST_DEFAULTS, **start}


def trial_objective(
    train: Trainer, initial: dict[str, float | int], *, observe: str, threads: int
) -> Callable[[optuna.Trial], float]:
    """What a trial scores: the best `observe` of a booster `train` fits with its parameters.

    Parameters are searched around `initial`; each booster gets `threads` threads.
    """
    return partial(
        _objective, train=train, space=_space_around(initial), observe=observe, threads=threads
    )


def _space_around(initial: dict[str, float | int]) -> dict[str, tuple[float, float, bool]]:
    return {
        name: (min(low, initial[name]), max(high, initial[name]), log)
        for name, (low, high, log) in SEARCH_SPACE.items()
    }


def _objective(
    trial: optuna.Trial,
    *,
    train: Trainer,
    space: dict[str, tuple[float, float, bool]],
    observe: str,
    threads: int,
) -> float:
    params: dict[str, Any] = {
        name: trial.suggest_int(name, int(low), int(high), log=log)
        if name in INTEGER_PARAMS
        else trial.suggest_float(name, low, high, log=log)
        for name, (low, high, log) in space.items()
    }
    # Trial 0 holds the defaults; it always finishes so there is a score to beat.
    callbacks = [] if trial.number == 0 else [XGBoostPruningCallback(trial, observe)]
    booster = train({**params, "nthread": threads}, callbacks)
    trial.set_user_attr("best_iteration", int(booster.best_iteration))
    return float(booster.best_score)
