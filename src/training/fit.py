"""Fit an XGBoost model on a time-ordered split and score it on the holdout."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from config.spec import DatasetSpec, Task, level_lag
from evaluation.metrics import compute_metrics, encode_labels
from training.boosting import train_booster
from training.calibration import (
    fit_calibration,
    fit_confidence_calibration,
    fit_error_model,
)
from training.device import resolve_device
from training.errors import TrainingError
from training.featurizer import fit_text_features
from training.model_code import predict_scores
from training.params import TrainingParams
from training.row_features import whole_numbers
from training.tuning import TrialRecord

logger = logging.getLogger(__name__)

MIN_TRAIN_ROWS = 50
MIN_CLASSES = 2
# Early stopping watches the newest slice of the training part, never the holdout, so the holdout
# stays an unbiased referee between challenger and champion.
EARLY_STOPPING_FRACTION = 0.1


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
    # A stable sort of rows already in time order changes nothing; skipping it saves a copy.
    in_order = not timestamp or frame[timestamp].is_monotonic_increasing
    ordered = frame if in_order else frame.sort_values(timestamp, kind="stable")
    cut = round(len(ordered) * (1 - holdout_fraction))
    return ordered.iloc[:cut], ordered.iloc[cut:]


def build_schema(
    frame: pd.DataFrame, spec: DatasetSpec, *, labels: pd.Series | None = None
) -> dict[str, Any]:
    """Describe the model's inputs: numeric columns, categories per column, label classes.

    Classes are those of `labels` when given (every labelled row, holdout included: a class
    only the holdout has is one the model is scored on and gives a low probability), else of
    `frame`'s target. Text columns get a featurizer fitted on `frame`'s rows, under "text".
    """
    categorical = {col: _category_labels(frame[col]) for col in spec.features.categorical}
    classes: list[Any] = []
    if spec.task is not Task.REGRESSION:
        known = frame[spec.target] if labels is None else labels
        classes = sorted(known.dropna().unique().tolist())
    schema: dict[str, Any] = {
        "task": spec.task.value,
        "numeric": list(spec.features.numeric),
        "categorical": categorical,
        "classes": [_plain(c) for c in classes],
    }
    row_local = [
        f.as_schema(name)
        for name, f in spec.derived.items()
        if not f.uses_history and name != spec.target
    ]
    if row_local:
        schema |= {"derived": row_local, "time_format": spec.timestamp_format}
        schema["timezone"] = spec.timezone
    lag = level_lag(spec)
    if lag is not None:
        schema["level"] = {"lag": lag, "of": spec.derived[spec.target].sources[0]}
    if spec.features.text:
        schema["text"] = fit_text_features(frame, spec.features.text, spec.text_features)
    return schema


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
    train, holdout = time_ordered_split(
        labelled, timestamp=spec.timestamp, holdout_fraction=params.holdout_fraction
    )
    # Rows sent again (in another file, under new ids) are training rows, never holdout rows.
    seen_in_holdout = was_seen.loc[holdout.index].to_numpy() | repeated_rows(
        labelled, holdout, spec
    )
    if seen_in_holdout.any():
        holdout = holdout[~seen_in_holdout]
        train = labelled.drop(index=holdout.index)
    if len(train) < MIN_TRAIN_ROWS or holdout.empty:
        raise TrainingError(
            f"{len(train)} rows to train on and {len(holdout)} unseen rows to hold out: need at "
            f"least {MIN_TRAIN_ROWS} and 1"
        )
    schema = build_schema(train, spec, labels=labelled[spec.target])
    _check_inputs(schema, spec)
    trained_classes = train[spec.target].dropna().unique().tolist()
    if spec.task is not Task.REGRESSION and len(trained_classes) < MIN_CLASSES:
        raise TrainingError(f"target {spec.target!r} has a single class {trained_classes}")
    fit_part, stop_part = time_ordered_split(
        train, timestamp=spec.timestamp, holdout_fraction=EARLY_STOPPING_FRACTION
    )
    weight = None if weights is None else weights.reset_index(drop=True)
    device = resolve_device(params.device)
    booster, used, tuning = train_booster(
        fit_part, stop_part, spec, schema, weights=weight, params=params, device=device
    )
    best, validation = int(booster.best_iteration), float(booster.best_score)
    booster = booster[: best + 1]
    holdout_scores = predict_scores(booster, holdout, schema)
    metrics = compute_metrics(
        spec.task.value, holdout[spec.target], holdout_scores, schema["classes"]
    )
    calibration = _error_profile(spec, holdout, holdout_scores, schema["classes"])
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
        params={**vars(params), **used, "device": device, "best_iteration": best},
        metrics=metrics,
        holdout=holdout.copy(),  # its own rows: the split may be a view of the caller's frame
        train_rows=len(train),
        best_iteration=best,
        feature_importance={k: float(v) for k, v in gain.items() if isinstance(v, float | int)},
        calibration=calibration,
        trials=tuning.trials if tuning else (),
        tuning={**tuning.summary(), "validation": validation} if tuning else {},
    )


def repeated_rows(labelled: pd.DataFrame, holdout: pd.DataFrame, spec: DatasetSpec) -> Any:
    """Which holdout rows repeat a row outside the holdout: the same id, or the same values.

    A row scored on the holdout that the model also trained on makes a challenger look better
    than it is (ROC AUC 1.0 on resent rows). Values are the columns as they arrived (the raw
    inputs and labels; derived ones such as a lag differ between a row and its resend), not
    the id or the time, which a resend may renumber. Unless two of them are continuous numbers
    (where an exact repeat of both happens by chance only), the time is part of the values.
    """
    rest = labelled.drop(index=holdout.index)
    arrived = (*spec.required_columns, *spec.label_columns)
    skipped = {spec.id, spec.timestamp, *spec.derived}
    columns = list(dict.fromkeys(c for c in arrived if c not in skipped and c in labelled))
    timestamp = spec.timestamp
    continuous = sum(_continuous(labelled[c]) for c in columns)
    if timestamp is not None and timestamp in labelled.columns and continuous < 2:  # noqa: PLR2004
        columns.append(timestamp)
    if not columns:
        return np.zeros(len(holdout), dtype=bool)
    keys = pd.util.hash_pandas_object(labelled[columns], index=False)
    repeated = keys.loc[holdout.index].isin(set(keys.loc[rest.index]))
    if spec.id is not None and spec.id in labelled.columns:
        repeated |= holdout[spec.id].isin(set(rest[spec.id].dropna()))
    return repeated.to_numpy()


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
    if spec.task is Task.REGRESSION:
        return fit_error_model(np.asarray(scores), truth.to_numpy())
    codes = encode_labels(truth, classes)
    if spec.task is Task.MULTICLASS:
        return fit_confidence_calibration(np.asarray(scores), codes)
    return fit_calibration(scores, codes)


def _check_inputs(schema: dict[str, Any], spec: DatasetSpec) -> None:
    text = schema.get("text") or {}
    if spec.model_columns or any(state["blocks"] for state in text.values()):
        return
    raise TrainingError(
        f"text column(s) {', '.join(text)} hold no term found in {spec.text_features.min_df} "
        "training rows or more, and the spec lists no other feature: nothing to train on"
    )


def _continuous(values: pd.Series) -> bool:
    if not pd.api.types.is_float_dtype(values.dtype):
        return False
    known = values.dropna().to_numpy()
    return bool(len(known) and (known % 1 != 0).mean() > 0.5)  # noqa: PLR2004 - most rows


def _category_labels(values: pd.Series) -> list[str]:
    # The text of each distinct value, not of each row: the same sorted set, far fewer strings.
    # Whole numbers stored as floats are their integer text, as `as_categories` reads them.
    if pd.api.types.is_float_dtype(values.dtype) and whole_numbers(values):
        values = values.astype("Int64")
    distinct = pd.Series(values.unique()).dropna()
    return sorted(distinct.astype("string").unique().tolist())


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
