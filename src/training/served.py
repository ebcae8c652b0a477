"""The served model as files (booster, schema, serving code) and a scorer read back from them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import xgboost as xgb

from config.spec import DatasetSpec
from training import model_code, row_features, text_features
from training.fit import TrainingResult
from training.model_code import (
    BOOSTER_ARTIFACT,
    SCHEMA_ARTIFACT,
    TEXT_ARTIFACT,
    predict_scores,
    read_schema,
    served_output,
)


def save_model_files(result: TrainingResult, directory: Path) -> tuple[Path, Path]:
    """Write the booster (XGBoost's UBJSON format) and its schema; return both paths.

    A model of text columns also needs its featurizer's file (see `model_artifacts`).
    """
    files = model_artifacts(result, directory)
    return files[BOOSTER_ARTIFACT], files[SCHEMA_ARTIFACT]


def model_artifacts(result: TrainingResult, directory: Path) -> dict[str, Path]:
    """Write the model's data files; return them by the artifact key serving reads them under.

    The booster is in XGBoost's UBJSON format and the schema in JSON; with text columns, the
    featurizer's vocabulary and idf weights go to a JSON file of their own beside them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths = {BOOSTER_ARTIFACT: directory / "model.ubj", SCHEMA_ARTIFACT: directory / "schema.json"}
    result.booster.save_model(str(paths[BOOSTER_ARTIFACT]))
    schema = dict(result.schema)
    text = schema.pop("text", None)
    paths[SCHEMA_ARTIFACT].write_text(json.dumps(schema, indent=2), encoding="utf-8")
    if text:
        paths[TEXT_ARTIFACT] = directory / "text_features.json"
        paths[TEXT_ARTIFACT].write_text(json.dumps(text), encoding="utf-8")
    return paths


def model_code_path() -> Path:
    """The models-from-code file MLflow logs to serve the booster."""
    return Path(model_code.__file__)


def model_code_paths() -> list[Path]:
    """Modules the serving code imports, logged beside it (numpy, scipy and pandas only)."""
    return [Path(row_features.__file__), Path(text_features.__file__)]


@dataclass(frozen=True)
class BoosterScorer:
    """A registered model as driftloop scores with it: the booster and its feature schema."""

    booster: xgb.Booster
    schema: dict[str, Any]

    @classmethod
    def from_artifacts(cls, files: Mapping[str, bytes]) -> BoosterScorer:
        """Build the scorer from the model's data files (booster, schema, text), read as data."""
        booster = xgb.Booster()
        booster.load_model(bytearray(files[BOOSTER_ARTIFACT]))
        return cls(booster, read_schema(dict(files)))

    def predict(self, frame: pd.DataFrame) -> Any:
        """Score raw rows exactly as the served model does."""
        return predict_scores(self.booster, frame, self.schema)


def input_example(result: TrainingResult, spec: DatasetSpec, rows: int = 5) -> tuple[Any, Any]:
    """A few raw holdout rows the served model takes, and what it answers (signature, example)."""
    example = result.holdout[list(spec.served_columns)].head(rows)
    scores = predict_scores(result.booster, example, result.schema)
    return example, served_output(scores, example, result.schema)


def score_partition(
    frame: pd.DataFrame, index: int, scorer: BoosterScorer, columns: list[str], target: str
) -> tuple[pd.Series | None, Any]:
    """A partition's labels (None when it has no target column) and the scorer's outputs.

    Runs on a worker: `index` (the partition's position) is not needed to score it.
    """
    del index
    labels = frame[target].reset_index(drop=True) if target in frame.columns else None
    return labels, scorer.predict(frame[columns])
