"""Experiment tracking: point MLflow at the configured store and log monitoring runs."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.models import infer_signature
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from config.manifest import DataFile


def connect(tracking_uri: str) -> MlflowClient:
    """Point the MLflow fluent API at `tracking_uri` and return a client for the same store."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def absolute_uri(uri: str) -> str:
    """`uri` with a relative SQLite path made absolute, for a process with another cwd."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri.startswith(prefix + "/"):
        return uri
    path, query = uri.removeprefix(prefix).partition("?")[::2]
    return f"{prefix}{Path(path).resolve()}" + (f"?{query}" if query else "")


def ensure_experiment(client: MlflowClient, name: str, artifact_root: Path | None) -> str:
    """Return the id of experiment `name`, creating it with its artifacts under `artifact_root`.

    `artifact_root` applies to local stores; with a tracking server (http/https) the server's
    own artifact store is used.
    """
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    location = None
    if artifact_root is not None and not client.tracking_uri.startswith(("http:", "https:")):
        location = (artifact_root.resolve() / name).as_uri()
    return str(client.create_experiment(name, artifact_location=location))


LEDGER_TAG = "driftloop.ledger"
DATASET_TAG = "driftloop.dataset"
# MLflow keeps tag values up to 8,000 characters; an entry's decision text is cut to fit.
MAX_TAG_CHARS = 8000


def note_ledger_entry(client: MlflowClient, run_id: str, entry: dict[str, Any]) -> None:
    """Keep a batch's ledger entry on its monitoring run: the ledger's copy in the store."""
    text = json.dumps(entry, sort_keys=True)
    if len(text) > MAX_TAG_CHARS:
        entry = {**entry, "decision": str(entry.get("decision", ""))[:1000]}
        text = json.dumps(entry, sort_keys=True)[:MAX_TAG_CHARS]
    client.set_tag(run_id, LEDGER_TAG, text)
    client.set_tag(run_id, DATASET_TAG, str(entry.get("dataset", "")))


def recorded_entry(
    client: MlflowClient, experiment: str, dataset: str, sha256: str
) -> dict[str, Any] | None:
    """The ledger entry a finished retraining run noted for this batch, if the store has one."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"params.sha256 = '{sha256}' and tags.`{DATASET_TAG}` = '{dataset}'",
        order_by=["attributes.start_time DESC"],
        max_results=5,
    )
    for run in runs:
        text = run.data.tags.get(LEDGER_TAG)
        try:
            entry: dict[str, Any] = json.loads(text) if text else {}
        except ValueError:
            continue  # cut or edited: not an entry to restore
        if isinstance(entry, dict) and entry.get("status") not in (None, "monitored"):
            return entry
    return None


REPORTS_ARTIFACT = "reports"
TARGET_INPUT_TAG = "driftloop.target"
# The registry keeps dataset digests of up to 36 characters.
DIGEST_CHARS = 16
# A dataset's schema is read from its first rows: on every row it costs ~2 s per 100,000.
SCHEMA_ROWS = 1000


def log_monitoring_run(
    experiment_id: str,
    *,
    name: str,
    batch: str,
    metrics: dict[str, float],
    params: dict[str, Any],
    report: Path,
    summary: dict[str, Any],
    stage: str = "monitor",
    inputs: Sequence[DatasetInput] = (),
) -> str:
    """Record one monitoring measurement as a run: metrics, the HTML report and a JSON summary.

    Args:
        experiment_id: Monitoring experiment.
        name: The run's name (see `run_name`).
        batch: The batch file's name.
        metrics: Drift and model-health measures.
        params: What the run measured (batch, its hash, the model version, ...).
        report: The Evidently HTML report, logged under `reports/`.
        summary: The drift summary, logged as JSON.
        stage: "monitor" or "score".
        inputs: The datasets measured (the batch and the reference), see `dataset_input`.

    Returns:
        The run id.
    """
    with mlflow.start_run(experiment_id=experiment_id, run_name=name) as run:
        mlflow.set_tags({"driftloop.stage": stage, "driftloop.batch": batch})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(metrics)
        if inputs:
            MlflowClient().log_inputs(run.info.run_id, datasets=list(inputs))
        mlflow.log_artifact(str(report), artifact_path=REPORTS_ARTIFACT)
        mlflow.log_text(json.dumps(summary, indent=2, default=str), "drift_summary.json")
    return run.info.run_id


def run_name(stage: str, dataset: str, batch: str | None, version: str | None = None) -> str:
    """A run's name in the tracking UI: what it did, to which dataset and batch, with which model.

    `run_name("train", "rainfall", "batch-07.csv", "3")` is "rainfall batch-07.csv -> v3" (a
    training run is named by what it produced); "monitor rainfall batch-07.csv" and "score
    rainfall batch-07.csv with v3" name the others.
    """
    named = f"{dataset} {batch}" if batch else dataset
    if stage == "train":
        return f"{named} -> v{version}" if version else named
    return f"{stage} {named}" + (f" with v{version}" if version else "")


def dataset_input(
    name: str,
    *,
    context: str,
    digest: str,
    source: str | None = None,
    derived_from: str | None = None,
    frame: pd.DataFrame | None = None,
    rows: int | None = None,
    target: str | None = None,
) -> DatasetInput:
    """A dataset as a run's input (MLflow dataset tracking), cheap to build on any size of data.

    The digest is given (a file's sha256, see `frame_digest` otherwise) and the schema is read
    from the first `SCHEMA_ROWS` rows: MLflow's own `from_pandas` reads every row for both.

    Args:
        name: The dataset's name (a file name).
        context: Its role in the run ("training", "holdout", "batch", "reference").
        digest: Its content hash; cut to `DIGEST_CHARS`.
        source: Where it lies (a path relative to the project); None: made by the run itself.
        derived_from: For a dataset the run made, what from (noted in its source).
        frame: The data, for the schema and the row count (None: neither is logged).
        rows: The row count, when `frame` is not the whole dataset.
        target: The label column, noted as an input tag.

    Returns:
        The input, for `MlflowClient.log_inputs`.
    """
    schema = profile = None
    if frame is not None:
        schema = json.dumps({"mlflow_colspec": _schema(frame.head(SCHEMA_ROWS))})
        rows = len(frame) if rows is None else rows
    if rows is not None:
        width = len(frame.columns) if frame is not None else 0
        profile = json.dumps({"num_rows": rows, "num_elements": rows * width})
    made = {"tags": {"derived_from": derived_from or "", "made_by": "driftloop"}}
    kind, where = ("local", {"uri": source}) if source else ("code", made)
    tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)]
    if target:
        tags.append(InputTag(TARGET_INPUT_TAG, target))
    dataset = Dataset(
        name=name,
        digest=digest[:DIGEST_CHARS],
        source_type=kind,
        source=json.dumps(where),
        schema=schema,
        profile=profile,
    )
    return DatasetInput(dataset=dataset, tags=tags)


def file_inputs(
    files: Sequence[DataFile], *, context: str, frame: pd.DataFrame | None = None
) -> list[DatasetInput]:
    """One input per data file, named and hashed as the manifest has it (as DVC tracks it).

    `frame`, the files read as one table, gives the schema and row count when there is one file.
    """
    whole = frame if len(files) == 1 else None
    return [
        dataset_input(
            Path(f.path).name, context=context, digest=f.sha256, source=f.path, frame=whole
        )
        for f in files
    ]


def training_inputs(
    files: Sequence[DataFile], holdout: pd.DataFrame, *, dataset: str, target: str
) -> list[DatasetInput]:
    """A training run's datasets: each training file, and the holdout cut from them."""
    held = dataset_input(
        f"{dataset} holdout",
        context="holdout",
        digest=frame_digest(holdout),
        derived_from="the newest rows of the training files",
        frame=holdout,
        target=target,
    )
    return [*file_inputs(files, context="training"), held]


def project_path(path: Path) -> str:
    """`path` as a dataset source: relative to the working directory when inside it."""
    resolved, cwd = path.resolve(), Path.cwd().resolve()
    return (resolved.relative_to(cwd) if resolved.is_relative_to(cwd) else resolved).as_posix()


def batch_file(files: Sequence[DataFile], sha256: str | None) -> str | None:
    """The name of the file with content `sha256` among `files` (None: none has it)."""
    return next((Path(f.path).name for f in files if sha256 and f.sha256 == sha256), None)


def frame_digest(frame: pd.DataFrame) -> str:
    """A content hash of a table that has no file of its own (vectorised, unlike MLflow's)."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update("\0".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


def artifact_location(client: MlflowClient, run_id: str, path: str) -> str:
    """Where a run's artifact can be found by anyone who reaches the tracking store.

    With a tracking server, its UI page for the artifact (without any credentials the tracking
    URI holds); otherwise the `runs:/` URI that MLflow resolves against the configured store
    (`mlflow artifacts download -u ...`), never a path on this machine.
    """
    parts = urlsplit(client.tracking_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"runs:/{run_id}/{path}"
    server = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path.rstrip('/')}"
    experiment = client.get_run(run_id).info.experiment_id
    page = f"experiments/{quote(experiment)}/runs/{quote(run_id)}/artifactPath/{quote(path)}"
    return f"{server}/#/{page}"


def report_artifact(report: Path) -> str:
    """The artifact path `log_monitoring_run` logs a report under."""
    return f"{REPORTS_ARTIFACT}/{report.name}"


def _schema(sample: pd.DataFrame) -> list[dict[str, Any]]:
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values: advice for model
        # signatures, not for a record of what a batch held.
        warnings.simplefilter("ignore", UserWarning)
        inputs = infer_signature(sample).inputs
    return inputs.to_dict() if inputs is not None else []
