"""The served model: an XGBoost booster in its own format plus a JSON feature schema.

MLflow logs this file as a "model from code", so loading a registered model unpickles nothing:
it reads `model.ubj`, `schema.json` and, for a model of text columns, the featurizer's vocabulary
and idf weights (`text_features.json`), and runs this reviewed file. The file is self-contained
(numpy, scipy, pandas, xgboost only) because it also runs where driftloop is not installed, e.g.
in `mlflow models serve`. Training imports the same helpers, so the model sees identical inputs
in training, evaluation and serving.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xgboost as xgb
from mlflow.models import set_model
from mlflow.pyfunc import PythonModel, PythonModelContext

try:
    from training.row_features import add_row_features, whole_numbers
    from training.text_features import feature_names, text_matrix
except ImportError:  # served by MLflow, which puts the logged modules on sys.path
    from row_features import add_row_features, whole_numbers  # type: ignore[no-redef]
    from text_features import feature_names, text_matrix  # type: ignore[no-redef]

BOOSTER_ARTIFACT = "booster"
SCHEMA_ARTIFACT = "schema"
TEXT_ARTIFACT = "text_features"


def prepare_features(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """Return the model's input columns with the dtypes it was trained on.

    Numeric columns become float64 (unparseable values become NaN, which XGBoost treats as
    missing); categorical columns become a pandas Categorical over the training categories, so
    an unseen category is missing rather than a silently different code. Row-local derived
    features (date parts, durations, ratios) are computed from their raw columns first.
    """
    derived = schema.get("derived") or ()
    if derived:
        frame = add_row_features(
            frame, derived, time_format=schema.get("time_format"), timezone=schema.get("timezone")
        )
    out = pd.DataFrame(index=frame.index)
    for column in schema["numeric"]:
        out[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column, categories in schema["categorical"].items():
        out[column] = as_categories(frame[column], categories)
    return out


def as_categories(values: pd.Series, categories: list[str]) -> pd.Categorical:
    """`values` as a Categorical over `categories`, matched by their text; others are missing.

    A value matches the category equal to `str(value)` as pandas writes it (`astype("string")`).
    Categorical and object columns are converted per distinct value rather than per row, which
    is what makes a million-row frame cheap; other dtypes take the plain per-row path.
    """
    if pd.api.types.is_float_dtype(values.dtype) and whole_numbers(values):
        values = values.astype("Int64")  # 2.0 (a month computed again) is category "2"
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, distinct = values.cat.codes.to_numpy(), pd.Index(values.cat.categories)
    elif values.dtype == object:
        codes, distinct = pd.factorize(values)
    else:
        return pd.Categorical(values.astype("string"), categories=categories)
    # Each distinct value's position among the training categories (-1: unseen); the extra -1
    # at the end is where a missing row's code (-1) points, so it stays missing.
    positions = pd.Index(categories).get_indexer(distinct.astype("string"))
    return pd.Categorical.from_codes(
        np.append(positions, -1)[codes], dtype=pd.CategoricalDtype(categories)
    )


def matrix_inputs(frame: pd.DataFrame, schema: dict[str, Any]) -> dict[str, Any]:
    """The model's inputs as XGBoost matrix arguments: `data`, and names and types with text.

    Without text columns the data is `prepare_features`'s frame. With them it is one CSR matrix:
    the numeric and categorical columns (each value stored, zeros included, categories as their
    codes, missing values as NaN), then each text column's TF-IDF features, where a term a row
    lacks is an absent entry, which XGBoost reads as missing.
    """
    dense = prepare_features(frame, schema)
    text = schema.get("text") or {}
    if not text:
        return {"data": dense}
    blocks = [_stored(dense)] + [text_matrix(frame[c], state) for c, state in text.items()]
    names = list(dense.columns) + [n for c, state in text.items() for n in feature_names(c, state)]
    kinds = ["c" if isinstance(t, pd.CategoricalDtype) else "float" for t in dense.dtypes]
    return {
        "data": sp.hstack(blocks, format="csr", dtype="float64"),
        "feature_names": names,
        "feature_types": kinds + ["float"] * (len(names) - len(kinds)),
    }


def _stored(dense: pd.DataFrame) -> sp.csr_matrix:
    """The dense columns as CSR with every value stored (scipy's own conversion drops zeros)."""
    rows, width = dense.shape
    if width == 0:
        return sp.csr_matrix((rows, 0), dtype="float64")
    values = np.column_stack([_as_numbers(dense[column]) for column in dense])
    return sp.csr_matrix(
        (
            values.ravel(),
            np.tile(np.arange(width, dtype="int32"), rows),
            np.arange(0, rows * width + 1, width),
        ),
        shape=(rows, width),
    )


def _as_numbers(values: pd.Series) -> np.ndarray[Any, Any]:
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.to_numpy(dtype="float64")
    codes = values.cat.codes.to_numpy().astype("float64")
    codes[codes < 0] = np.nan  # pandas' code for a missing category
    return codes


def predict_scores(booster: xgb.Booster, frame: pd.DataFrame, schema: dict[str, Any]) -> Any:
    """Score a raw frame: P(positive) for binary, class probabilities (n x k), or values."""
    matrix = xgb.DMatrix(**matrix_inputs(frame, schema), enable_categorical=True)
    scores = booster.predict(matrix)
    if schema["task"] == "multiclass":
        return pd.DataFrame(scores, columns=[str(c) for c in schema["classes"]], index=frame.index)
    return np.asarray(scores, dtype="float64")


def read_schema(files: dict[str, bytes]) -> dict[str, Any]:
    """The model's schema from its data files, with the text featurizer's state when it has one."""
    schema: dict[str, Any] = json.loads(files[SCHEMA_ARTIFACT].decode("utf-8"))
    if TEXT_ARTIFACT in files:
        schema["text"] = json.loads(files[TEXT_ARTIFACT].decode("utf-8"))
    return schema


def served_output(scores: Any, frame: pd.DataFrame, schema: dict[str, Any]) -> Any:
    """What the served model answers: the scores, or the level for a model of a difference.

    A model of `co2 - co2_lag_1` answers the predicted difference plus the frame's lag column.
    """
    level = schema.get("level")
    if not level:
        return scores
    lag = pd.to_numeric(frame[level["lag"]], errors="coerce").to_numpy(dtype="float64")
    return np.asarray(scores, dtype="float64") + lag


class BoosterModel(PythonModel):
    """pyfunc wrapper: `predict(frame)` scores raw rows with the logged booster."""

    def load_context(self, context: PythonModelContext) -> None:
        """Read the booster, the schema and any text featurizer from the model's artifacts."""
        self.booster = xgb.Booster()
        self.booster.load_model(context.artifacts[BOOSTER_ARTIFACT])
        data = {k: p for k, p in context.artifacts.items() if k != BOOSTER_ARTIFACT}
        self.schema = read_schema({key: Path(path).read_bytes() for key, path in data.items()})

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Score `model_input` (a DataFrame with the columns of the model's signature)."""
        scores = predict_scores(self.booster, model_input, self.schema)
        return served_output(scores, model_input, self.schema)


# MLflow's models-from-code loader reads the model this call registers; it only sets a global.
set_model(BoosterModel())
