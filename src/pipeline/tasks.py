"""Prefect tasks: one per domain step, each a thin call into a stage package."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from prefect import Task, task
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from config.metrics import compute_metrics
from config.settings import DriftSettings, GitHubSettings, MlflowSettings, PromotionSettings
from config.spec import DatasetSpec
from data_validation import gate
from data_validation.gate import ValidationOutcome
from data_validation.quarantine import quarantine_batch
from delivery import dispatch
from delivery.dispatch import DispatchRequest, DispatchResult
from delivery.errors import DispatchError
from model_monitoring.drift import (
    DriftSummary,
    DriftTests,
    ModelScores,
    measure_drift,
    write_report,
)
from model_monitoring.policy import (
    PastBatch,
    PolicyRules,
    RetrainDecision,
    fire_signals,
    should_retrain,
)
from pipeline import shipping
from registry import models, release, tracking
from registry.comparison import PairedDifference, compare_on_holdout, metric_intervals
from registry.models import ModelFiles, RegisteredVersion
from registry.promotion import PromotionDecision, decide_promotion
from registry.release import RegistryAction
from runs import batches, ledger, predictions
from runs.batches import BatchFile
from runs.ledger import LedgerEntry
from runs.record import DecisionRecord, write_record
from training.fit import (
    TrainingParams,
    TrainingResult,
    fit_model,
    model_code_path,
    save_model_files,
)
from training.model_code import BOOSTER_ARTIFACT, SCHEMA_ARTIFACT, predict_scores
from training.slices import SliceReport, compare_slices


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


# Registry calls retry briefly on network trouble; a failed gate or a 4xx is never retried.
REGISTRY_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": is_transient_failure,
}


@task
def find_batch(spec: DatasetSpec, ledger_path: Path, batch: Path | None) -> BatchFile | None:
    """Pick the batch to process (skipping any already in the ledger)."""
    processed = ledger.processed_hashes(ledger.read_ledger(ledger_path))
    return batches.find_next_batch(spec.incoming, processed, explicit=batch)


@task
def read_batch(path: Path) -> pd.DataFrame:
    """Read the batch file."""
    return batches.read_batch(path)


@task
def validate_batch(gx_root: Path, spec: DatasetSpec, frame: pd.DataFrame) -> ValidationOutcome:
    """Run the batch through the dataset's expectation suite (deriving it on first use)."""
    context = gate.open_context(gx_root)
    gate.ensure_suites(context, spec, lambda: batches.read_batch(spec.reference))
    return gate.validate_frame(context, frame, spec)


@task
def quarantine(
    batch: BatchFile, outcome: ValidationOutcome, quarantine_dir: Path, stamp: str
) -> Path:
    """Move the rejected batch, untouched, into quarantine with its validation result."""
    return quarantine_batch(batch.path, outcome, quarantine_dir, stamp=stamp)


@task
def record_batch(ledger_path: Path, entry: LedgerEntry) -> None:
    """Write what became of the batch to the run ledger."""
    ledger.append_entry(ledger_path, entry)


@task(**REGISTRY_RETRIES)
def get_production(settings: MlflowSettings, name: str, alias: str) -> RegisteredVersion | None:
    """Look up the production model version (None before the first promotion)."""
    client = tracking.connect(settings.tracking_uri)
    return models.get_aliased_version(client, name, alias)


@task
def load_training_frame(
    manifest: list[dict[str, Any]], root: Path, source_column: str | None = None
) -> pd.DataFrame:
    """Read the data files a model is (or was) trained on, in order, checking their hashes."""
    return batches.read_manifest(manifest, root, source_column=source_column)


@task(**REGISTRY_RETRIES)
def production_manifest(
    settings: MlflowSettings, production: RegisteredVersion
) -> list[dict[str, Any]]:
    """The training-data manifest logged with the production model."""
    client = tracking.connect(settings.tracking_uri)
    return models.load_training_manifest(client, production.run_id)


@task
def score_batch(
    settings: MlflowSettings,
    production: RegisteredVersion,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DatasetSpec,
) -> ModelScores:
    """Score the reference and the batch with the production model; read its calibration."""
    client = tracking.connect(settings.tracking_uri)
    scorer = models.load_scorer(production.uri)
    return ModelScores(
        reference=scorer.predict(reference),
        current=scorer.predict(current),
        task=spec.task.value,
        classes=production.classes,
        calibration=models.load_calibration(client, production.run_id),
    )


@task
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


@task
def monitor_batch(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DatasetSpec,
    *,
    drift: DriftSettings,
    watch: tuple[str, ...],
    scores: ModelScores | None,
    report_path: Path,
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
        ),
        watch=watch,
        scores=scores,
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


@task
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


@task
def train_challenger(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    params: TrainingParams,
    seen_files: set[str],
    file_weights: dict[str, float],
) -> TrainingResult:
    """Fit XGBoost with a time-ordered holdout that leaves out rows the champion trained on."""
    source = frame[batches.SOURCE_COLUMN]
    return fit_model(
        frame.drop(columns=batches.SOURCE_COLUMN),
        spec,
        params,
        seen=source.isin(seen_files),
        weights=source.map(file_weights),
    )


@task(**REGISTRY_RETRIES)
def register_challenger(
    settings: MlflowSettings,
    spec: DatasetSpec,
    result: TrainingResult,
    *,
    manifest: list[dict[str, Any]],
    tags: dict[str, str],
    workdir: Path,
) -> RegisteredVersion:
    """Log the challenger (XGBoost format, signature, input example) and register a version."""
    client = tracking.connect(settings.tracking_uri)
    experiment = tracking.ensure_experiment(
        client, settings.training_experiment, settings.artifact_root
    )
    booster, schema = save_model_files(result, workdir)
    example = result.holdout[list(spec.model_columns)].head(5)
    return models.log_model_version(
        experiment,
        name=spec.name,
        files=ModelFiles(booster=booster, schema=schema, code=model_code_path()),
        artifacts={"booster": BOOSTER_ARTIFACT, "schema": SCHEMA_ARTIFACT},
        params=result.params,
        metrics=result.metrics,
        example=example,
        example_output=predict_scores(result.booster, example, result.schema),
        manifest=manifest,
        tags={
            **tags,
            models.CLASSES_TAG: json.dumps(result.schema["classes"]),
            **({"driftloop.tuning": json.dumps(result.tuning)} if result.tuning else {}),
        },
        calibration=result.calibration,
        trials=[asdict(t) for t in result.trials],
    )


@dataclass(frozen=True)
class Evaluation:
    """Challenger and champion on the same holdout: paired differences, intervals, slices."""

    scores: Any
    champion_metrics: dict[str, float] | None
    comparisons: dict[str, PairedDifference] | None
    intervals: dict[str, tuple[float, float]]
    slices: SliceReport | None


@task
def evaluate_challenger(
    result: TrainingResult,
    champion: RegisteredVersion | None,
    spec: DatasetSpec,
    promotion: PromotionSettings,
    *,
    metric: str,
    watch: tuple[str, ...],
) -> Evaluation:
    """Score the champion on the challenger's holdout and measure how the two differ."""
    holdout, classes, task_name = result.holdout, result.schema["classes"], spec.task.value
    y = holdout[spec.target]
    ours = predict_scores(result.booster, holdout, result.schema)
    theirs = models.load_scorer(champion.uri).predict(holdout) if champion else None
    # Scores are comparable only over the same label classes, in the same order.
    comparable = champion is not None and champion.classes == classes
    slices = None
    if spec.slices:
        slices = compare_slices(
            holdout,
            columns=spec.slices,
            numeric_columns=spec.features.numeric,
            bins=spec.slice_bins,
            target=spec.target,
            task=task_name,
            classes=classes,
            metric=metric,
            challenger_scores=np.asarray(ours),
            champion_scores=np.asarray(theirs) if comparable else None,
            min_rows=promotion.slice_min_rows,
            tolerance=promotion.slice_tolerance,
        )
    return Evaluation(
        scores=ours,
        champion_metrics=(
            compute_metrics(task_name, y, theirs, champion.classes) if champion else None
        ),
        comparisons=(
            compare_on_holdout(
                y,
                ours,
                theirs,
                task=task_name,
                classes=classes,
                metrics=watch,
                confidence=promotion.confidence,
                resamples=promotion.bootstrap_resamples,
            )
            if comparable
            else ({} if champion else None)
        ),
        intervals=metric_intervals(y, ours, task=task_name, classes=classes, metrics=watch),
        slices=slices,
    )


@task
def decide_promotion_task(**rule: Any) -> PromotionDecision:
    """Apply the promotion rule."""
    return decide_promotion(**rule)


@task(**REGISTRY_RETRIES)
def promote(
    settings: MlflowSettings,
    challenger: RegisteredVersion,
    decision: PromotionDecision,
    *,
    evaluated_against: str | None,
    actor: str,
    batch: str,
    aliases: dict[str, str],
) -> RegistryAction:
    """Move the aliases as the decision says, if production is still the evaluated champion."""
    client = tracking.connect(settings.tracking_uri)
    return release.promote_challenger(
        client,
        name=challenger.name,
        version=challenger.version,
        promote=decision.promote,
        reason=decision.reason,
        evaluated_against=evaluated_against,
        actor=actor,
        batch=batch,
        **aliases,
    )


@task(**REGISTRY_RETRIES)
def publish_model_card(settings: MlflowSettings, version: RegisteredVersion, card: str) -> None:
    """Log the model card with the version's run."""
    models.log_model_card(tracking.connect(settings.tracking_uri), version, card)


@task(retries=3, retry_delay_seconds=[5, 30, 120], retry_condition_fn=is_transient_failure)
def trigger_cd(
    github: GitHubSettings,
    request: DispatchRequest,
    dry_run_path: Path,
    transport: httpx.BaseTransport | None = None,
) -> DispatchResult:
    """Ask GitHub Actions to ship the newly released model (or record the request, no token)."""
    return shipping.deliver_now(github, request, dry_run_path, transport)


@task
def write_decision_record(record: DecisionRecord, path: Path) -> Path:
    """Write the run's decision record and publish it as a Prefect artifact."""
    written = write_record(record, path)
    create_markdown_artifact(
        markdown=written.read_text(encoding="utf-8"),
        key=f"decision-{record.dataset}".lower().replace("_", "-"),
        description=f"driftloop decision for {record.batch}",
    )
    return written
