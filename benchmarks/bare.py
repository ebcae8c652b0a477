"""The bare baseline: the loop's statistics and training written directly with numpy/scipy/xgboost.

No orchestration, no tracking, no reports: read the files, run the same full-data checks (nulls,
ranges, category sets, unique ids), the same drift tests on the same sample sizes (Wasserstein
and KS per numeric column, Jensen-Shannon and chi-square per categorical one, prediction drift),
score the champion, and for `retrain` fit the same XGBoost model on the same time-ordered split.
Prints one JSON line of stage wall times. Run by `benchmarks/loop.py`, or by hand:

    python benchmarks/bare.py retrain --project DIR --sample 20000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd
import xgboost as xgb
from scipy import stats
from scipy.spatial import distance
from sklearn.metrics import roc_auc_score
from synthetic import CATEGORICAL, NUMERIC, TARGET

FEATURES = NUMERIC + list(CATEGORICAL)
# driftloop's default training: parameters, rounds, split shares.
BOOSTER_PARAMS = {
    "tree_method": "hist",
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "max_depth": 6,
    "learning_rate": 0.05,
    "seed": 42,
    "nthread": len(os.sched_getaffinity(0)),
}
ROUNDS, EARLY_STOPPING_ROUNDS, HOLDOUT, EARLY_STOPPING = 300, 30, 0.2, 0.1
# The suite's allowances and the FDR level, as driftloop's defaults set them.
NULL_ALLOWANCE, OUTLIER_ALLOWANCE, UNSEEN_ALLOWANCE, ALPHA = 0.05, 0.02, 0.05, 0.05


def checks(frame: pd.DataFrame, reference: pd.DataFrame) -> int:
    """The suite's checks on every row; returns how many failed."""
    failed = int(frame["id"].duplicated().any()) + int(frame["ts"].isna().any())
    for column in FEATURES:
        failed += int(
            frame[column].isna().mean() > reference[column].isna().mean() + NULL_ALLOWANCE
        )
    for column in NUMERIC:
        low, high = reference[column].min(), reference[column].max()
        span = high - low
        outside = ~frame[column].between(low - span, high + span) & frame[column].notna()
        failed += int(outside.mean() > OUTLIER_ALLOWANCE)
    for column in CATEGORICAL:
        known = reference[column].dropna().unique()
        failed += int((~frame[column].isin(known)).mean() > UNSEEN_ALLOWANCE)
    failed += int(not frame[TARGET].isin([0, 1]).all())
    return failed


def sample(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """At most `rows` rows, drawn without replacement."""
    return frame if len(frame) <= rows else frame.sample(rows, random_state=0)


def drift_tests(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """Distance and p-value per column, Benjamini-Hochberg over the p-values."""
    out: dict[str, float] = {}
    for column in [*NUMERIC, "prediction"]:
        ref, cur = reference[column].dropna(), current[column].dropna()
        out[column] = stats.wasserstein_distance(ref, cur) / max(ref.std(), 1e-12)
        out[f"p_{column}"] = stats.ks_2samp(ref, cur).pvalue
    for column in CATEGORICAL:
        ref_counts = reference[column].value_counts()
        cur_counts = current[column].value_counts().reindex(ref_counts.index, fill_value=0)
        out[column] = distance.jensenshannon(ref_counts, cur_counts)
        expected = ref_counts / ref_counts.sum() * cur_counts.sum()
        out[f"p_{column}"] = stats.chisquare(cur_counts + 0.0, expected).pvalue
    p_values = [v for k, v in out.items() if k.startswith("p_")]
    out["corrected"] = float((stats.false_discovery_control(p_values) < ALPHA).sum())
    return out


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """fit_model's time-ordered split: (fit part, early-stopping slice, holdout)."""
    ordered = frame.sort_values("ts", kind="stable")
    cut = round(len(ordered) * (1 - HOLDOUT))
    train, holdout = ordered.iloc[:cut], ordered.iloc[cut:]
    stop_at = round(len(train) * (1 - EARLY_STOPPING))
    return train.iloc[:stop_at], train.iloc[stop_at:], holdout


def matrix(frame: pd.DataFrame, ref: xgb.QuantileDMatrix | None = None) -> xgb.QuantileDMatrix:
    """Features (native categorical) and label, binned once (on `ref`'s cuts when given)."""
    return xgb.QuantileDMatrix(
        frame[FEATURES], label=frame[TARGET], enable_categorical=True, ref=ref
    )


def main() -> None:
    """Time the stages of one run; print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["monitor", "retrain"])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--sample", type=int, required=True, help="drift sample rows per side")
    parser.add_argument("--champion", type=Path, required=True, help="the champion's model.ubj")
    args = parser.parse_args()
    incoming = args.project / "data" / "incoming" / "bench"
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(seconds.get(stage, 0.0) + now - clock, 3)
        clock = now

    reference = pd.read_parquet(incoming / "batch-0-seed.parquet")
    batch = pd.read_parquet(incoming / "batch-1-drift.parquet")
    lap("read")
    checks(batch, reference)
    lap("validate")
    champion = xgb.Booster(model_file=str(args.champion))
    tested = sample(reference, args.sample).copy()  # only tested reference rows need scores
    tested["prediction"] = champion.predict(xgb.DMatrix(tested[FEATURES], enable_categorical=True))
    batch["prediction"] = champion.predict(xgb.DMatrix(batch[FEATURES], enable_categorical=True))
    drift_tests(tested, sample(batch, args.sample))
    roc_auc_score(batch[TARGET], batch["prediction"])
    lap("monitor")
    if args.mode == "retrain":
        fit_part, stop_part, holdout = split(batch)
        fit = matrix(fit_part)
        booster = xgb.train(
            BOOSTER_PARAMS,
            fit,
            num_boost_round=ROUNDS,
            evals=[(matrix(stop_part, ref=fit), "stop")],
            early_stopping_rounds=EARLY_STOPPING_ROUNDS,
            verbose_eval=False,
        )
        lap("train")
        test = xgb.DMatrix(holdout[FEATURES], enable_categorical=True)
        roc_auc_score(holdout[TARGET], booster[: booster.best_iteration + 1].predict(test))
        roc_auc_score(holdout[TARGET], champion.predict(test))
        lap("evaluate")
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
