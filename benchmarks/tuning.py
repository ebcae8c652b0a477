"""Benchmark: does Optuna tuning beat the default XGBoost parameters on the holdout, and how fast?

Trains through `fit_model` itself (the flow's path: time-ordered holdout, tuning on the
early-stopping slice of the training part) on the demo reference data and on single demo batches,
with the default parameters and with 10, 25 and 50 tuning trials, over several seeds. Reports the
holdout ROC AUC, accuracy and log loss, the paired change against the defaults, and the wall time.
Run by hand from the repository root:

    OMP_WAIT_POLICY=PASSIVE uv run python benchmarks/tuning.py [--seeds 3] [--trials 10 25 50]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

import pandas as pd

from config.spec import DatasetSpec, load_spec
from runs.batches import read_batch
from training.fit import fit_model
from training.params import TrainingParams

DATA = [
    Path("data/reference/rainfall.parquet"),
    Path("data/incoming/rainfall/batch-05.csv"),
    Path("data/incoming/rainfall/batch-01.csv"),
]
METRICS = ("roc_auc", "accuracy", "log_loss")


def run_once(
    frame: pd.DataFrame, spec: DatasetSpec, *, seed: int, trials: int, jobs: int, timeout: float
) -> dict[str, float]:
    """Fit once (tuning off when `trials` is 0) and return holdout metrics and timings."""
    params = TrainingParams(
        seed=seed,
        tuning_trials=trials,
        tuning_timeout_seconds=timeout,
        tuning_jobs=jobs,
        tuning_min_rows=0,
    )
    started = time.perf_counter()
    result = fit_model(frame, spec, params)
    seconds = time.perf_counter() - started
    tuning = result.tuning
    return {
        **{name: result.metrics[name] for name in METRICS},
        "train_rows": result.train_rows,
        "seconds": seconds,
        "tuning_seconds": tuning.get("seconds", 0.0),
        "trials_run": tuning.get("trials", 0),
        "pruned": tuning.get("pruned", 0),
        "tuned_won": float(tuning.get("best_trial", 0) != 0),
        "validation": tuning.get("validation", float("nan")),
        "default_validation": tuning.get("default_validation", float("nan")),
    }


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per (dataset, trials, jobs), with the paired change against the defaults."""
    defaults = runs[runs.trials == 0].set_index(["dataset", "seed"])[list(METRICS)]
    paired = runs.join(defaults, on=["dataset", "seed"], rsuffix="_default")
    for name in METRICS:
        paired[f"d_{name}"] = paired[name] - paired[f"{name}_default"]
    table = (
        paired.groupby(["dataset", "trials", "jobs"], sort=False)
        .agg(
            train_rows=("train_rows", "first"),
            roc_auc=("roc_auc", "mean"),
            d_roc_auc=("d_roc_auc", "mean"),
            d_roc_auc_min=("d_roc_auc", "min"),
            accuracy=("accuracy", "mean"),
            d_accuracy=("d_accuracy", "mean"),
            log_loss=("log_loss", "mean"),
            d_log_loss=("d_log_loss", "mean"),
            val_logloss=("validation", "mean"),
            default_val_logloss=("default_validation", "mean"),
            tuned_won=("tuned_won", "sum"),
            pruned=("pruned", "mean"),
            seconds=("seconds", "mean"),
            tuning_seconds=("tuning_seconds", "mean"),
        )
        .reset_index()
    )
    return table.round(4)


def run_all(spec: DatasetSpec, args: argparse.Namespace) -> pd.DataFrame:
    """One row per (dataset, seed, trials, jobs); trials 0 is the defaults."""
    configs = [(0, 0), *itertools.product(args.trials, args.jobs)]
    runs = []
    for path, rows, seed in itertools.product(args.data, args.rows, range(args.seeds)):
        frame = read_batch(path)
        if rows:
            frame = frame.sort_values(spec.timestamp, kind="stable").head(rows)
        name = f"{path.stem}[:{rows}]" if rows else path.stem
        for trials, jobs in configs:
            result = run_once(
                frame, spec, seed=seed, trials=trials, jobs=jobs, timeout=args.timeout
            )
            runs.append({"dataset": name, "seed": seed, "trials": trials, "jobs": jobs, **result})
    return pd.DataFrame(runs)


def main() -> None:
    """Run defaults and each trial count on each dataset and seed; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=Path("data/rainfall.yaml"))
    parser.add_argument("--data", type=Path, nargs="+", default=DATA)
    parser.add_argument("--rows", type=int, nargs="+", default=[0], help="oldest N rows; 0: all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--jobs", type=int, nargs="+", default=[0], help="0: one trial per core")
    parser.add_argument("--timeout", type=float, default=600.0, help="tuning budget, seconds")
    parser.add_argument("--csv", type=Path, default=Path("benchmarks/tuning-results.csv"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    table = summarize(run_all(load_spec(args.spec), args))
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False))
    print(
        f"\n{args.seeds} seeds; holdout metrics are means over seeds, d_*: mean paired change "
        "against the defaults (same data and seed), d_roc_auc_min: the worst seed; val_logloss: "
        "the final model's log loss on the early-stopping slice; tuned_won: seeds where tuned "
        f"parameters beat the defaults there; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
