"""Describe a model's inputs: numeric columns, categories per column, classes, derived, text."""

from __future__ import annotations

from typing import Any

import pandas as pd

from config.spec import DatasetSpec, Task, level_lag
from training.errors import TrainingError
from training.featurizer import fit_text_features
from training.row_features import whole_numbers


def build_schema(
    frame: pd.DataFrame, spec: DatasetSpec, *, labels: pd.Series | None = None
) -> dict[str, Any]:
    """Describe the model's inputs: numeric columns, categories per column, label classes.

    Classes are those of `labels` when given (every labelled row, holdout included: a class
    only the holdout has is one the model is scored on and gives a low probability), else of
    `frame`'s target. Text columns get a featurizer fitted on `frame`'s rows, under "text".
    """
    categorical = {col: category_labels(frame[col]) for col in spec.features.categorical}
    classes: list[Any] = []
    if spec.task is not Task.REGRESSION:
        classes = label_classes(frame[spec.target] if labels is None else labels)
    schema = describe_inputs(spec, categorical, classes)
    if spec.features.text:
        schema["text"] = fit_text_features(frame, spec.features.text, spec.text_features)
    return schema


def describe_inputs(
    spec: DatasetSpec, categorical: dict[str, list[str]], classes: list[Any]
) -> dict[str, Any]:
    """The schema `build_schema` writes, but for text, from categories and classes found.

    A cluster finds them partition by partition (see `category_labels` and `label_classes`).
    """
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
    return schema


def check_inputs(schema: dict[str, Any], spec: DatasetSpec) -> None:
    """Refuse a schema with nothing to train on (text columns without a kept term, alone).

    Raises:
        TrainingError: no numeric or categorical feature, and no text term.
    """
    text = schema.get("text") or {}
    if spec.model_columns or any(state["blocks"] for state in text.values()):
        return
    raise TrainingError(
        f"text column(s) {', '.join(text)} hold no term found in {spec.text_features.min_df} "
        "training rows or more, and the spec lists no other feature: nothing to train on"
    )


def label_classes(labels: pd.Series) -> list[Any]:
    """The classes of a classifier: the distinct present labels, sorted."""
    return sorted(labels.dropna().unique().tolist())


def category_labels(values: pd.Series) -> list[str]:
    """A categorical column's categories: the sorted text of its distinct present values.

    Whole numbers stored as floats are their integer text, as `as_categories` reads them. The
    result depends only on which values occur, so the distinct values of each partition,
    concatenated, give the categories of the whole column.
    """
    # The text of each distinct value, not of each row: the same sorted set, far fewer strings.
    if pd.api.types.is_float_dtype(values.dtype) and whole_numbers(values):
        values = values.astype("Int64")
    distinct = pd.Series(values.unique()).dropna()
    return sorted(distinct.astype("string").unique().tolist())


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
