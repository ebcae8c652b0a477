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
