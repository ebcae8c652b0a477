"""Experiment tracking: point MLflow at the configured store and log monitoring runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient


def connect(tracking_uri: str) -> MlflowClient:
    """Point the MLflow fluent API at `tracking_uri` and return a client for the same store."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


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


def log_monitoring_run(
    experiment_id: str,
    *,
    batch: str,
    metrics: dict[str, float],
    params: dict[str, Any],
    report: Path,
    summary: dict[str, Any],
) -> str:
    """Record one monitoring measurement as a run: metrics, the HTML report and a JSON summary.

    Returns:
        The run id.
    """
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"monitor {batch}") as run:
        mlflow.set_tags({"driftloop.stage": "monitor", "driftloop.batch": batch})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(report), artifact_path="reports")
        mlflow.log_text(json.dumps(summary, indent=2, default=str), "drift_summary.json")
    return run.info.run_id
