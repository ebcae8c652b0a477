from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from config.spec import DatasetSpec
from factories import make_frame, spec_for_frames
from registry import models, tracking
from registry.models import ModelFiles
from training.fit import TrainingParams, fit_model, model_code_path, save_model_files
from training.model_code import BOOSTER_ARTIFACT, SCHEMA_ARTIFACT, predict_scores


@pytest.fixture
def registered(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking.connect(uri)
    spec = DatasetSpec.model_validate(spec_for_frames("toy", "r.parquet", "in"))
    result = fit_model(make_frame(600, seed=3), spec, TrainingParams(n_estimators=30, n_jobs=1))
    booster, schema = save_model_files(result, tmp_path / "files")
    example = result.holdout[list(spec.model_columns)].head(5)
    version = models.log_model_version(
        tracking.ensure_experiment(client, "train", tmp_path / "artifacts"),
        name="toy",
        files=ModelFiles(booster=booster, schema=schema, code=model_code_path()),
        artifacts={"booster": BOOSTER_ARTIFACT, "schema": SCHEMA_ARTIFACT},
        params={},
        metrics=result.metrics,
        example=example,
        example_output=predict_scores(result.booster, example, result.schema),
        manifest=[],
        tags={},
    )
    yield client, version, result, tmp_path
    mlflow.set_tracking_uri(None)


def test_scoring_runs_no_code_from_the_registry(registered) -> None:
    _, version, result, tmp_path = registered
    marker = tmp_path / "registry-code-ran"
    [stored] = list((tmp_path / "artifacts").rglob("model_code.py"))
    # Someone with write access to the artifact store swaps the model's code.
    stored.write_text(f"open({str(marker)!r}, 'w').write('pwned')\nraise SystemExit(1)\n")
    scorer = models.load_scorer(version.uri)
    rows = make_frame(50, seed=9)
    assert np.allclose(scorer.predict(rows), predict_scores(result.booster, rows, result.schema))
    assert not marker.exists()


def test_the_scorer_reads_the_booster_and_schema_the_version_was_logged_with(registered) -> None:
    client, version, result, _ = registered
    scorer = models.load_scorer(f"models:/toy/{version.version}")
    assert scorer.schema == json.loads(json.dumps(result.schema))
    assert isinstance(client, MlflowClient)
