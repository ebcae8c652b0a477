"""Log a trained model as a registered version, and read the production model back."""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import mlflow
import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, Metric, Param, RunTag
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import AnyType, ColSpec, Schema
from mlflow.utils.time import get_current_time_millis as now_ms

from config.manifest import DataFile, Manifest, manifest_json, parse_manifest
from registry.errors import RegistryError
from registry.history import PURPOSE_TAG
from registry.locations import download_confined, locate_run_artifacts, locate_version_files
from registry.tracking import run_name

logger = logging.getLogger(__name__)

MODEL_ARTIFACT = "model"
MANIFEST_ARTIFACT = "training_data.json"
CALIBRATION_ARTIFACT = "calibration.json"
MODEL_CARD_ARTIFACT = "model_card.md"
CLASSES_TAG = "driftloop.classes"
# The champion's metrics on the holdout of the last challenger that failed to beat it (newer
# than its own holdout's): "driftloop.baseline.<metric>", and the challenger's version.
BASELINE_PREFIX = "driftloop.baseline."
BASELINE_SOURCE_TAG = "driftloop.baseline_from"
TUNING_TAG = "driftloop.tuning"
# Pinned so `log_model` does not spend seconds inferring requirements by importing the model.
# scipy: a model with text features scores a sparse matrix.
SERVING_REQUIREMENTS = ["mlflow", "xgboost", "pandas", "numpy", "scipy"]


@dataclass(frozen=True)
class ModelFiles:
    """Files that make up a model: the pyfunc code that serves it and its data, by artifact key."""

    code: Path
    artifacts: Mapping[str, Path]
    # Modules the code imports, logged with it (MLflow puts them on sys.path when loading).
    imports: Sequence[Path] = ()


@dataclass(frozen=True)
class RegisteredVersion:
    """A model version as the registry knows it."""

    name: str
    version: str
    run_id: str
    metrics: dict[str, float]
    tags: dict[str, str]

    @property
    def classes(self) -> list[Any]:
        """Label values in the model's output order (empty for regression)."""
        classes: list[Any] = json.loads(self.tags.get(CLASSES_TAG, "[]"))
        return classes

    @property
    def uri(self) -> str:
        """URI that `mlflow.pyfunc.load_model` accepts."""
        return f"models:/{self.name}/{self.version}"

    @property
    def baselines(self) -> dict[str, float]:
        """What the retrain policy compares batches with (see `rebaseline`).

        The holdout metrics, each replaced by the newest measurement on rows the model never saw.
        """
        newer = {
            k.removeprefix(BASELINE_PREFIX): float(v)
            for k, v in self.tags.items()
            if k.startswith(BASELINE_PREFIX)
        }
        return self.metrics | {k: v for k, v in newer.items() if k in self.metrics}


def log_model_version(
    experiment_id: str,
    *,
    name: str,
    files: ModelFiles,
    params: dict[str, Any],
    metrics: dict[str, float],
    example: pd.DataFrame,
    example_output: Any,
    manifest: Sequence[DataFile],
    tags: dict[str, str],
    classes: Sequence[Any] = (),
    tuning: dict[str, Any] | None = None,
    calibration: dict[str, list[float]] | None = None,
    trials: Sequence[dict[str, Any]] = (),
    batch: str | None = None,
    purpose: str | None = None,
    inputs: Sequence[DatasetInput] = (),
) -> RegisteredVersion:
    """Log a training run with its model (XGBoost format, served by code) and register it.

    The run is named by the batch it was trained for and, once registered, the version it made
    ("rainfall batch-07.csv -> v3").

    Args:
        experiment_id: Training experiment.
        name: Registered model name (the dataset's name).
        files: The models-from-code file and the data files it reads (booster, schema).
        params: Hyperparameters.
        metrics: Holdout metrics (logged as `holdout.<name>`).
        example: A few raw input rows (input example and signature).
        example_output: The model's output on `example`.
        manifest: The training data: one entry per file with its path and content hash.
        tags: Version tags (data version, git commit, ...).
        classes: Label values in the model's output order (empty for regression).
        tuning: The tuning summary, when the model was tuned.
        calibration: Isotonic calibration of P(positive) fitted on the holdout, if any.
        trials: Tuning trials (number, params, value, state, seconds), logged as nested runs.
        batch: The batch file this model was trained for (None: not from a batch).
        purpose: What the model predicts, in one sentence, kept on the registered model.
        inputs: The datasets it was trained and scored on (see `tracking.training_inputs`).

    Returns:
        The new registered version.
    """
    signature = served_signature(example, example_output)
    example = _plain_example(example)
    tags = {
        **tags,
        CLASSES_TAG: json.dumps(list(classes)),
        **({TUNING_TAG: json.dumps(tuning)} if tuning else {}),
    }
    client = MlflowClient()
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name("train", name, batch)
    ) as run:
        mlflow.set_tags({"driftloop.stage": "train", **tags})
        mlflow.log_params(params)
        mlflow.log_metrics({f"holdout.{k}": v for k, v in metrics.items()})
        if inputs:
            client.log_inputs(run.info.run_id, datasets=list(inputs))
        mlflow.log_text(manifest_json(manifest), MANIFEST_ARTIFACT)
        if calibration is not None:
            mlflow.log_dict(calibration, CALIBRATION_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(files.code),
            code_paths=[str(p) for p in files.imports] or None,
            artifacts={key: str(path) for key, path in files.artifacts.items()},
            signature=signature,
            input_example=example,
            pip_requirements=SERVING_REQUIREMENTS,
            registered_model_name=name,
        )
        version = str(info.registered_model_version)
        client.update_run(run.info.run_id, name=run_name("train", name, batch, version))
        log_trials(client, experiment_id, run.info.run_id, trials)
    if purpose:
        client.set_registered_model_tag(name, PURPOSE_TAG, purpose)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    for metric, score in metrics.items():
        client.set_model_version_tag(name, version, f"holdout.{metric}", f"{score:.6f}")
    logger.info("registered %s version %s (run %s)", name, version, run.info.run_id)
    return RegisteredVersion(
        name=name, version=version, run_id=run.info.run_id, metrics=dict(metrics), tags=dict(tags)
    )


def served_signature(example: pd.DataFrame, output: Any) -> ModelSignature:
    """The served model's signature: its input columns and output, as MLflow checks them.

    A categorical column takes any type: the served model matches categories by their text,
    so region 3 sent as a number and "3" sent as text are the same category (MLflow would
    otherwise refuse the integer for a column it saw as strings). So does a time column: the
    served model reads it with the spec's format, where MLflow would guess one (03/04 as
    March 4 whatever the spec says) and refuse times with an offset.
    """
    signature = infer_signature(_plain_example(example), output)
    categorical = {
        c
        for c in example.columns
        if isinstance(example[c].dtype, pd.CategoricalDtype)
        or pd.api.types.is_datetime64_any_dtype(example[c].dtype)
    }
    if categorical and signature.inputs is not None:
        signature.inputs = Schema(
            [
                ColSpec(AnyType(), spec.name, required=spec.required)
                if spec.name in categorical
                else spec
                for spec in signature.inputs.inputs
            ]
        )
    return signature


def _plain_example(example: pd.DataFrame) -> pd.DataFrame:
    # MLflow's signature has no categorical type: pandas categories (as Parquet files bring them)
    # are logged as the strings they stand for, which is what the model's schema expects.
    kinds = {
        c: "object" for c in example.columns if isinstance(example[c].dtype, pd.CategoricalDtype)
    }
    return example.astype(kinds) if kinds else example


def log_trials(
    client: MlflowClient, experiment_id: str, parent_run_id: str, trials: Sequence[dict[str, Any]]
) -> None:
    """Log tuning trials as runs nested under the training run (one batch call per trial)."""
    for trial in trials:
        child = client.create_run(
            experiment_id,
            run_name=f"trial {trial['number']}",
            tags={"mlflow.parentRunId": parent_run_id, "driftloop.stage": "tuning"},
        )
        value = trial.get("value")
        client.log_batch(
            child.info.run_id,
            metrics=[Metric("validation", float(value), now_ms(), 0)] if value is not None else [],
            params=[Param(k, str(v)) for k, v in trial["params"].items()],
            tags=[
                RunTag("driftloop.trial_state", str(trial["state"])),
                RunTag("driftloop.trial_seconds", str(trial["seconds"])),
            ],
        )
        status = "FINISHED" if trial["state"] != "FAIL" else "FAILED"
        client.set_terminated(child.info.run_id, status=status)


def get_aliased_version(client: MlflowClient, name: str, alias: str) -> RegisteredVersion | None:
    """Return the version that `alias` points at, or None when the model or alias is missing."""
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    return _registered(name, version)


def get_version(client: MlflowClient, name: str, version: str) -> RegisteredVersion:
    """Return one version of a registered model.

    Raises:
        MlflowException: the model or the version does not exist.
    """
    return _registered(name, client.get_model_version(name, version))


def _registered(name: str, version: ModelVersion) -> RegisteredVersion:
    metrics = {
        k.removeprefix("holdout."): float(v)
        for k, v in version.tags.items()
        if k.startswith("holdout.")
    }
    return RegisteredVersion(
        name=name,
        version=str(version.version),
        run_id=str(version.run_id),
        metrics=metrics,
        tags=dict(version.tags),
    )


def load_training_manifest(client: MlflowClient, run_id: str) -> Manifest:
    """Read the training-data manifest logged with a model's run.

    Raises:
        RegistryError: the run's artifacts lie outside its experiment's artifact store.
    """
    root = locate_run_artifacts(client, run_id)
    return parse_manifest(_read_artifact(client, root, MANIFEST_ARTIFACT).decode("utf-8"))


def load_calibration(client: MlflowClient, run_id: str) -> dict[str, list[float]] | None:
    """Read the calibration logged with a model's run (None when it has none).

    Raises:
        RegistryError: the run's artifacts lie outside its experiment's artifact store.
    """
    root = locate_run_artifacts(client, run_id)
    listed = mlflow.artifacts.list_artifacts(artifact_uri=root, tracking_uri=client.tracking_uri)
    # Listed by path from the root's parent folder ("artifacts/calibration.json").
    if CALIBRATION_ARTIFACT not in {PurePosixPath(a.path).name for a in listed}:
        return None
    calibration: dict[str, list[float]] = json.loads(
        _read_artifact(client, root, CALIBRATION_ARTIFACT)
    )
    return calibration


def _read_artifact(client: MlflowClient, root: str, path: str) -> bytes:
    with tempfile.TemporaryDirectory() as workdir:
        return download_confined(f"{root}/{path}", Path(workdir), client.tracking_uri).read_bytes()


def rebaseline(
    client: MlflowClient, version: RegisteredVersion, measured: dict[str, float], by: str
) -> None:
    """Record the champion's metrics on a losing challenger's holdout as its new baselines.

    A challenger trained on the newest data that cannot beat the champion on that data says the
    drop it was trained for is not one a retrain can fix: judged against its own (older, often
    optimistic) holdout the champion would fire the same signal again after every cooldown.
    """
    for metric, value in measured.items():
        client.set_model_version_tag(
            version.name, version.version, BASELINE_PREFIX + metric, repr(float(value))
        )
    client.set_model_version_tag(version.name, version.version, BASELINE_SOURCE_TAG, by)


def log_model_card(client: MlflowClient, version: RegisteredVersion, card: str) -> None:
    """Log the version's model card (markdown) with its run and point a version tag at it."""
    client.log_text(version.run_id, card, MODEL_CARD_ARTIFACT)
    client.set_model_version_tag(
        version.name, version.version, "driftloop.model_card", MODEL_CARD_ARTIFACT
    )


def read_model_artifacts(uri: str) -> dict[str, bytes]:
    """Read a registered model's data files, by artifact key, without running its code.

    The version's files are downloaded only from where they belong: inside the artifact store
    of its run's experiment (a version whose registry entry points anywhere else, another
    folder, host or bucket, is refused before anything is read). Only data is read from them,
    located through the MLmodel file (YAML, read safely). Nothing stored with the model is
    executed, so a tampered registry cannot make the pipeline run code, and an artifact path
    that leads outside the downloaded folder is refused. A registered version never changes,
    so the last two read stay in memory: a retraining run scores the champion on the batch and
    again on the holdout.

    Raises:
        RegistryError: the version's files lie outside its run's experiment, or an artifact
            path points outside the model's own files.
    """
    return _read_model_artifacts(mlflow.get_registry_uri(), mlflow.get_tracking_uri(), uri)


@functools.lru_cache(maxsize=2)
def _read_model_artifacts(registry_uri: str, tracking_uri: str, uri: str) -> dict[str, bytes]:
    # Keyed by the stores too: two registries can both hold a "models:/toy/1".
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    found = locate_version_files(client, uri)
    with tempfile.TemporaryDirectory() as workdir:
        local = download_confined(found, Path(workdir), tracking_uri)
        description = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))
        files = description["flavors"]["python_function"].get("artifacts", {})
        contents = {}
        for key, entry in files.items():
            path = (local / entry["path"]).resolve()
            if not path.is_relative_to(local):
                raise RegistryError(
                    f"{uri}: artifact {key!r} points outside the model's files ({entry['path']})"
                )
            contents[key] = path.read_bytes()
    return contents
