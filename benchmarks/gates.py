"""Benchmark: the error rates of the promotion gate and of the drift decision, measured.

Promotion gate. Seeded champion/challenger pairs on a binary holdout whose true ROC AUC gap is
known: scores are binormal (a model whose positives score `d` higher than its negatives, in
unit-variance noise, has ROC AUC `Phi(d / sqrt(2))`), the champion at ROC AUC 0.80 and the
challenger at 0.80 + gap, their noise correlated (`--correlation`, two models of the same data
err on the same rows), probabilities from a logistic link so that accuracy moves with the gap.
Each pair goes through the gate the promotion step runs: `compare_on_holdout` (the paired
bootstrap, with the configured confidence and resamples) then `decide_promotion` (margin,
floor, "worse on none"). The share promoted is the false-promotion rate at gap 0 (target: at
most 1 - confidence) and the power at the other gaps, for each holdout size.

Drift decision. Reference and batch drawn from the same distribution (8 standard-normal numeric
columns, 2 categorical ones of 5 levels), at each batch size, through `measure_drift` (Evidently's
pinned distances, KS/chi-square p-values, Benjamini-Hochberg at the configured FDR, the share
rule) with the default drift settings. The share of batches called drifted is the false-alarm
rate on unchanged data (target: at most the configured FDR); with every numeric column moved by
0.1 and 0.2 standard deviations, it is the power. A column-level rate is shown beside it.

Rates carry 95% Wilson intervals. Prints both tables and writes `gates-results.csv`; run by hand:

    OMP_WAIT_POLICY=PASSIVE uv run python benchmarks/gates.py [--promotion-reps 200]
        [--drift-reps 60] [--holdouts 300 3000 30000] [--batch-rows 1000 100000 1000000]
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from config.settings import DriftSettings, PromotionSettings, Settings
from evaluation.comparison import compare_on_holdout
from evaluation.metrics import watched_metrics
from model_monitoring.drift import measure_drift
from model_monitoring.measures import DriftTests
from pipeline.params import drift_tests
from registry.promotion import decide_promotion, metric_floor

HERE = Path(__file__).resolve().parent
METRIC = "roc_auc"
WATCH = watched_metrics("binary", METRIC)
CHAMPION_AUC = 0.80
GAPS = (0.0, 0.005, 0.01, 0.02)  # true ROC AUC gaps: 0, +0.5, +1 and +2 points
SHIFTS = (0.0, 0.1, 0.2)  # numeric columns moved by this many standard deviations
NUMERIC = [f"x{i}" for i in range(8)]
CATEGORICAL = ["c0", "c1"]
LEVELS = np.array(["a", "b", "c", "d", "e"])
FIELDS = ["gate", "size", "truth", "runs", "positive", "rate", "low", "high", "detail", "seconds"]


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a rate of k in n."""
    if n == 0:
        return math.nan, math.nan
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def separation(auc: float) -> float:
    """The binormal separation whose ROC AUC is `auc`."""
    return math.sqrt(2) * float(stats.norm.ppf(auc))


def paired_holdout(
    rng: np.random.Generator, rows: int, gap: float, correlation: float
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Labels and the champion's and challenger's P(positive) on one seeded holdout."""
    y = (rng.random(rows) < 0.5).astype("int64")  # noqa: PLR2004 - balanced classes
    shared = rng.standard_normal(rows)
    own = rng.standard_normal((2, rows))
    noise = math.sqrt(correlation) * shared + math.sqrt(1 - correlation) * own
    out = []
    for auc, e in zip((CHAMPION_AUC, CHAMPION_AUC + gap), noise, strict=True):
        d = separation(auc)
        latent = d * y + e
        # A logistic link (1.7: the usual probit-to-logit scale), 0.5 halfway between classes.
        out.append(1 / (1 + np.exp(-1.7 * (latent - d / 2))))
    return pd.Series(y), out[0], out[1]


def promotion_rates(args: argparse.Namespace, rule: PromotionSettings) -> list[dict[str, Any]]:
    """The share of seeded challengers the gate promotes, per holdout size and true gap."""
    rows_out = []
    for size in args.holdouts:
        for gap in GAPS:
            began = time.perf_counter()
            promoted = 0
            for seed in range(args.promotion_reps):
                rng = np.random.default_rng([size, round(gap * 1e4), seed])
                y, champion, challenger = paired_holdout(rng, size, gap, args.correlation)
                # Scores as binary models give them: P(positive).
                comparisons = compare_on_holdout(
                    y,
                    challenger,
                    champion,
                    task="binary",
                    classes=[0, 1],
                    metrics=WATCH,
                    confidence=rule.confidence,
                    resamples=rule.bootstrap_resamples,
                )
                verdict = decide_promotion(
                    metric=METRIC,
                    challenger=comparisons[METRIC].challenger,
                    comparisons=comparisons,
                    min_improvement=rule.min_improvement,
                    confidence=rule.confidence,
                    floor=metric_floor(METRIC, rule.floor),
                )
                promoted += verdict.promote
            low, high = wilson(promoted, args.promotion_reps)
            rows_out.append(
                {
                    "gate": "promotion",
                    "size": size,
                    "truth": f"roc_auc gap {gap * 100:+.1f} points",
                    "runs": args.promotion_reps,
                    "positive": promoted,
                    "rate": round(promoted / args.promotion_reps, 4),
                    "low": round(low, 4),
                    "high": round(high, 4),
                    "detail": f"margin {rule.min_improvement}, confidence {rule.confidence}",
                    "seconds": round(time.perf_counter() - began, 1),
                }
            )
            print(_line(rows_out[-1]), flush=True)
    return rows_out


def batch(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    """One seeded frame: standard-normal numeric columns moved by `shift`, categorical ones."""
    frame = pd.DataFrame(rng.standard_normal((rows, len(NUMERIC))) + shift, columns=NUMERIC)
    for column in CATEGORICAL:
        frame[column] = pd.Categorical(LEVELS[rng.integers(0, len(LEVELS), rows)])
    frame["label"] = rng.integers(0, 2, rows)
    return frame


def drift_rates(args: argparse.Namespace, tests: DriftTests) -> list[dict[str, Any]]:
    """The share of batches called drifted, per batch size and shift."""
    rows_out = []
    columns = {"numeric": NUMERIC, "categorical": CATEGORICAL}
    for size in args.batch_rows:
        for shift in SHIFTS:
            began = time.perf_counter()
            detected = flagged = 0
            for seed in range(args.drift_reps):
                rng = np.random.default_rng([size, round(shift * 100), seed])
                summary, _ = measure_drift(
                    batch(rng, size, 0.0),
                    batch(rng, size, shift),
                    columns=columns,
                    target="label",
                    tests=tests,
                    watch=WATCH,
                )
                detected += summary.drift_detected
                flagged += sum(c.significant for c in summary.columns if c.column in NUMERIC)
            low, high = wilson(detected, args.drift_reps)
            column_rate = flagged / (args.drift_reps * len(NUMERIC))
            rows_out.append(
                {
                    "gate": "drift",
                    "size": size,
                    "truth": f"numeric shift {shift} sd",
                    "runs": args.drift_reps,
                    "positive": detected,
                    "rate": round(detected / args.drift_reps, 4),
                    "low": round(low, 4),
                    "high": round(high, 4),
                    "detail": (
                        f"numeric columns flagged {column_rate:.3f}; FDR {tests.alpha}, share "
                        f"{tests.share_threshold}, sample {tests.sample_rows}, "
                        f"{tests.numeric_method} > {tests.threshold}"
                    ),
                    "seconds": round(time.perf_counter() - began, 1),
                }
            )
            print(_line(rows_out[-1]), flush=True)
    return rows_out


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['gate']:9} {row['size']:>9,} {row['truth']:24} "
        f"{row['positive']:>4}/{row['runs']:<4} rate {row['rate']:.3f} "
        f"[{row['low']:.3f}, {row['high']:.3f}]  {row['detail']}  ({row['seconds']} s)"
    )


def main() -> None:
    """Measure both gates with the default settings and write the CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promotion-reps", type=int, default=200)
    parser.add_argument("--drift-reps", type=int, default=60)
    parser.add_argument("--holdouts", type=int, nargs="+", default=[300, 3_000, 30_000])
    parser.add_argument("--batch-rows", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--correlation", type=float, default=0.7)
    parser.add_argument("--only", choices=["promotion", "drift"])
    parser.add_argument("--out", type=Path, default=HERE / "gates-results.csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # The defaults a run uses, read the way a run reads them (no settings file, no environment).
    defaults = Settings.model_construct(drift=DriftSettings(), promotion=PromotionSettings())
    tests = drift_tests(defaults)
    rows: list[dict[str, Any]] = []
    if args.only != "drift":
        rows += promotion_rates(args, defaults.promotion)
    if args.only != "promotion":
        rows += drift_rates(args, tests)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
