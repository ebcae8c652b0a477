"""Prefect tasks: one per domain step, each a thin call into a stage package.

Orchestration policy (retries, caching) lives on the decorators; arguments arrive built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from prefect import Task, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from compute.engine import Engine
from compute.errors import PartitionError
from compute.partitions import Partitions, each_partition, open_partitions
from config.manifest import Manifest
from config.settings import GitHubSettings, MlflowSettings
from config.spec import DatasetSpec
from data_validation import gate, quarantine
from data_validation.gate import ValidationOutcome
from data_validation.partitioned import check_partitions
from delivery import delivered, dispatch
from delivery.request import DispatchRequest, DispatchResult
from evaluation import baselines
from evaluation.baselines import Baselines
from evaluation.holdout import Evaluation, EvaluationRules, evaluate_challenger
from model_monitoring import drift, retrain
from model_monitoring.measures import DriftSummary, Measured, ModelScores
from registry import card, history, models, promotion, release, rollback, servable, tracking
from registry.models import ModelFiles, RegisteredVersion
from registry.release import Release
from registry.servable import PendingServedCheck, ServedCheck
from runs import batches, derived, ledger, pieces, predictions, versions
from runs.errors import BatchReadError
from runs.links import tracking_links
from runs.record import DecisionRecord, render_record, write_record
from training.cluster import fit_on_cluster
from training.fit import TrainingResult, fit_on_files
from training.model_code import predict_scores, served_output
from training.params import TrainingParams
from training.served import (
    BoosterScorer,
    input_example,
    model_artifacts,
    model_code_path,
    model_code_paths,
    score_partition,
)


def is_transient_failure(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only network trouble and server-side errors, never a gate or a 4xx."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, BaseException) and dispatch.is_transient_error(error)


P = ParamSpec("P")
R = TypeVar("R")
# No run is ever served from a cache: each batch is new data, and a cached gate would be wrong.
# Prefect's default policy would also hash every input, pickling whole DataFrames on each call
# (1.7-2.9 s per task for a 1M-row frame here).
UNCACHED: dict[str, Any] = {"cache_policy": NO_CACHE}
# Registry calls retry briefly on network trouble; a failed gate or a 4xx is never retried.
REGISTRY: dict[str, Any] = {
    **UNCACHED,
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": is_transient_failure,
}


def _client(settings: MlflowSettings) -> MlflowClient:
    return tracking.connect(settings.tracking_uri)


def _scorer(version: RegisteredVersion) -> BoosterScorer:
    return BoosterScorer.from_artifacts(models.read_model_artifacts(version.uri))


def _on_registry(
    fn: Callable[Concatenate[MlflowClient, P], R],
) -> Task[Concatenate[MlflowSettings, P], R]:
    """A registry step as a task: it takes the MLflow settings and opens the client itself."""

    def call(settings: MlflowSettings, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return fn(tracking.connect(settings.tracking_uri), *args, **kwargs)

    call.__name__, call.__qualname__, call.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    return task(call, **REGISTRY)


# Steps that are one plain function already: the task is that function, run by Prefect.
find_batch = task(ledger.pending_batch, **UNCACHED)
read_ledger = task(ledger.read_ledger, **UNCACHED)
record_batch = task(ledger.append_entry, **UNCACHED)
quarantine_batch = task(quarantine.quarantine_batch, **UNCACHED)
track_data = task(versions.track_each, **UNCACHED)
push_data = task(versions.push_pending, **UNCACHED)
restore_data = task(versions.restore_in_place, **UNCACHED)
is_tracked = versions.is_tracked


def data_manifest(files: Sequence[Path], root: Path, store: versions.Store | None) -> Manifest:
    """The training files by path, sha256 and DVC md5, with the pointer tracking each one."""
    return versions.with_dvc_hashes(store, batches.build_manifest(files, root))


pointer_revision = versions.revision
read_data = task(derived.read_training_data, **UNCACHED)
measure = task(drift.monitor_batch, **UNCACHED)
decide_retrain = task(retrain.decide_retrain, **UNCACHED)
train = task(fit_on_files, **UNCACHED)
sample_pieces = task(pieces.sample_pieces, **UNCACHED)
judge_challenger = task(promotion.judge_challenger, **UNCACHED)
save_predictions = task(predictions.save_predictions, **UNCACHED)
get_production = _on_registry(models.get_aliased_version)
training_manifest = _on_registry(models.load_training_manifest)
get_version = _on_registry(models.get_version)
apply_promotion = _on_registry(promotion.apply_verdict)
log_model_card = _on_registry(models.log_model_card)
rebaseline = _on_registry(models.rebaseline)
resume_release = _on_registry(rollback.resume_interrupted)
rollback_of_batch = _on_registry(history.rollback_of_batch)
note_ledger_entry = _on_registry(tracking.note_ledger_entry)
recorded_entry = _on_registry(tracking.recorded_entry)
artifact_location = _on_registry(tracking.artifact_location)


@task(**UNCACHED)
def validate_batch(
    gx_root: Path, spec: DatasetSpec, path: Path, *, sample_rows: int, ledger_path: Path
) -> tuple[pd.DataFrame, ValidationOutcome]:
    """Read the batch, derive its columns and run it through the dataset's suite.

    Lags and rolling statistics look back on the accepted history in `ledger_path`. A file
    that is not a table fails as unreadable (so it is quarantined like any other).
    """
    try:
        frame = derived.read_derived(path, spec, ledger_path)
    except BatchReadError as exc:
        if not path.is_file():
            raise  # nothing left to quarantine
        return pd.DataFrame(), quarantine.unreadable_outcome(str(exc))
    reference = partial(_reference, spec)
    outcome = gate.check_batch(
        gx_root, spec, frame, reference, sample_rows=sample_rows, batch=path.name
    )
    return frame, outcome


@task(**UNCACHED)
def validate_folder(
    gx_root: Path, spec: DatasetSpec, path: Path, *, sample_rows: int, engine: Engine
) -> tuple[pd.DataFrame, ValidationOutcome, Partitions | None]:
    """Validate a folder dataset partition by partition (see `check_partitions`).

    Returns the sample the whole suite saw, the outcome, and the partitions (None when the
    folder cannot be read piece by piece: it fails as unreadable, and is quarantined).
    """
    try:
        pieces.check_piecewise(spec, f"batch {path.name}")
        parts = open_partitions(path)
    except (BatchReadError, PartitionError) as exc:
        return pd.DataFrame(), quarantine.unreadable_outcome(str(exc)), None
    reader = pieces.piece_reader(spec)
    frame, outcome = check_partitions(
        gx_root,
        spec,
        engine,
        parts,
        read=reader,
        load_reference=partial(_reference, spec),
        sample_rows=sample_rows,
        batch=path.name,
    )
    return frame, outcome, parts


def _reference(spec: DatasetSpec) -> pd.DataFrame:
    return derived.derive(batches.read_batch(spec.reference, types=spec.column_types), spec)


@task(**REGISTRY)
def score_batch(
    settings: MlflowSettings,
    version: RegisteredVersion,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DatasetSpec,
) -> ModelScores:
    """Score the reference and the batch with a registered model; read its calibration."""
    columns, scorer = list(spec.served_columns), _scorer(version)  # only the model's inputs
    calibration = models.load_calibration(_client(settings), version.run_id)
    reference_scores, current_scores = (
        scorer.predict(reference[columns]),
        scorer.predict(current[columns]),
    )
    return ModelScores(
        reference_scores, current_scores, spec.task.value, version.classes, calibration
    )


@task(**REGISTRY)
def score_pieces(
    version: RegisteredVersion, engine: Engine, parts: Partitions, spec: DatasetSpec
) -> tuple[pd.DataFrame, Any]:
    """Score every row of the pieces with a registered model, partition by partition.

    Returns every row's label (a frame with the target column; no column when no piece has
    one) and the model's outputs, in the pieces' order.
    """
    scored = each_partition(
        engine,
        parts,
        score_partition,
        _scorer(version),
        list(spec.served_columns),
        spec.target,
        read=pieces.piece_reader(spec),
    )
    labels = [
        lab if lab is not None else pd.Series([None] * len(s), dtype="object") for lab, s in scored
    ]
    frame = (
        pd.DataFrame({spec.target: pd.concat(labels, ignore_index=True)})
        if any(lab is not None for lab, _ in scored)
        else pd.DataFrame(index=pd.RangeIndex(sum(len(s) for _, s in scored)))
    )
    outputs = [s for _, s in scored]
    joined = (
        pd.concat(outputs, ignore_index=True)
        if isinstance(outputs[0], pd.DataFrame)
        else np.concatenate([np.asarray(s) for s in outputs])
    )
    return frame, joined


@task(**UNCACHED)
def train_on_cluster(
    engine: Engine,
    manifest: Manifest,
    root: Path,
    spec: DatasetSpec,
    params: TrainingParams,
    *,
    seen_files: set[str],
    file_weights: dict[str, float],
    tuning_rows: int,
) -> TrainingResult:
    """Train the challenger on the cluster, reading the manifest's files piece by piece."""
    pieces.check_piecewise(spec, "the training data")
    found = pieces.manifest_pieces(manifest, root)
    return fit_on_cluster(
        engine,
        [(p.path, p.source) for p in found],
        pieces.piece_reader(spec),
        spec,
        params,
        seen_files=seen_files,
        file_weights=file_weights,
        tuning_rows=tuning_rows,
    )


@task(**REGISTRY)
def log_monitoring(
    settings: MlflowSettings,
    batch: str,
    summary: DriftSummary,
    report: Path,
    params: dict[str, Any],
    *,
    spec: DatasetSpec,
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    manifest: Manifest,
) -> str:
    """Record the measurement in the MLflow monitoring experiment, with the data it measured.

    The batch is logged as found in the spec's incoming folder, hashed by its file's sha256 when
    `params` has it (a monitored batch); a scored batch is hashed by its rows.
    """
    client, experiment = _client(settings), settings.monitoring_experiment
    found = tracking.ensure_experiment(client, experiment, settings.artifact_root)
    stage, version = str(params.get("stage", "monitor")), params.get("model_version")
    sha256 = params.get("sha256")
    measured = tracking.dataset_input(
        batch,
        context="batch",
        digest=str(sha256) if sha256 else tracking.frame_digest(frame),
        source=tracking.project_path(spec.incoming / batch) if sha256 else batch,
        frame=frame,
        target=spec.target if spec.target in frame.columns else None,
    )
    return tracking.log_monitoring_run(
        found,
        name=tracking.run_name(stage, spec.name, batch, version),
        batch=batch,
        metrics=summary.as_metrics(),
        params=params,
        report=report,
        summary=asdict(summary),
        stage=stage,
        inputs=[measured, *tracking.file_inputs(manifest, context="reference", frame=reference)],
    )


@task(**REGISTRY)
def register(
    settings: MlflowSettings,
    spec: DatasetSpec,
    result: TrainingResult,
    *,
    manifest: Manifest,
    tags: dict[str, str],
    workdir: Path,
) -> RegisteredVersion:
    """Log the challenger (XGBoost format, signature, input example, datasets) and register it."""
    experiment = tracking.ensure_experiment(
        _client(settings), settings.training_experiment, settings.artifact_root
    )
    example, output = input_example(result, spec)
    return models.log_model_version(
        experiment,
        name=spec.name,
        files=ModelFiles(
            code=model_code_path(),
            artifacts=model_artifacts(result, workdir),
            imports=model_code_paths(),
        ),
        params=result.params,
        metrics=result.metrics,
        example=example,
        example_output=output,
        manifest=manifest,
        tags=tags,
        classes=result.schema["classes"],
        tuning=result.tuning,
        calibration=result.calibration,
        trials=[asdict(t) for t in result.trials],
        batch=tracking.batch_file(manifest, tags.get(release.BATCH_TAG)),
        purpose=card.purpose(spec.name, spec.task.value, spec.target, spec.served_columns),
        inputs=tracking.training_inputs(
            manifest, result.holdout, dataset=spec.name, target=spec.target
        ),
    )


# Not a task: it returns a running process, which Prefect would try to keep as a result.
def start_served_check(
    settings: MlflowSettings,
    version: RegisteredVersion,
    result: TrainingResult,
    spec: DatasetSpec,
    *,
    rows: int,
    workdir: Path,
    timeout_seconds: float,
) -> PendingServedCheck:
    """Start loading the registered version through MLflow in a fresh process, on the holdout."""
    uri = tracking.absolute_uri(settings.tracking_uri)
    sample = result.holdout[list(spec.served_columns)].head(rows)
    return servable.start_served_check(
        version.uri,
        sample,
        tracking_uri=uri,
        registry_uri=uri,
        workdir=workdir,
        timeout_seconds=timeout_seconds,
    )


@task(**REGISTRY)
def finish_served_check(
    settings: MlflowSettings,
    version: RegisteredVersion,
    result: TrainingResult,
    pending: PendingServedCheck,
    *,
    rows: int,
    tolerance: float,
) -> ServedCheck:
    """Compare the fresh process's answers with the booster's, and tag the version with it."""
    sample = result.holdout.head(rows)
    scores = predict_scores(result.booster, sample, result.schema)
    check = pending.result(served_output(scores, sample, result.schema), tolerance=tolerance)
    mark = servable.mark_servable if check.servable else servable.mark_not_servable
    mark(_client(settings), version.name, version.version, check)
    return check


@task(**UNCACHED)
def evaluate(
    result: TrainingResult,
    champion: RegisteredVersion | None,
    spec: DatasetSpec,
    rules: EvaluationRules,
    measured: Measured,
) -> Evaluation:
    """Score the champion on the challenger's holdout and measure how the two differ."""
    holdout, columns = result.holdout, list(spec.served_columns)
    theirs = (_scorer(champion).predict(holdout[columns]), champion.classes) if champion else None
    ours = (predict_scores(result.booster, holdout, result.schema), result.schema["classes"])
    return evaluate_challenger(
        holdout,
        spec,
        challenger=ours,
        champion=theirs,
        metric=measured.metric,
        watch=measured.watch,
        rules=rules,
    )


@task(**REGISTRY)
def score_baselines(
    settings: MlflowSettings, spec: DatasetSpec, paths: list[Path], ledger_path: Path, metric: str
) -> Baselines:
    """Score a replay's labelled batches as never retraining (its first model) would have."""
    frames = {p.name: derived.read_derived(p, spec, ledger_path) for p in paths}
    try:
        first = models.get_version(_client(settings), spec.name, "1")
    except MlflowException:
        first = None  # the replay registered no model
    scorer = _scorer(first) if first else None
    columns = list(spec.served_columns)
    return baselines.score_baselines(
        frames,
        spec,
        metric=metric,
        first=(lambda frame: scorer.predict(frame[columns])) if scorer else None,
        classes=first.classes if first else [],
    )


# No task-level retries: the dispatch retries itself, honouring Retry-After and rate limits
# (at most `github.attempts` requests and 600 s of waiting), so the two layers never multiply.
@task(**UNCACHED)
def dispatch_release(
    settings: MlflowSettings,
    github: GitHubSettings,
    done: Release,
    request: DispatchRequest,
    dry_run: Path,
) -> DispatchResult:
    """Ask CD to ship the released version once (no token: record the request), then close it."""
    client = _client(settings)
    result = delivered.tell_cd_once(client, done, request, github, dry_run_path=dry_run)
    release.close_release(client, done, result.note)
    return result


@task(**UNCACHED)
def write_decision_record(
    record: DecisionRecord, path: Path, tracking_uri: str, *, card: str | None = None
) -> Path:
    """Write the run's decision record (markdown, HTML) and publish it as a Prefect artifact.

    The files link to the evidence relatively; the artifact, read in the Prefect UI, links only
    what resolves there (the MLflow run pages, with a tracking server) and names the rest.
    """
    written = write_record(record, path, card=card)
    create_markdown_artifact(
        markdown=render_record(record, tracking_links(tracking_uri)),
        key=f"decision-{record.dataset}".lower().replace("_", "-"),
        description=f"driftloop decision for {record.batch}",
    )
    return written
