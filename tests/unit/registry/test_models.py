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
from registry.errors import RegistryError
from registry.models import ModelFiles
from training.fit import fit_model
from training.model_code import predict_scores
from training.params import TrainingParams
from training.served import BoosterScorer, model_artifacts, model_code_path


@pytest.fixture
def registered(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking.connect(uri)
    spec = DatasetSpec.model_validate(spec_for_frames("toy", "r.parquet", "in"))
    result = fit_model(make_frame(600, seed=3), spec, TrainingParams(n_estimators=30, n_jobs=1))
    example = result.holdout[list(spec.model_columns)].head(5)
    version = models.log_model_version(
        tracking.ensure_experiment(client, "train", tmp_path / "artifacts"),
        name="toy",
        files=ModelFiles(
            code=model_code_path(), artifacts=model_artifacts(result, tmp_path / "files")
        ),
        params={},
        metrics=result.metrics,
        example=example,
        example_output=predict_scores(result.booster, example, result.schema),
        manifest=(),
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
    scorer = BoosterScorer.from_artifacts(models.read_model_artifacts(version.uri))
    rows = make_frame(50, seed=9)
    assert np.allclose(scorer.predict(rows), predict_scores(result.booster, rows, result.schema))
    assert not marker.exists()


def test_the_scorer_reads_the_booster_and_schema_the_version_was_logged_with(registered) -> None:
    client, version, result, _ = registered
    scorer = BoosterScorer.from_artifacts(
        models.read_model_artifacts(f"models:/toy/{version.version}")
    )
    assert scorer.schema == json.loads(json.dumps(result.schema))
    assert isinstance(client, MlflowClient)


def test_an_artifact_path_outside_the_model_is_refused(registered) -> None:
    _, version, _, tmp_path = registered
    [mlmodel] = list((tmp_path / "artifacts").rglob("MLmodel"))
    secret = tmp_path / "secret.txt"
    secret.write_text("not a model file")
    # A tampered MLmodel points the schema at a file outside the model's own folder.
    text = mlmodel.read_text()
    mlmodel.write_text(text.replace("artifacts/schema.json", "../../../../../../../../secret.txt"))
    models._read_model_artifacts.cache_clear()
    with pytest.raises(RegistryError, match="outside the model's files"):
        models.read_model_artifacts(version.uri)
