"""Fit an XGBoost model on a time-ordered split and score it on the holdout."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from config.spec import DatasetSpec, Task
from evaluation.metrics import compute_metrics, encode_labels
from model_monitoring.estimate import shift_errors
from training.boosting import train_booster
from training.calibration import (
    fit_calibration,
    fit_confidence_calibration,
    fit_error_model,
)
from training.device import resolve_device
from training.errors import TrainingError
from training.model_code import predict_scores
from training.params import TrainingParams
from training.schema import build_schema, check_inputs
from training.schema import category_labels as _category_labels  # noqa: F401 - tests import it
from training.split import (
    EARLY_STOPPING_FRACTION,
    check_split,
    repeated_rows,
    time_ordered_split,
    unseen_split,
)
from training.trials import TrialRecord, TuningResult

logger = logging.getLogger(__name__)

MIN_CLASSES = 2


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
    # Rows are numbered 0..n-1 so `seen` and `weights` align; copy the frame only to get there.
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        frame = frame.reset_index(drop=True)
    was_seen = pd.Series(False, index=frame.index) if seen is None else seen.reset_index(drop=True)
    unlabelled = frame[spec.target].isna()
    labelled = frame[~unlabelled] if unlabelled.any() else frame

    def held_back(holdout: pd.DataFrame) -> Any:
        # Rows sent again (in another file, under new ids) are training rows, never holdout rows.
        return was_seen.loc[holdout.index].to_numpy() | repeated_rows(labelled, holdout, spec)

    train, holdout = unseen_split(
        labelled,
        timestamp=spec.timestamp,
        holdout_fraction=params.holdout_fraction,
        held_back=held_back,
    )
    check_split(len(train), len(holdout))
    schema = build_schema(train, spec, labels=labelled[spec.target])
    check_inputs(schema, spec)
    check_classes(spec, train[spec.target].dropna().unique().tolist())
    fit_part, stop_part = time_ordered_split(
        train, timestamp=spec.timestamp, holdout_fraction=EARLY_STOPPING_FRACTION
    )
    weight = None if weights is None else weights.reset_index(drop=True)
    device = resolve_device(params.device)
    booster, used, tuning = train_booster(
        fit_part, stop_part, spec, schema, weights=weight, params=params, device=device
    )
    return finish_fit(
        booster,
        spec,
        params,
        schema=schema,
        holdout=holdout.copy(),  # its own rows: the split may be a view of the caller's frame
        train_rows=len(train),
        fitted=FitRecord(used=used, device=device, tuning=tuning),
    )


def check_classes(spec: DatasetSpec, trained_classes: list[Any]) -> None:
    """Refuse to train a classifier on rows of a single class.

    Raises:
        TrainingError: the training rows of a classification task hold fewer than two classes.
    """
    if spec.task is not Task.REGRESSION and len(trained_classes) < MIN_CLASSES:
        raise TrainingError(f"target {spec.target!r} has a single class {trained_classes}")


@dataclass(frozen=True)
class FitRecord:
    """How a booster was fit: the searched parameters it used, the device, the tuning study."""

    used: dict[str, Any]
    device: str
    tuning: TuningResult | None


def finish_fit(
    booster: xgb.Booster,
    spec: DatasetSpec,
    params: TrainingParams,
    *,
    schema: dict[str, Any],
    holdout: pd.DataFrame,
    train_rows: int,
    fitted: FitRecord,
) -> TrainingResult:
    """Cut the booster at its best round, score it on the holdout and describe the result.

    Args:
        booster: The early-stopped booster, every round it ran.
        spec: The dataset spec (task, target).
        params: The training request.
        schema: The model's input schema.
        holdout: The holdout rows, the result's own.
        train_rows: How many rows the booster was trained on.
        fitted: What the fit used.

    Returns:
        The training result: metrics and error profile on the holdout, importance, tuning.
    """
    best, validation = int(booster.best_iteration), float(booster.best_score)
    booster = booster[: best + 1]
    holdout_scores = predict_scores(booster, holdout, schema)
    metrics = compute_metrics(
        spec.task.value, holdout[spec.target], holdout_scores, schema["classes"]
    )
    calibration = _error_profile(spec, holdout, holdout_scores, schema["classes"])
    logger.info(
        "trained on %d rows (%d trees); holdout %s",
        train_rows,
        best + 1,
        ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items())),
    )
    gain = booster.get_score(importance_type="gain")
    tuning = fitted.tuning
    return TrainingResult(
        booster=booster,
        schema=schema,
        params={**vars(params), **fitted.used, "device": fitted.device, "best_iteration": best},
        metrics=metrics,
        holdout=holdout,
        train_rows=train_rows,
        best_iteration=best,
        feature_importance={k: float(v) for k, v in gain.items() if isinstance(v, float | int)},
        calibration=calibration,
        trials=tuning.trials if tuning else (),
        tuning={**tuning.summary(), "validation": validation} if tuning else {},
    )


def fit_on_files(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    params: TrainingParams,
    *,
    source_column: str,
    seen_files: set[str],
    file_weights: dict[str, float],
) -> TrainingResult:
    """Fit on rows that name their file in `source_column` (see `fit_model`).

    Rows of files the champion was trained on (`seen_files`) never enter the holdout, and each
    row weighs what its file weighs in `file_weights`.
    """
    source = frame[source_column]
    return fit_model(
        frame.drop(columns=source_column),
        spec,
        params,
        seen=source.isin(seen_files),
        weights=source.map(file_weights),
    )


def _error_profile(
    spec: DatasetSpec, holdout: pd.DataFrame, scores: Any, classes: list[Any]
) -> dict[str, list[float]] | None:
    """What the holdout says about the model's errors, for label-free estimates."""
    truth = holdout[spec.target]
    values = scores.to_numpy() if isinstance(scores, pd.DataFrame) else np.asarray(scores)
    labels = truth.to_numpy() if spec.task is Task.REGRESSION else encode_labels(truth, classes)

    def fit(rows: np.ndarray) -> dict[str, list[float]] | None:
        if spec.task is Task.REGRESSION:
            return fit_error_model(values[rows], labels[rows])
        if spec.task is Task.MULTICLASS:
            return fit_confidence_calibration(values[rows], labels[rows])
        return fit_calibration(values[rows], labels[rows])

    everything = fit(np.arange(len(holdout)))
    if everything is None:
        return None
    task = spec.task.value

    def realized(rows: np.ndarray) -> dict[str, float]:
        picked = scores.iloc[rows] if isinstance(scores, pd.DataFrame) else values[rows]
        return compute_metrics(task, truth.iloc[rows], picked, classes)

    numeric = holdout[[c for c in spec.features.numeric if c in holdout.columns]]
    numeric = numeric.apply(pd.to_numeric, errors="coerce")
    return everything | shift_errors(numeric, scores, realized, task=task, fit=fit)
