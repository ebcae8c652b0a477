"""Benchmark: what `fit_model` costs beyond XGBoost itself, on 1M rows x 20 features.

Three cases on the same synthetic frame (`synthetic.make_frame`: 15 numeric and 5 categorical
columns, a binary label) and the same time-ordered split (newest 20% held out, the newest 10% of
the rest for early stopping):

- bare: a DMatrix with native categoricals, `hist`, 300 rounds, depth 6, learning rate 0.05,
  early stopping after 30, every core; then the holdout scored.
- fit: `fit_model` with tuning off (the same parameters).
- tuned: `fit_model` with Optuna tuning (`--trials`, `--timeout`), trials in parallel.
- tuned_seq: `fit_model` with `--seq-trials` trials one at a time and no timeout. Parallel
  trials sample parameters in the order they finish, so two runs train different trials; these
  are the same trials every run, so two versions of the code can be compared trial for trial.

The file is not named training.py: run as a script, benchmarks/ comes first on `sys.path`
and such a module would shadow the `training` package for every benchmark.

Each case runs in its own process so its peak RSS (`resource.getrusage`) is its own; `data_mb` is
the RSS once the frame is built, before training starts. `cpu_s` (CPU time of every thread) is
steadier than wall time on a shared machine. Run by hand from the repository root:

    OMP_WAIT_POLICY=PASSIVE uv run python benchmarks/training_cost.py [--rows N] [--label after]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import xgboost as xgb
from bare import BOOSTER_PARAMS, EARLY_STOPPING_ROUNDS, ROUNDS, split
from sklearn.metrics import roc_auc_score
from synthetic import CATEGORICAL, NUMERIC, TARGET, make_frame

from config.spec import DatasetSpec, FeatureSpec, Task
from training.fit import fit_model
from training.params import TrainingParams

CASES = ("bare", "fit", "tuned", "tuned_seq")
FEATURES = NUMERIC + list(CATEGORICAL)
SPEC = DatasetSpec(
    name="bench",
    task=Task.BINARY,
    target=TARGET,
    timestamp="ts",
    id="id",
    features=FeatureSpec(numeric=tuple(NUMERIC), categorical=tuple(CATEGORICAL)),
    reference=Path("unused/reference.parquet"),
    incoming=Path("unused/incoming"),
)


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User and system CPU time of this process (every thread) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_bare(frame: pd.DataFrame) -> dict[str, Any]:
    """XGBoost alone on fit_model's split and default parameters."""
    started = time.perf_counter()
    fit_rows, stop_rows, holdout = split(frame)

    def matrix(part: pd.DataFrame) -> xgb.DMatrix:
        return xgb.DMatrix(part[FEATURES], label=part[TARGET], enable_categorical=True)

    fit_part, stop_part = matrix(fit_rows), matrix(stop_rows)
    matrices = time.perf_counter() - started
    booster = xgb.train(
        BOOSTER_PARAMS,
        fit_part,
        num_boost_round=ROUNDS,
        evals=[(stop_part, "stop")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        verbose_eval=False,
    )
    best = booster.best_iteration
    scores = booster[: best + 1].predict(matrix(holdout))
    return {
        "roc_auc": float(roc_auc_score(holdout[TARGET], scores)),
        "trees": best + 1,
        "matrix_s": round(matrices, 2),
    }


def run_fit(frame: pd.DataFrame, *, trials: int, timeout: float, jobs: int) -> dict[str, Any]:
    """`fit_model` with the default parameters, tuning `trials` times (0: no tuning)."""
    params = TrainingParams(tuning_trials=trials, tuning_timeout_seconds=timeout, tuning_jobs=jobs)
    result = fit_model(frame, SPEC, params)
    return {
        "roc_auc": result.metrics["roc_auc"],
        "trees": result.best_iteration + 1,
        "trials_done": result.tuning.get("trials", 0),
        "pruned": result.tuning.get("pruned", 0),
        "tuning_s": result.tuning.get("seconds", 0.0),
        "device": result.params.get("device", "cpu"),
    }


def run_case(case: str, args: argparse.Namespace) -> dict[str, Any]:
    """Build the frame, run one case, and return its timings (in this process)."""
    frame = make_frame(args.rows, seed=args.seed)
    data_mb = rss_mb()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    if case == "bare":
        measured = run_bare(frame)
    else:
        budget = {
            "fit": {"trials": 0, "timeout": args.timeout, "jobs": 0},
            "tuned": {"trials": args.trials, "timeout": args.timeout, "jobs": 0},
            "tuned_seq": {"trials": args.seq_trials, "timeout": 24 * 3600.0, "jobs": 1},
        }
        measured = run_fit(frame, **budget[case])
    return {
        "case": case,
        "rows": args.rows,
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_s": round(cpu_seconds() - cpu_started, 2),
        "data_mb": round(data_mb),
        "peak_rss_mb": round(rss_mb()),
        **measured,
    }


def run_isolated(case: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one case in a fresh interpreter and read back its JSON line."""
    command = [sys.executable, __file__, "--case", case, "--rows", str(args.rows)]
    command += ["--seed", str(args.seed), "--trials", str(args.trials)]
    command += ["--timeout", str(args.timeout), "--seq-trials", str(args.seq_trials)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def save(table: pd.DataFrame, path: Path) -> None:
    """Write `table`, keeping earlier rows of other labels or cases (e.g. before a change)."""
    if path.exists():
        earlier = pd.read_csv(path)
        replaced = earlier.label.eq(table.label.iloc[0]) & earlier.case.isin(table.case)
        table = pd.concat([earlier[~replaced], table])
    table.to_csv(path, index=False)


def main() -> None:
    """Run each case in its own process; print the table and save it under `--label`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=60.0, help="tuning budget, seconds")
    parser.add_argument("--seq-trials", type=int, default=4, help="trials of tuned_seq")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--label", default="current", help="tag for these rows in the CSV")
    parser.add_argument("--csv", type=Path, default=Path("benchmarks/training-results.csv"))
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args)))
        return
    rows = []
    for case in args.cases:
        rows.append({"label": args.label, **run_isolated(case, args)})
        print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    bare = table.loc[table.case == "bare", "seconds"]
    if not bare.empty:
        table["x_bare"] = (table["seconds"] / bare.iloc[0]).round(2)
    save(table, args.csv)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False))
    print(
        f"\n{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable); seconds: wall time of "
        "the case after the frame is built; cpu_s: its CPU time (all threads); data_mb: RSS "
        "with the frame built; peak_rss_mb: the case's peak RSS; x_bare: seconds over bare "
        "XGBoost's"
    )


if __name__ == "__main__":
    main()
