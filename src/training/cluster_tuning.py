"""Tuning trials spread over a Dask cluster: one Optuna study, its trials run by every worker.

The study lives in Optuna's `DaskStorage` (held by the scheduler), so every worker asks it for
the next parameters and reports each boosting round for pruning, as threads of one process do
with an in-memory study. Each worker bins the tuning sample once and runs trials until the
study has `tuning_trials` of them (a worker that started one as another finished the last may
run one more) or the budget's time is up. The sample, not every row, is
what trials fit on: it is small enough to send to every worker, and the final booster trains
on every row with the parameters the study chose.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd

from compute.engine import Engine
from config.spec import DatasetSpec
from training.boosting import make_trainer, observed_metric, starting_params
from training.matrices import build_matrices
from training.params import TrainingParams
from training.trials import TuningResult, study_result
from training.tuning import (
    TRIAL_ERRORS,
    quiet_optuna,
    starting_point,
    trial_objective,
    tuning_pruner,
    tuning_sampler,
)


@contextmanager
def _experimental_allowed() -> Iterator[None]:
    # DaskStorage is marked experimental (since Optuna 3.1); it is Optuna's own Dask storage.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


@dataclass(frozen=True)
class TuningSample:
    """The rows trials fit on and early-stop on, and each row's weight (indexed like both)."""

    fit: pd.DataFrame
    stop: pd.DataFrame
    weights: pd.Series


def tune_on_workers(
    engine: Engine,
    sample: TuningSample,
    *,
    spec: DatasetSpec,
    schema: dict[str, Any],
    fixed: dict[str, Any],
    params: TrainingParams,
) -> TuningResult:
    """Run one study's trials on every worker of the cluster; trial 0 is the starting point.

    Args:
        engine: A distributed engine.
        sample: The tuning sample (sent once to every worker).
        spec: The dataset spec (task, target).
        schema: The model's input schema.
        fixed: The parameters every booster shares (without a thread count).
        params: The training request: trials, time budget, seed, rounds.

    Returns:
        What the study found, with every finished trial.
    """
    from optuna_integration import DaskStorage  # noqa: PLC0415 - only the dask engine needs it

    client = engine.client
    began = time.perf_counter()
    workers = client.scheduler_info()["workers"]
    threads = min(int(w.get("nthreads", 1)) for w in workers.values())
    initial = starting_point(starting_params(params))
    with quiet_optuna(), _experimental_allowed():
        study = optuna.create_study(
            storage=DaskStorage(client=client),
            direction="minimize",
            sampler=tuning_sampler(params.seed, True),
            pruner=tuning_pruner(),
        )
        study.enqueue_trial(initial)
        shared = engine.share(sample)
        futures = [
            client.submit(
                run_trials,
                study,
                shared,
                index=index,
                spec=spec,
                schema=schema,
                fixed=fixed,
                params=params,
                threads=threads,
                workers=[address],
                pure=False,
            )
            for index, address in enumerate(sorted(workers))
        ]
        client.gather(futures)
    observe = observed_metric(fixed)
    return study_result(study, observe, time.perf_counter() - began, len(workers), threads)


def run_trials(
    study: optuna.Study,
    sample: TuningSample,
    *,
    index: int,
    spec: DatasetSpec,
    schema: dict[str, Any],
    fixed: dict[str, Any],
    params: TrainingParams,
    threads: int,
) -> None:
    """Run trials of `study` on this worker until the study has enough or time is up.

    Each worker samples with its own seed (the study's seed plus its `index`), so two workers
    never propose the same parameters from the same history.
    """
    with quiet_optuna(), _experimental_allowed():
        study.sampler = tuning_sampler(params.seed + index, True)
        matrices = build_matrices(
            sample.fit, sample.stop, spec, schema, weights=sample.weights, threads=threads
        )
        train = make_trainer({**fixed, "nthread": threads}, matrices, params)
        initial = starting_point(starting_params(params))
        study.optimize(
            trial_objective(train, initial, observe=observed_metric(fixed), threads=threads),
            n_trials=params.tuning_trials,
            timeout=params.tuning_timeout_seconds,
            catch=TRIAL_ERRORS,
            callbacks=[optuna.study.MaxTrialsCallback(params.tuning_trials, states=None)],
        )
