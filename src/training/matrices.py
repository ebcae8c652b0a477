"""Build the XGBoost matrices a fit trains and early-stops on, once for every trial and the fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from config.spec import DatasetSpec, Task
from evaluation.metrics import encode_labels
from training.model_code import matrix_inputs

# A QuantileDMatrix is binned once, at this many bins; every booster trained on it must use the
# same value (XGBoost refuses a mismatch), so max_bin is fixed here and never tuned.
MAX_BIN = 256


@dataclass(frozen=True)
class TrainingMatrices:
    """The binned training part and the early-stopping slice, binned on the training part's cuts.

    Both are read-only once built, so tuning trials and the final fit share them (see
    `build_matrices` for why concurrent trials may).
    """

    fit: xgb.QuantileDMatrix
    stop: xgb.QuantileDMatrix


def build_matrices(
    fit_part: pd.DataFrame,
    stop_part: pd.DataFrame,
    spec: DatasetSpec,
    schema: dict[str, Any],
    *,
    weights: pd.Series | None,
    threads: int,
) -> TrainingMatrices:
    """Convert both parts once: features per the schema, encoded labels, and sample weights.

    A QuantileDMatrix computes its quantile cuts and gradient index when it is built, and
    training on the CPU only reads them afterwards, so trials in several threads can share it.
    A plain DMatrix builds that index lazily on first use, which is not safe to race on.

    Args:
        fit_part: Rows the boosters are trained on.
        stop_part: Rows early stopping (and tuning) is judged on.
        spec: The dataset spec (task, target).
        schema: The model's input schema (see `fit.build_schema`).
        weights: Sample weights indexed like the parts' rows, or None.
        threads: Threads XGBoost may use to build the matrices.

    Returns:
        The two matrices.
    """
    fit = _quantile_matrix(fit_part, spec, schema, weights, threads=threads, ref=None)
    stop = _quantile_matrix(stop_part, spec, schema, weights, threads=threads, ref=fit)
    return TrainingMatrices(fit=fit, stop=stop)


def _quantile_matrix(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    schema: dict[str, Any],
    weights: pd.Series | None,
    *,
    threads: int,
    ref: xgb.QuantileDMatrix | None,
) -> xgb.QuantileDMatrix:
    weight = None if weights is None else weights.loc[frame.index].to_numpy(dtype="float64")
    return xgb.QuantileDMatrix(
        **matrix_inputs(frame, schema),
        label=encoded_labels(frame[spec.target], spec.task, schema["classes"]),
        weight=weight,
        enable_categorical=True,
        max_bin=MAX_BIN,
        nthread=threads,
        ref=ref,
    )


def encoded_labels(label: pd.Series, task: Task, classes: list[Any]) -> np.ndarray[Any, Any]:
    """Labels as XGBoost trains on them: values for regression, class positions otherwise."""
    if task is Task.REGRESSION:
        return label.to_numpy(dtype="float64")
    return np.asarray(encode_labels(label, classes))


def feature_meta(schema: dict[str, Any], *, numeric: str = "float64") -> pd.DataFrame:
    """An empty frame with the columns and dtypes `prepare_features` gives for `schema`.

    What a lazy collection of prepared partitions is declared to hold (schemas without text);
    `numeric` is the dtype of its numeric columns.
    """
    columns: dict[str, pd.Series] = {
        column: pd.Series(dtype=numeric) for column in schema["numeric"]
    }
    for column, categories in schema["categorical"].items():
        columns[column] = pd.Series(pd.Categorical([], categories=categories))
    return pd.DataFrame(columns)
