"""Predictions written next to the model version that made them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PREDICTION_COLUMN = "prediction"
LABEL_COLUMN = "predicted_label"
# What spreadsheets read as the start of a formula (OWASP's CSV injection list).
FORMULA_START = r"^[=+\-@\t\r]"


def prediction_frame(
    batch: pd.DataFrame,
    scores: Any,
    *,
    task: str,
    classes: list[Any],
    model_name: str,
    model_version: str,
    scored_at: str,
    level: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """The batch's rows with the model's output and the model version beside each row.

    Binary: `prediction` is P(positive class) and `predicted_label` the likelier class;
    multiclass: one `proba_<class>` column per class and `predicted_label`; regression:
    `prediction`. With `level` (the lag column and its source, for a model of a difference),
    `predicted_<source>` is the prediction as a level again: the difference plus the lag.
    """
    out = batch.reset_index(drop=True).copy()
    if task == "multiclass":
        proba = np.asarray(scores)
        for index, label in enumerate(classes):
            out[f"proba_{label}"] = proba[:, index]
        out[LABEL_COLUMN] = [classes[i] for i in proba.argmax(axis=1)]
    else:
        values = np.asarray(scores, dtype="float64")
        out[PREDICTION_COLUMN] = values
        if task == "binary":
            out[LABEL_COLUMN] = np.where(values >= 0.5, classes[1], classes[0])  # noqa: PLR2004
        if level is not None:
            lag, source = level
            out[f"predicted_{source}"] = values + pd.to_numeric(out[lag], errors="coerce")
    out["model_name"] = model_name
    out["model_version"] = model_version
    out["scored_at"] = scored_at
    return out


def write_predictions(frame: pd.DataFrame, path: Path) -> Path:
    """Write predictions as Parquet (`.parquet`) or CSV (anything else), atomically.

    In a CSV, a text cell a spreadsheet would run as a formula (`=HYPERLINK(...)`, `+`, `-`,
    `@`) is written with a leading `'`, so it opens as the text it is.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    if path.suffix == ".parquet":
        frame.to_parquet(partial, index=False)
    else:
        neutralized(frame).to_csv(partial, index=False)
    partial.replace(path)
    return path


def neutralized(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with text cells that start like a spreadsheet formula prefixed by `'`."""
    changed = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            continue
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            continue
        text = values.astype("string")
        risky = text.str.match(FORMULA_START).fillna(False).astype(bool)
        if risky.any():
            changed[column] = values.astype(object).where(~risky, "'" + text)
    return frame.assign(**changed) if changed else frame


def save_predictions(
    batch: pd.DataFrame,
    scores: Any,
    *,
    task: str,
    classes: list[Any],
    model_name: str,
    model_version: str,
    path: Path,
    level: tuple[str, str] | None = None,
) -> Path:
    """Write the batch's predictions with the model version and the time beside each row."""
    scored_at = datetime.now(UTC).isoformat(timespec="seconds")
    table = prediction_frame(
        batch,
        scores,
        task=task,
        classes=classes,
        model_name=model_name,
        model_version=model_version,
        scored_at=scored_at,
        level=level,
    )
    return write_predictions(table, path)
