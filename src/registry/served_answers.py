"""What a served model's answers and failures mean: compared with the pipeline's, in one line."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

_MESSAGE_CHARS = 300
# Likely causes, by a phrase of the error's message first, then by its type.
_HINTS = (
    ("No such file or directory", " (missing artifact?)"),
    ("No module named", " (code the model was not logged with?)"),
    ("XGBoostError", " (corrupt booster?)"),
    ("DecodeError", " (corrupt artifact?)"),
)
# XGBoost prefixes its messages with a time and a source file ("[20:19:16] .../c_api.cc:1532: ").
_XGBOOST_PREFIX = re.compile(r"^\[[\d:]+\] \S+: ")
_STAGES = {
    "load": "does not load through MLflow",
    "sample": "fails to score the sample through MLflow",
    "example": "fails to score its input example through MLflow",
}


def compare_answers(
    served: pd.DataFrame, expected: pd.DataFrame, *, tolerance: float
) -> tuple[str | None, float | None]:
    """What is wrong with the served answer (None: nothing) and its largest score difference.

    Numbers must agree within `tolerance`, a NaN only where one is expected; other columns
    (labels) must be equal.
    """
    if served.shape != expected.shape or list(served.columns) != list(expected.columns):
        return (
            f"answers {served.shape[0]}x{served.shape[1]} {list(served.columns)}, expected "
            f"{expected.shape[0]}x{expected.shape[1]} {list(expected.columns)}",
            None,
        )
    largest = 0.0
    for column in expected.columns:
        mine, theirs = served[column], expected[column]
        if not pd.api.types.is_numeric_dtype(theirs):
            if mine.astype(str).tolist() != theirs.astype(str).tolist():
                return f"answers other labels than expected in column {column!r}", None
            continue
        if not pd.api.types.is_numeric_dtype(mine):
            return f"answers non-numbers in column {column!r}", None
        nan = mine.isna().to_numpy() != theirs.isna().to_numpy()
        if nan.any():
            return f"answers NaN where a number is expected (or back) in {nan.sum()} rows", None
        gap = (mine.astype("float64") - theirs.astype("float64")).abs().max()
        largest = max(largest, 0.0 if math.isnan(gap) else float(gap))
    if largest > tolerance:
        return f"answers differ from in-process scores by {largest:.3g} > {tolerance:g}", largest
    return None, largest


def example_problem(example: pd.DataFrame, rows: int, served: pd.DataFrame) -> str | None:
    """What is wrong with the answer to the input example of `rows` rows (None: nothing).

    Nothing is expected of its values beyond being numbers, one row per row, in the columns the
    sample's answer has.
    """
    if len(example) != rows or list(example.columns) != list(served.columns):
        return f"answers its {rows}-row input example with a {example.shape} frame"
    numeric = example.select_dtypes("number")
    if numeric.isna().to_numpy().any():
        return "answers NaN for its input example"
    return None


def failure_reason(label: str, outcome: dict[str, Any]) -> str:
    """One line saying how the process failed, from its outcome, with the likely cause.

    E.g. "toy v3 does not load through MLflow: XGBoostError: ... (corrupt booster?)".
    """
    error = str(outcome["error"])
    message = str(outcome["message"]).split("Stack trace:")[0]
    message = _XGBOOST_PREFIX.sub("", " ".join(message.split()))
    if len(message) > _MESSAGE_CHARS:
        message = f"{message[:100]} ... {message[-(_MESSAGE_CHARS - 105) :]}"
    stage = _STAGES.get(outcome["stage"], "fails through MLflow")
    hint = next((h for phrase, h in _HINTS if phrase in message or phrase in error), "")
    return f"{label} {stage}: {error}: {message}{hint}"
