"""Prefect tasks: one per domain step, each a thin call into a stage package."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from prefect import Task, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from config.manifest import Manifest
from config.settings import DriftSettings, MlflowSettings
from config.spec import DatasetSpec
from data_validation import gate
from data_validation.gate import ValidationOutcome
from data_validation.quarantine import quarantine_batch
from delivery import dispatch
from delivery.errors import DispatchError
from model_monitoring.drift import measure_drift, write_report
from model_monitoring.measures import DriftSummary, DriftTests, ModelScores
from model_monitoring.policy import (
    PastBatch,
    PolicyRules,
    RetrainDecision,
    fire_signals,
    should_retrain,
)
from registry import models, tracking
from registry.models import RegisteredVersion
from runs import batches, ledger, predictions
from runs.batches import BatchFile
from runs.ledger import LedgerEntry
from runs.record import DecisionRecord, write_record
from training.served import BoosterScorer


def is_transient_failure(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only network trouble and server-side errors, never a gate or a 4xx."""
    try:
        state.result()
    except (httpx.TransportError, ConnectionError, TimeoutError):
        return True
    except DispatchError as exc:
        return dispatch.is_transient_dispatch_error(exc)
    except Exception:  # noqa: BLE001 - anything else is a real failure: do not retry it
        return False
    return False


# No run is ever served from a cache: each batch is new data, and a cached gate would be wrong.
# Prefect's default policy would also hash every input, pickling whole DataFrames on each call
# (1.7-2.9 s per task for a 1M-row frame here).
UNCACHED: dict[str, Any] = {"cache_policy": NO_CACHE}

# Registry calls retry briefly on network trouble; a failed gate or a 4xx is never retried.
REGISTRY_RETRIES: dict[str, Any] = {
    **UNCACHED,
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": is_transient_failure,
}


@task(**UNCACHED)
def find_batch(
    spec: DatasetSpec, ledger_path: Path, batch: Path | None, *, monitoring: bool = False
) -> BatchFile | None:
    """Pick the batch to process (skipping any the ledger says this kind of run handled)."""
    processed = ledger.processed_hashes(ledger.read_ledger(ledger_path), monitoring=monitoring)
    return batches.find_next_batch(spec.incoming, processed, explicit=batch)


@task(**UNCACHED)
def read_batch(path: Path) -> pd.DataFrame:
    """Read the batch file."""
    return batches.read_batch(path)


@task(**UNCACHED)
def validate_batch(
    gx_root: Path, spec: DatasetSpec, frame: pd.DataFrame, *, sample_rows: int
) -> ValidationOutcome:
    """Run the batch through the dataset's expectation suite (deriving it on first use)."""
    context = gate.open_context(gx_root)
    gate.ensure_suites(context, spec, lambda: batches.read_batch(spec.reference))
    return gate.validate_frame(context, frame, spec, sample_rows=sample_rows)


@task(**UNCACHED)
def quarantine(
    batch: BatchFile, outcome: ValidationOutcome, quarantine_dir: Path, stamp: str
) -> Path:
    """Move the rejected batch, untouched, into quarantine with its validation result."""
    return quarantine_batch(batch.path, outcome, quarantine_dir, stamp=stamp)


@task(**UNCACHED)
def record_batch(ledger_path: Path, entry: LedgerEntry) -> None:
    """Write what became of the batch to the run ledger."""
    ledger.append_entry(ledger_path, entry)


@task(**REGISTRY_RETRIES)
def get_production(settings: MlflowSettings, name: str, alias: str) -> RegisteredVersion | None:
    """Look up the production model version (None before the first promotion)."""
    client = tracking.connect(settings.tracking_uri)
    return models.get_aliased_version(client, name, alias)


@task(**UNCACHED)
def load_training_frame(
    manifest: Manifest,
    root: Path,
    source_column: str | None = None,
    known: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Read the data files a model is (or was) trained on, in order, checking their hashes.

    Files in `known` (by content hash) are the frames the run already holds: not read again.
    """
    return batches.read_manifest(manifest, root, source_column=source_column, known=known)


@task(**REGISTRY_RETRIES)
def production_manifest(settings: MlflowSettings, production: RegisteredVersion) -> Manifest:
    """The training-data manifest logged with the production model."""
    tracking.connect(settings.tracking_uri)
    return models.load_training_manifest(production.run_id)


@task(**UNCACHED)
def score_batch(
    settings: MlflowSettings,
    production: RegisteredVersion,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DatasetSpec,
) -> ModelScores:
    """Score the reference and the batch with the production model; read its calibration."""
    client = tracking.connect(settings.tracking_uri)
    scorer = BoosterScorer.from_artifacts(models.read_model_artifacts(production.uri))
    # Only the model's inputs: MLflow warns about every extra column (target, timestamp, ids).
    columns = list(spec.model_columns)
    return ModelScores(
        reference=scorer.predict(reference[columns]),
        current=scorer.predict(current[columns]),
        task=spec.task.value,
        classes=production.classes,
        calibration=models.load_calibration(client, production.run_id),
    )


@task(**UNCACHED)
def save_predictions(
    frame: pd.DataFrame,
    scores: ModelScores,
    version: RegisteredVersion,
    spec: DatasetSpec,
    path: Path,
) -> Path:
    """Write the batch's predictions with the model version beside each row."""
    table = predictions.prediction_frame(
        frame,
        scores.current,
        task=spec.task.value,
        classes=version.classes,
        model_name=version.name,
        model_version=version.version,
        scored_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return predictions.write_predictions(table, path)


@task(**UNCACHED)
def monitor_batch(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DatasetSpec,
    *,
    drift: DriftSettings,
    watch: tuple[str, ...],
    scores: ModelScores | None,
    report_path: Path,
    reference_rows: int | None = None,
) -> DriftSummary:
    """Measure drift and model health with Evidently and save the HTML report."""
    summary, snapshot = measure_drift(
        reference,
        current,
        columns={
            "numeric": list(spec.features.numeric),
            "categorical": list(spec.features.categorical),
            "text": list(spec.features.text),
        },
        target=spec.target,
        tests=DriftTests(
            numeric_method=drift.numeric_method,
            categorical_method=drift.categorical_method,
            threshold=drift.column_threshold,
            alpha=drift.alpha,
            share_threshold=drift.share_threshold,
            sample_rows=drift.sample_rows,
        ),
        watch=watch,
        scores=scores,
        reference_rows=reference_rows,
    )
    write_report(snapshot, report_path)
    return summary


@task(**REGISTRY_RETRIES)
def log_monitoring(
    settings: MlflowSettings,
    batch: BatchFile,
    summary: DriftSummary,
    report: Path,
    params: dict[str, Any],
) -> str:
    """Record the measurement in the MLflow monitoring experiment."""
    client = tracking.connect(settings.tracking_uri)
    experiment = tracking.ensure_experiment(
        client, settings.monitoring_experiment, settings.artifact_root
    )
    return tracking.log_monitoring_run(
        experiment,
        batch=batch.name,
        metrics=summary.as_metrics(),
        params=params,
        report=report,
        summary=asdict(summary),
    )


@task(**UNCACHED)
def decide_retrain(
    summary: DriftSummary,
    ledger_path: Path,
    *,
    rules: PolicyRules,
    watch: tuple[str, ...],
    baselines: dict[str, float],
    force: bool,
    new_labelled_rows: int,
    regime_files: int,
    model_files: int,
) -> RetrainDecision:
    """Fire the policy's signals on the measurement and decide, given the batches before it."""
    signals = fire_signals(
        summary,
        baselines=baselines,
        watch=watch,
        rules=rules,
        regime_files=regime_files,
        model_files=model_files,
    )
    return should_retrain(
        signals,
        [
            PastBatch(fired=e.fired, retrained=e.retrained)
            for e in ledger.read_ledger(ledger_path)
            if e.status == "accepted"
        ],
        rules=rules,
        has_production=bool(baselines),
        force=force,
        new_labelled_rows=new_labelled_rows,
    )


@task(**UNCACHED)
def write_decision_record(record: DecisionRecord, path: Path) -> Path:
    """Write the run's decision record and publish it as a Prefect artifact."""
    written = write_record(record, path)
    create_markdown_artifact(
        markdown=written.read_text(encoding="utf-8"),
        key=f"decision-{record.dataset}".lower().replace("_", "-"),
        description=f"driftloop decision for {record.batch}",
    )
    return written
