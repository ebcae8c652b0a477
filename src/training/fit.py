"""Fit an XGBoost model on a time-ordered split and score it on the holdout."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xgboost as xgb

from config.metrics import compute_metrics, encode_labels
from config.spec import DatasetSpec, Task
from training import model_code
from training.calibration import fit_calibration
from training.errors import TrainingError
from training.model_code import predict_scores, prepare_features
from training.tuning import TrialRecord, TuningResult, should_tune, tune_hyperparams

logger = logging.getLogger(__name__)

MIN_TRAIN_ROWS = 50
MIN_CLASSES = 2
# Early stopping watches the newest slice of the training part, never the holdout, so the holdout
# stays an unbiased referee between challenger and champion.
EARLY_STOPPING_FRACTION = 0.1
EVALS_NAME = "early_stopping"


@dataclass(frozen=True)
class TrainingParams:
    """XGBoost hyperparameters, the split, and the tuning budget (tuning_trials 0: no tuning)."""

    n_estimators: int = 300
    max_depth: int = 6
    learning_rate: float = 0.05
    early_stopping_rounds: int = 30
    holdout_fraction: float = 0.2
    seed: int = 42
    n_jobs: int = 0
    tuning_trials: int = 0
    tuning_timeout_seconds: float = 60.0
    tuning_jobs: int = 0
    tuning_min_rows: int = 1000


@dataclass(frozen=True)
class TrainingResult:
    """A fitted booster, its schema and holdout metrics; `params` are the ones it was fit with.

    `trials` and `tuning` (counts, scores on the early-stopping slice) are empty without tuning.
    """

    booster: xgb.Booster
    schema: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, float]
    holdout: pd.DataFrame
    train_rows: int
    best_iteration: int
    feature_importance: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, list[float]] | None = None
    trials: tuple[TrialRecord, ...] = ()
    tuning: dict[str, Any] = field(default_factory=dict)


def time_ordered_split(
    frame: pd.DataFrame, *, timestamp: str | None, holdout_fraction: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train, holdout) with the newest rows held out.

    Rows are ordered by `timestamp` when the spec has one (stable, so ties keep arrival order),
    otherwise by arrival order.
    """
    ordered = frame.sort_values(timestamp, kind="stable") if timestamp else frame
    cut = round(len(ordered) * (1 - holdout_fraction))
    return ordered.iloc[:cut], ordered.iloc[cut:]


def build_schema(frame: pd.DataFrame, spec: DatasetSpec) -> dict[str, Any]:
    """Describe the model's inputs: numeric columns, categories per column, label classes."""
    categorical = {
        col: sorted(frame[col].dropna().astype("string").unique().tolist())
        for col in spec.features.categorical
    }
    classes: list[Any] = []
    if spec.task is not Task.REGRESSION:
        classes = sorted(frame[spec.target].dropna().unique().tolist())
    return {
        "task": spec.task.value,
        "numeric": list(spec.features.numeric),
        "categorical": categorical,
        "classes": [_plain(c) for c in classes],
    }


def fit_model(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    params: TrainingParams,
    *,
    seen: pd.Series | None = None,
    weights: pd.Series | None = None,
) -> TrainingResult:
    """Train a challenger on labelled rows and score it on the time-ordered holdout.

    The holdout is the newest `holdout_fraction` of rows, less any row the champion was trained
    on, so the champion is never scored on its own training data. When `params` allow tuning and
    the training part has `tuning_min_rows` rows, hyperparameters are tuned on the early-stopping
    slice of the training part (never on the holdout) before the final fit.

    Args:
        frame: Labelled rows (feature columns and the target), oldest first.
        spec: The dataset spec (task, target, feature kinds, timestamp).
        params: Hyperparameters, split and tuning budget.
        seen: Boolean mask aligned with `frame`: rows the champion was trained on.
        weights: Sample weights aligned with `frame` (e.g. a time-decayed window).

    Returns:
        The fitted model, its schema and its holdout metrics.

    Raises:
        TrainingError: too few labelled rows, or a classification target with one class.
    """
    frame = frame.reset_index(drop=True)
    was_seen = pd.Series(False, index=frame.index) if seen is None else seen.reset_index(drop=True)
    labelled = frame.dropna(subset=[spec.target])
    train, holdout = time_ordered_split(
        labelled, timestamp=spec.timestamp, holdout_fraction=params.holdout_fraction
    )
    seen_in_holdout = was_seen.loc[holdout.index].to_numpy()
    if seen_in_holdout.any():
        holdout = holdout[~seen_in_holdout]
        train = labelled.drop(index=holdout.index)
    if len(train) < MIN_TRAIN_ROWS or holdout.empty:
        raise TrainingError(
            f"{len(train)} rows to train on and {len(holdout)} unseen rows to hold out: need at "
            f"least {MIN_TRAIN_ROWS} and 1"
        )
    schema = build_schema(train, spec)
    if spec.task is not Task.REGRESSION and len(schema["classes"]) < MIN_CLASSES:
        raise TrainingError(f"target {spec.target!r} has a single class {schema['classes']}")
    fit_part, stop_part = time_ordered_split(
        train, timestamp=spec.timestamp, holdout_fraction=EARLY_STOPPING_FRACTION
    )
    weight = None if weights is None else weights.reset_index(drop=True)
    booster, used, tuning = _train(fit_part, stop_part, spec, schema, weights=weight, params=params)
    best, validation = int(booster.best_iteration), float(booster.best_score)
    booster = booster[: best + 1]
    holdout_scores = predict_scores(booster, holdout, schema)
    metrics = compute_metrics(
        spec.task.value, holdout[spec.target], holdout_scores, schema["classes"]
    )
    calibration = None
    if spec.task is Task.BINARY:
        codes = encode_labels(holdout[spec.target], schema["classes"])
        calibration = fit_calibration(holdout_scores, codes)
    logger.info(
        "trained on %d rows (%d trees); holdout %s",
        len(train),
        best + 1,
        ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())),
    )
    gain = booster.get_score(importance_type="gain")
    return TrainingResult(
        booster=booster,
        schema=schema,
        params={**vars(params), **used, "best_iteration": best},
        metrics=metrics,
        holdout=holdout,
        train_rows=len(train),
        best_iteration=best,
        feature_importance={k: float(v) for k, v in gain.items() if isinstance(v, float | int)},
        calibration=calibration,
        trials=tuning.trials if tuning else (),
        tuning={**tuning.summary(), "validation": validation} if tuning else {},
    )


def _train(
    fit_part: pd.DataFrame,
    stop_part: pd.DataFrame,
    spec: DatasetSpec,
    schema: dict[str, Any],
    *,
    weights: pd.Series | None,
    params: TrainingParams,
) -> tuple[xgb.Booster, dict[str, Any], TuningResult | None]:
    """Fit on `fit_part`, early-stopped on `stop_part`, with tuned parameters when tuning runs."""
    fixed = _booster_params(spec.task, params, n_classes=len(schema["classes"]))

    def train(hyper: dict[str, Any], callbacks: list[xgb.callback.TrainingCallback]) -> xgb.Booster:
        return xgb.train(
            {**fixed, **hyper},
            _matrix(fit_part, spec, schema, weights),
            num_boost_round=params.n_estimators,
            evals=[(_matrix(stop_part, spec, schema, weights), EVALS_NAME)],
            early_stopping_rounds=params.early_stopping_rounds,
            callbacks=callbacks,
            verbose_eval=False,
        )

    used: dict[str, Any] = {"max_depth": params.max_depth, "learning_rate": params.learning_rate}
    rows, tuning = len(fit_part) + len(stop_part), None
    if should_tune(rows, trials=params.tuning_trials, min_rows=params.tuning_min_rows):
        tuning = tune_hyperparams(
            train,
            used,
            observe=f"{EVALS_NAME}-{fixed['eval_metric']}",
            trials=params.tuning_trials,
            timeout_seconds=params.tuning_timeout_seconds,
            jobs=params.tuning_jobs,
            cores=params.n_jobs,
            seed=params.seed,
        )
        used = dict(tuning.best_params)
    elif params.tuning_trials > 0:
        logger.info("not tuning: %d training rows < %d", rows, params.tuning_min_rows)
    return train(used, []), used, tuning


def _matrix(
    frame: pd.DataFrame, spec: DatasetSpec, schema: dict[str, Any], weights: pd.Series | None
) -> xgb.DMatrix:
    label = frame[spec.target]
    y = (
        label.to_numpy(dtype="float64")
        if spec.task is Task.REGRESSION
        else encode_labels(label, schema["classes"])
    )
    weight = None if weights is None else weights.loc[frame.index].to_numpy(dtype="float64")
    return xgb.DMatrix(
        prepare_features(frame, schema), label=y, weight=weight, enable_categorical=True
    )


def _booster_params(task: Task, params: TrainingParams, *, n_classes: int) -> dict[str, Any]:
    base: dict[str, Any] = {
        "tree_method": "hist",
        "seed": params.seed,
        **({"nthread": params.n_jobs} if params.n_jobs > 0 else {}),
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


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def save_model_files(result: TrainingResult, directory: Path) -> tuple[Path, Path]:
    """Write the booster (XGBoost's UBJSON format) and its schema; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    booster_path = directory / "model.ubj"
    schema_path = directory / "schema.json"
    result.booster.save_model(str(booster_path))
    schema_path.write_text(json.dumps(result.schema, indent=2), encoding="utf-8")
    return booster_path, schema_path


def model_code_path() -> Path:
    """The models-from-code file MLflow logs to serve the booster."""
    return Path(model_code.__file__)
