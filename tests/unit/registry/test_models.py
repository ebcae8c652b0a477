from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from config.manifest import DataFile
from config.spec import DatasetSpec
from factories import make_frame, spec_for_frames
from registry import models, tracking
from registry.errors import RegistryError
from registry.history import PURPOSE_TAG
from registry.models import ModelFiles
from training.fit import fit_model
from training.model_code import SCHEMA_ARTIFACT, predict_scores
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
        batch="b-03.csv",
        purpose="Predicts `y`.",
        inputs=tracking.training_inputs(
            TRAINED_ON, result.holdout, dataset="toy", target=spec.target
        ),
    )
    yield client, version, result, tmp_path
    mlflow.set_tracking_uri(None)


def context(found) -> str:
    return {t.key: t.value for t in found.tags}["mlflow.data.context"]


TRAINED_ON = (DataFile("data/r.parquet", "a" * 64), DataFile("data/in/b-03.csv", "b" * 64))


def test_the_training_run_is_named_by_batch_and_version_and_lists_its_data(registered) -> None:
    client, version, result, _ = registered
    run = client.get_run(version.run_id)
    assert run.info.run_name == "toy b-03.csv -> v1"
    inputs = {(i.dataset.name, context(i)): i.dataset for i in run.inputs.dataset_inputs}
    assert set(inputs) == {
        ("r.parquet", "training"),
        ("b-03.csv", "training"),
        ("toy holdout", "holdout"),
    }
    assert inputs["b-03.csv", "training"].digest == "b" * 16
    held = inputs["toy holdout", "holdout"]
    assert json.loads(held.profile)["num_rows"] == len(result.holdout)
    assert held.source_type == "code"
    assert client.get_registered_model("toy").tags[PURPOSE_TAG] == "Predicts `y`."


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


FOREIGN_SCHEMA = b'{"foreign": true}'


def _model_folder(tmp_path: Path) -> Path:
    [mlmodel] = list((tmp_path / "artifacts").rglob("MLmodel"))
    return mlmodel.parent


def _foreign_copy(tmp_path: Path, where: Path) -> Path:
    # A copy of the model whose schema says where it was read from.
    shutil.copytree(_model_folder(tmp_path), where)
    (where / "artifacts" / "schema.json").write_bytes(FOREIGN_SCHEMA)
    return where


def _register_source(client: MlflowClient, version, source: str) -> str:
    created = client.create_model_version("toy", source=source, run_id=version.run_id)
    return f"models:/toy/{created.version}"


def _tamper(tmp_path: Path, sql: str, *args: str) -> None:
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        db.execute(sql, args)


def test_a_version_whose_source_is_a_foreign_local_folder_is_refused(registered) -> None:
    client, version, _, tmp_path = registered
    foreign = _foreign_copy(tmp_path, tmp_path / "elsewhere" / "model")
    uri = _register_source(client, version, foreign.as_uri())
    with pytest.raises(RegistryError, match=r"models:/toy/2: .*elsewhere.* outside .*train"):
        models.read_model_artifacts(uri)


def test_a_sibling_folder_named_like_the_artifact_root_is_refused(registered) -> None:
    _, version, _, tmp_path = registered
    sibling = _foreign_copy(tmp_path, tmp_path / "artifacts" / "train-evil" / "model")
    # Rewritten in the store itself: the download location MLflow resolves the version to.
    _tamper(tmp_path, "UPDATE model_versions SET storage_location = ?", sibling.as_uri())
    models._read_model_artifacts.cache_clear()
    with pytest.raises(RegistryError, match="train-evil"):
        models.read_model_artifacts(version.uri)


def test_a_path_that_climbs_out_of_the_artifact_root_is_refused(registered) -> None:
    client, version, _, tmp_path = registered
    _foreign_copy(tmp_path, tmp_path / "elsewhere" / "model")
    climbing = f"{(tmp_path / 'artifacts' / 'train').as_uri()}/../../elsewhere/model"
    with pytest.raises(RegistryError, match="outside"):
        models.read_model_artifacts(_register_source(client, version, climbing))


def test_a_link_inside_the_artifact_root_to_a_foreign_folder_is_refused(registered) -> None:
    client, version, _, tmp_path = registered
    foreign = _foreign_copy(tmp_path, tmp_path / "elsewhere" / "model")
    link = tmp_path / "artifacts" / "train" / "linked"
    link.symlink_to(foreign, target_is_directory=True)
    with pytest.raises(RegistryError, match="outside"):
        models.read_model_artifacts(_register_source(client, version, link.as_uri()))


@pytest.mark.parametrize(
    "source",
    [
        "https://other.host/models/toy",
        "s3://someone-elses-bucket/models/toy",
        "mlflow-artifacts://other.host/1/models/toy",
    ],
)
def test_a_version_on_a_foreign_host_or_scheme_is_refused(registered, source: str) -> None:
    client, version, _, _ = registered
    with pytest.raises(RegistryError, match="models:/toy/2"):
        models.read_model_artifacts(_register_source(client, version, source))


def test_a_version_pointing_at_another_experiments_run_is_refused(registered) -> None:
    client, version, _, tmp_path = registered
    other = client.create_run(tracking.ensure_experiment(client, "other", tmp_path / "artifacts"))
    source = f"runs:/{other.info.run_id}/model"
    with pytest.raises(RegistryError, match=r"artifacts/other/.* outside .*artifacts/train"):
        models.read_model_artifacts(_register_source(client, version, source))


def test_the_registered_version_still_loads_after_a_foreign_one_is_refused(registered) -> None:
    client, version, result, tmp_path = registered
    foreign = _foreign_copy(tmp_path, tmp_path / "elsewhere" / "model")
    with pytest.raises(RegistryError):
        models.read_model_artifacts(_register_source(client, version, foreign.as_uri()))
    files = models.read_model_artifacts(version.uri)
    assert files[SCHEMA_ARTIFACT] != FOREIGN_SCHEMA
    assert BoosterScorer.from_artifacts(files).schema == json.loads(json.dumps(result.schema))


def test_the_manifest_and_calibration_are_read_from_the_run(registered) -> None:
    client, version, _, _ = registered
    client.log_dict(version.run_id, {"x": [0.0, 1.0], "y": [0.1, 0.9]}, "calibration.json")
    assert models.load_calibration(client, version.run_id) == {"x": [0.0, 1.0], "y": [0.1, 0.9]}
    assert models.load_training_manifest(client, version.run_id) == ()


def test_a_run_whose_artifacts_were_moved_elsewhere_is_not_read(registered) -> None:
    client, version, _, tmp_path = registered
    foreign = tmp_path / "elsewhere"
    foreign.mkdir()
    (foreign / "training_data.json").write_text("[]")
    (foreign / "calibration.json").write_text('{"x": [], "y": []}')
    _tamper(tmp_path, "UPDATE runs SET artifact_uri = ?", foreign.as_uri())
    with pytest.raises(RegistryError, match="elsewhere"):
        models.load_training_manifest(client, version.run_id)
    with pytest.raises(RegistryError, match="elsewhere"):
        models.load_calibration(client, version.run_id)


class _TagRecorder:
    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.tags[key] = value


def test_a_losing_challengers_holdout_becomes_the_champions_baseline() -> None:
    champion = models.RegisteredVersion(
        name="toy",
        version="3",
        run_id="r",
        metrics={"roc_auc": 0.893, "accuracy": 0.85},
        tags={},
    )
    assert champion.baselines == champion.metrics  # nothing newer yet
    client = _TagRecorder()
    models.rebaseline(client, champion, {"roc_auc": 0.871, "f1": 0.6}, by="4")  # type: ignore[arg-type]
    assert client.tags["driftloop.baseline_from"] == "4"
    tagged = models.RegisteredVersion(
        name="toy", version="3", run_id="r", metrics=champion.metrics, tags=client.tags
    )
    # The newer value replaces its holdout one; a metric the holdout did not report is not added.
    assert tagged.baselines == {"roc_auc": 0.871, "accuracy": 0.85}
    assert tagged.metrics == champion.metrics  # the holdout's own figures stay as they were
