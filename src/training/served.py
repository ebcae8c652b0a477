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
from training import model_code, row_features
from training.fit import TrainingResult
from training.model_code import (
    BOOSTER_ARTIFACT,
    SCHEMA_ARTIFACT,
    predict_scores,
    served_output,
)


def save_model_files(result: TrainingResult, directory: Path) -> tuple[Path, Path]:
    """Write the booster (XGBoost's UBJSON format) and its schema; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    booster_path = directory / "model.ubj"
    schema_path = directory / "schema.json"
    result.booster.save_model(str(booster_path))
    schema_path.write_text(json.dumps(result.schema, indent=2), encoding="utf-8")
    return booster_path, schema_path


def model_artifacts(result: TrainingResult, directory: Path) -> dict[str, Path]:
    """The model's data files by the artifact key the serving code reads them under."""
    booster, schema = save_model_files(result, directory)
    return {BOOSTER_ARTIFACT: booster, SCHEMA_ARTIFACT: schema}


def model_code_path() -> Path:
    """The models-from-code file MLflow logs to serve the booster."""
    return Path(model_code.__file__)


def model_code_paths() -> list[Path]:
    """Modules the serving code imports, logged beside it (numpy and pandas only)."""
    return [Path(row_features.__file__)]


@dataclass(frozen=True)
class BoosterScorer:
    """A registered model as driftloop scores with it: the booster and its feature schema."""

    booster: xgb.Booster
    schema: dict[str, Any]

    @classmethod
    def from_artifacts(cls, files: Mapping[str, bytes]) -> BoosterScorer:
        """Build the scorer from the model's data files (booster and schema), read as data."""
        booster = xgb.Booster()
        booster.load_model(bytearray(files[BOOSTER_ARTIFACT]))
        return cls(booster, json.loads(files[SCHEMA_ARTIFACT].decode("utf-8")))

    def predict(self, frame: pd.DataFrame) -> Any:
        """Score raw rows exactly as the served model does."""
        return predict_scores(self.booster, frame, self.schema)


def input_example(result: TrainingResult, spec: DatasetSpec, rows: int = 5) -> tuple[Any, Any]:
    """A few raw holdout rows the served model takes, and what it answers (signature, example)."""
    example = result.holdout[list(spec.served_columns)].head(rows)
    scores = predict_scores(result.booster, example, result.schema)
    return example, served_output(scores, example, result.schema)
