"""The flows: retraining (one batch through the loop), monitoring, scoring, simulation (replay).

Each flow lists its stages in order, and every early exit is a `return` (or `raise`) here.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger

from compute.engine import LOCAL, Engine
from compute.partitions import Partitions, is_partitioned
from config.manifest import Manifest, content_hashes
from config.settings import PolicyName, Settings, get_settings
from config.spec import DatasetSpec, load_spec
from data_validation.errors import DataValidationError
from data_validation.gate import ValidationOutcome
from data_validation.quarantine import changed_outcome, rejection
from delivery.request import DispatchResult
from model_monitoring.measures import Measured, ModelScores
from model_monitoring.report import sample_rows
from model_monitoring.retrain import new_labelled_rows
from pipeline import notices, params, tasks
from pipeline.faults import BatchProcessingError, guarded, quarantine_fault
from pipeline.outcomes import (
    Run,
    announce,
    finish,
    model_card,
    notify_failed_run,
    reject,
    retrain_notice,
    unnamed_notice,
)
from pipeline.preflight import checked_spec
from registry.errors import RegistryError
from registry.models import RegisteredVersion
from registry.promotion import PromotionDecision, unless_unservable
from registry.release import BATCH_TAG, RegistryAction, Release
from runs.batches import (
    SOURCE_COLUMN,
    BatchFile,
    build_manifest,
    check_reference,
    check_replay_folders,
    copy_batches,
)
from runs.errors import BatchReadError, DataVersionError
from runs.ledger import accepted_entries, changed_in_place, regime_files, restored_entry
from runs.outcome import Outcome, RunSummary, ScoringSummary
from runs.pieces import has_folders, manifest_pieces, piece_partitions
from runs.timeline import clear_replay, write_timeline
from runs.versions import Store
from training.errors import TrainingError
from training.fit import TrainingResult

# How long a monitoring run waits for a run of its dataset that holds the run lock.
MONITOR_WAIT = 10.0


@flow(name="retraining", on_failure=[notify_failed_run])
def retraining_flow(
    spec: str | None = None, batch: str | None = None, force_retrain: bool = False
) -> RunSummary:
    """Process the next incoming batch (or `batch`) through the whole loop.

    Args:
        spec: Dataset spec YAML (default: settings `paths.spec`).
        batch: A specific batch file; default: the first unprocessed file in the spec's incoming.
        force_retrain: Retrain whatever the monitor says.
    """
    settings, dataset = _start(spec)
    with params.run_lock(settings, dataset.name):
        complete_interrupted_release(settings, dataset.name)
        explicit = Path(batch) if batch else None
        pending = _next_batch(settings, dataset, explicit)
        if pending is None:
            where = (
                f"{batch} was already processed" if batch else f"nothing new in {dataset.incoming}"
            )
            get_run_logger().info("no new batch: %s", where)
            return RunSummary(None, Outcome.NO_NEW_BATCH, where)
        with params.engine(settings) as engine:
            return process_batch(settings, dataset, pending, force=force_retrain, engine=engine)


def _next_batch(
    settings: Settings, dataset: DatasetSpec, explicit: Path | None
) -> BatchFile | None:
    """The batch to process next, restoring the entries of batches the ledger lost.

    A batch the tracking store says a finished run processed gets its entry back instead of
    being processed again, so a lost or emptied ledger never replays history.
    """
    while True:
        pending = tasks.find_batch(
            settings.paths.ledger,
            dataset.incoming,
            explicit=explicit,
            dataset=dataset.name,
            **params.arrival(settings),
        )
        if pending is None:
            return None
        monitoring = settings.mlflow.monitoring_experiment
        found = tasks.recorded_entry(settings.mlflow, monitoring, dataset.name, pending.sha256)
        try:
            restored = restored_entry(found) if found is not None else None
        except TypeError:  # a noted entry missing fields: not one to restore
            restored = None
        if restored is None:
            return pending
        get_run_logger().warning(
            "the ledger has no entry for %s, which run %s processed: restored from the "
            "tracking store",
            pending.path.name,
            restored.run_id,
        )
        tasks.record_batch(settings.paths.ledger, restored)


def process_batch(
    settings: Settings,
    dataset: DatasetSpec,
    batch: BatchFile,
    *,
    force: bool = False,
    engine: Engine = LOCAL,
) -> RunSummary:
    """Validate, measure, decide, train, register, evaluate, promote, dispatch, record.

    A batch whose data a stage before the registry fails on is quarantined with the stage and
    the error (the run fails as a rejection does); a challenger that cannot be trained (too few
    rows, one class) leaves the champion in place and the batch accepted. The heavy work (a
    folder batch's partitions, training with the dask engine) runs on `engine`.
    """
    run = Run(settings, dataset, batch, engine=engine)
    run.open_data()
    try:
        return _process(run, force=force)
    except BatchProcessingError as fault:
        raise quarantine_fault(run, fault) from fault.error
    except TrainingError as exc:
        return finish(run, Outcome.KEPT, f"kept the production model: no challenger ({exc})")


# Every stage is a visible call here, so this reads longer than the usual function.
def _process(run: Run, *, force: bool) -> RunSummary:
    settings, dataset, batch = run.settings, run.dataset, run.batch
    earlier = changed_in_place(tasks.read_ledger(settings.paths.ledger, dataset.name), batch)
    if earlier is not None:
        run.validation = changed_outcome(batch.path.name, earlier.sha256, earlier.at)
        raise reject(run)
    with run.clock("validate"):
        frame, validation = _validate(run)
    if not validation.success:
        raise reject(run)
    with run.clock("version"):
        _version_accepted(run)
    run.production = production = _production(settings, dataset)
    if production is not None and production.tags.get(BATCH_TAG) == batch.sha256:
        done = f"v{production.version} was trained on this batch and released by an earlier run"
        return finish(run, Outcome.PROMOTED, done, version=production.version)
    alias = settings.promotion.production_alias
    undone = tasks.rollback_of_batch(settings.mlflow, dataset.name, batch.sha256, alias)
    if undone is not None and not force:
        why = (
            f"v{undone.from_version}, trained on this batch, was rolled back to "
            f"v{undone.to_version} by {undone.actor} at {undone.at} ({undone.reason}); not "
            "trained on it again (`--force-retrain` would)"
        )
        return finish(run, Outcome.KEPT, why, version=undone.from_version)
    with guarded(run, "monitor"):
        run.measured = measured = _monitor(run, frame, production)
    entries = tasks.read_ledger(settings.paths.ledger, dataset.name)
    regime = regime_files(entries, dataset.reference, batch.path if run.labelled else None)
    trained_on = content_hashes(measured.manifest) if production else set()
    unseen = new_labelled_rows(
        run.rows, labelled=run.labelled, batch=batch.sha256, trained_on=trained_on
    )
    run.decision = decision = tasks.decide_retrain(
        measured.drift,
        accepted_entries(entries),
        rules=params.retrain_rules(settings, dataset),
        watch=measured.watch,
        baselines=production.baselines if production else {},
        force=force,
        new_labelled_rows=unseen,
        regime_files=len(regime),
        model_files=len(trained_on),
    )
    if not decision.retrain:
        kept = Outcome.DRY_RUN if decision.would_retrain else Outcome.KEPT
        return finish(run, kept, str(decision))
    announce(settings, retrain_notice(run))
    with guarded(run, "train"):
        files = params.training_files(settings, regime, batch.path, starts_regime=run.starts_regime)
        run.training_data = manifest = tasks.data_manifest(files, Path.cwd(), run.store)
        run.training = result = _train(run, manifest, frame, trained_on)
    with run.clock("register"), tempfile.TemporaryDirectory() as workdir:
        tags = params.version_tags(manifest, decision.reasons, batch.sha256, run.store)
        run.challenger = challenger = tasks.register(
            settings.mlflow, dataset, result, manifest=manifest, tags=tags, workdir=Path(workdir)
        )
    with run.clock("evaluate"):
        verdict = _judge(run, result, challenger, measured)
    with run.clock("promote"), params.release_lock(settings, dataset.name):
        run.action = action = tasks.apply_promotion(
            settings.mlflow,
            challenger,
            verdict,
            production,
            batch=batch.sha256,
            actor=params.actor(),
            aliases=params.aliases(settings),
            approval=settings.promotion.approval,
            starts_regime=run.starts_regime,
        )
        run.card = model_card(run)
        tasks.log_model_card(settings.mlflow, challenger, run.card)
        if action.release is not None:
            run.dispatched = _dispatch(settings, action.release, challenger)
    outcome, message = _promotion_outcome(run, verdict, action)
    measured_now = run.evaluation.champion_metrics if run.evaluation else None
    if outcome is Outcome.CHALLENGER_LOST and production and measured_now:
        tasks.rebaseline(settings.mlflow, production, measured_now, challenger.version)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(measured_now.items()))
        message += (
            f"; v{production.version}'s baselines are now its metrics on this holdout ({shown})"
        )
    return finish(run, outcome, message, version=challenger.version)


def _train(
    run: Run, manifest: Manifest, frame: pd.DataFrame, trained_on: set[str]
) -> TrainingResult:
    """Fit the challenger: on the cluster with the dask engine, else on one frame here."""
    settings, dataset = run.settings, run.dataset
    weights = params.file_weights(settings, manifest)
    if run.engine.distributed:
        return tasks.train_on_cluster(
            run.engine,
            manifest,
            Path.cwd(),
            dataset,
            params.training_params(settings),
            seen_files=trained_on,
            file_weights=weights,
            tuning_rows=settings.engine.tuning_rows,
        )
    assert run.measured is not None  # measured before any training
    known = dict(run.measured.frames)
    if run.parts is None:  # a folder batch's frame is a sample: read whole instead
        known[run.batch.sha256] = frame
    data = tasks.read_data(manifest, Path.cwd(), dataset, source_column=SOURCE_COLUMN, known=known)
    return tasks.train(
        data,
        dataset,
        params.training_params(settings),
        source_column=SOURCE_COLUMN,
        seen_files=trained_on,
        file_weights=weights,
    )


def _judge(
    run: Run, result: TrainingResult, challenger: RegisteredVersion, measured: Measured
) -> PromotionDecision:
    """Evaluate the challenger against production and check that its registered model serves.

    The registered model loads and scores in a fresh process while the holdout is judged; a
    version that does not serve as it scored is never released, whatever the gates say.
    """
    settings, dataset, check = run.settings, run.dataset, run.settings.promotion
    if not check.served_check:
        get_run_logger().warning(
            "the served check is off (DRIFTLOOP_PROMOTION__SERVED_CHECK=false): %s v%s is not "
            "loaded through MLflow before a release",
            challenger.name,
            challenger.version,
        )
        run.promotion = _evaluate(run, result, measured)
        return run.promotion
    with tempfile.TemporaryDirectory() as workdir:
        serving = tasks.start_served_check(
            settings.mlflow,
            challenger,
            result,
            dataset,
            rows=check.served_check_rows,
            workdir=Path(workdir),
            timeout_seconds=check.served_check_timeout_seconds,
        )
        try:
            judged = _evaluate(run, result, measured)
            served = tasks.finish_served_check(
                settings.mlflow,
                challenger,
                result,
                serving,
                rows=check.served_check_rows,
                tolerance=check.served_check_tolerance,
            )
        finally:
            serving.cancel()  # never outlives the run (a no-op once it has answered)
    run.served = served
    run.promotion = verdict = unless_unservable(judged, served)
    return verdict


def _evaluate(run: Run, result: TrainingResult, measured: Measured) -> PromotionDecision:
    """Score the champion on the challenger's holdout and apply the promotion rule."""
    settings, dataset = run.settings, run.dataset
    rules = params.evaluation_rules(settings)
    run.evaluation = evaluation = tasks.evaluate(result, run.production, dataset, rules, measured)
    rule = params.promotion_rule(settings, dataset)
    return tasks.judge_challenger(rule, result.metrics, evaluation)


def _promotion_outcome(
    run: Run, verdict: PromotionDecision, action: RegistryAction
) -> tuple[Outcome, str]:
    if run.served is not None and not run.served.servable:
        return Outcome.NOT_SERVABLE, verdict.reason
    if action.lost:
        return Outcome.LOST_RACE, action.lost
    if action.awaiting:
        return Outcome.AWAITING_APPROVAL, action.awaiting
    if action.release is None:
        return Outcome.CHALLENGER_LOST, verdict.reason
    return Outcome.PROMOTED, verdict.reason


@flow(name="monitoring", on_failure=[notify_failed_run])
def monitoring_flow(spec: str | None = None, batch: str | None = None) -> RunSummary:
    """Validate and measure the next batch (or `batch`) and write its record; never trains.

    A batch that fails validation is quarantined as in the retraining flow. A measured batch is
    noted in the ledger as "monitored": later monitoring runs skip it, the retraining flow still
    processes it.

    Args:
        spec: Dataset spec YAML (default: settings `paths.spec`).
        batch: A specific batch file; default: the first one no run has handled yet.
    """
    settings, dataset = _start(spec)
    # It takes turns with the retraining runs, as both append to the dataset's ledger; but it
    # never waits out a retrain: the next monitoring run measures what this one leaves.
    with ExitStack() as held:
        try:
            held.enter_context(params.run_lock(settings, dataset.name, timeout=MONITOR_WAIT))
        except TimeoutError:
            busy = f"another run of {dataset.name} is under way; the next monitoring run measures"
            get_run_logger().info("busy: %s", busy)
            return RunSummary(None, Outcome.BUSY, busy)
        engine = held.enter_context(params.engine(settings))
        return _monitor_next(settings, dataset, Path(batch) if batch else None, engine)


def _monitor_next(
    settings: Settings, dataset: DatasetSpec, explicit: Path | None, engine: Engine
) -> RunSummary:
    pending = tasks.find_batch(
        settings.paths.ledger,
        dataset.incoming,
        explicit=explicit,
        monitoring=True,
        dataset=dataset.name,
        **params.arrival(settings),
    )
    if pending is None:
        message = f"no unmonitored batch in {dataset.incoming}"
        get_run_logger().info("no new batch: %s", message)
        return RunSummary(None, Outcome.NO_NEW_BATCH, message)
    run = Run(settings, dataset, pending, engine=engine)
    run.open_data()
    with run.clock("validate"):
        frame, validation = _validate(run)
    if not validation.success:
        raise reject(run)
    with run.clock("version"):
        _version_accepted(run)
    run.production = _production(settings, dataset)
    with run.clock("monitor"):
        run.measured = _monitor(run, frame, run.production)
    measured = "measured; this run never trains"
    return finish(run, Outcome.MONITORED, measured, status="monitored")


@flow(name="scoring", on_failure=[notify_failed_run])
def scoring_flow(batch: str, spec: str | None = None, out: str | None = None) -> ScoringSummary:
    """Score a batch with the production model and feed its prediction drift into monitoring.

    The batch passes the same expectation suite as training batches (its unlabelled variant when
    it has no target); a failing batch is not scored. Predictions are written with the model
    version on every row. The batch is not recorded in the run ledger: scoring never trains.

    Args:
        batch: CSV or Parquet file to score, inside the project (see
            `paths.allow_outside_project`).
        spec: Dataset spec YAML (default: settings `paths.spec`).
        out: Output file (`.parquet` or CSV) inside `paths.predictions`; default:
            `<paths.predictions>/<batch>.v<N>.csv`. A path leading outside it is refused.

    Raises:
        DataValidationError: the batch fails the dataset's suite (nothing is scored).
        RegistryError: there is no production model yet.
    """
    settings, dataset = _start(spec)
    chosen = params.chosen_predictions_path(settings, out)
    path = params.scored_batch_path(settings, batch)
    if is_partitioned(path):
        raise BatchReadError(
            f"{path.name} is a folder dataset: the scoring flow scores one file at a time "
            "(score its partitions one by one)"
        )
    frame, validation = tasks.validate_batch(
        settings.paths.gx_root,
        dataset,
        path,
        sample_rows=settings.validation.sample_rows,
        ledger_path=settings.paths.ledger,
    )
    if not validation.success:
        raise rejection(validation, path.name, path, None)
    unnamed = dataset.unnamed_columns(frame.columns)
    if unnamed:
        notice = notices.unnamed_notice(dataset.name, unnamed, batch=path.name)
        get_run_logger().warning("%s: %s", path.name, notice.summary)
        announce(settings, notice)
    production = _production(settings, dataset)
    if production is None:
        raise RegistryError(f"{dataset.name} has no production model yet: run the retraining flow")
    logged = {"batch": path.name, "stage": "score", "model_version": production.version}
    store = params.data_store(settings)[0]
    measured, scores = _measure(
        settings, dataset, frame, production, stage="scoring", logged=logged, store=store
    )
    assert scores is not None  # scored by the production model
    written = tasks.save_predictions(
        frame,
        scores.current,
        task=dataset.task.value,
        classes=production.classes,
        model_name=production.name,
        model_version=production.version,
        path=chosen or params.predictions_path(settings, path, production),
        level=params.level(dataset),
    )
    drift = measured.drift.prediction
    summary = ScoringSummary(
        batch=path.name,
        rows=len(frame),
        model_version=production.version,
        predictions=str(written),
        prediction_drift=drift.score if drift else None,
        prediction_drifted=bool(drift and drift.drifted),
        report=str(measured.report),
    )
    get_run_logger().info("%s", summary)
    return summary


@flow(name="simulation")
def simulation_flow(
    spec: str, batches: str, out: str, policy: PolicyName | None = None
) -> list[RunSummary]:
    """Replay a history of batches through the real loop and write its timeline.

    Everything the replay touches lives under `out` (its own registry, ledger, GX results and
    reports); the batch files are copied first, so the originals are never moved.

    Args:
        spec: Dataset spec YAML; its reference is the starting training data.
        batches: Folder of batch files, replayed in name order.
        out: Output folder: `timeline.csv`, `timeline.png`, `timeline.html`, `reports/`.
        policy: A named retrain policy (default: the configured one).
    """
    params.show_stage_logs()
    root = Path(out).resolve()
    original = load_spec(Path(spec))
    check_replay_folders(Path(batches), root, original.reference)
    clear_replay(root, keep=Path(batches))
    settings = params.replay_settings(get_settings(), root, policy)
    dataset = original.model_copy(update={"incoming": root / "incoming"})
    check_reference(dataset)
    with params.engine(settings) as engine:
        summaries = _replay(settings, dataset, Path(batches), engine)
    replayed = [
        dataset.incoming / s.batch
        for s in summaries
        if s.batch and s.outcome not in (Outcome.REJECTED, Outcome.DUPLICATE)
    ]
    metric = params.metric(settings, dataset)
    baselines = tasks.score_baselines(
        settings.mlflow, dataset, replayed, settings.paths.ledger, metric
    )
    rows = [asdict(s) for s in summaries]
    written = write_timeline(rows, root, policy=settings.policy.name, baselines=baselines)
    get_run_logger().info("simulation of %d batches written to %s", len(summaries), written)
    return summaries


def _replay(
    settings: Settings, dataset: DatasetSpec, batches: Path, engine: Engine
) -> list[RunSummary]:
    summaries = []
    for path in copy_batches(batches, dataset.incoming):
        pending = tasks.find_batch(
            settings.paths.ledger, dataset.incoming, explicit=path, dataset=dataset.name
        )
        if pending is None:
            same = "same content as an earlier batch: skipped"
            summaries.append(RunSummary(path.name, Outcome.DUPLICATE, same))
            continue
        try:
            summaries.append(process_batch(settings, dataset, pending, engine=engine))
        except DataValidationError as exc:
            broken = f"{len(exc.failures)} broken expectations"
            rejected = RunSummary(
                path.name, Outcome.REJECTED, broken, decision="rejected", reasons=exc.failures
            )
            summaries.append(rejected)
    return summaries


def complete_interrupted_release(settings: Settings, name: str) -> None:
    """Finish a release a crashed run left open: the alias moves again, then CD, once."""
    with params.release_lock(settings, name):
        interrupted = tasks.resume_release(settings.mlflow, name, params.aliases(settings))
        if interrupted is not None:
            version = tasks.get_version(settings.mlflow, name, interrupted.to_version)
            _dispatch(settings, interrupted, version)


def _start(spec: str | None) -> tuple[Settings, DatasetSpec]:
    params.show_stage_logs()
    settings = get_settings()
    return settings, checked_spec(settings, spec)


def _production(settings: Settings, dataset: DatasetSpec) -> RegisteredVersion | None:
    alias = settings.promotion.production_alias
    return tasks.get_production(settings.mlflow, dataset.name, alias)


def _validate(run: Run) -> tuple[pd.DataFrame, ValidationOutcome]:
    """Validate the batch; a folder batch partition by partition (its frame is then a sample)."""
    parts = None
    if is_partitioned(run.batch.path):
        frame, outcome, parts = tasks.validate_folder(
            run.settings.paths.gx_root,
            run.dataset,
            run.batch.path,
            sample_rows=run.settings.validation.sample_rows,
            engine=run.engine,
        )
    else:
        frame, outcome = tasks.validate_batch(
            run.settings.paths.gx_root,
            run.dataset,
            run.batch.path,
            sample_rows=run.settings.validation.sample_rows,
            ledger_path=run.settings.paths.ledger,
        )
    run.validated(frame, outcome, parts)
    if run.unnamed and outcome.success:
        announce(run.settings, unnamed_notice(run))
    return frame, outcome


def _restore_missing(store: Store | None, manifest: Manifest) -> None:
    """Bring back from DVC the champion's training files that are missing here.

    A file DVC cannot bring back is left missing: reading it then fails with what to do.
    """
    if store is None:
        return
    try:
        tasks.restore_data(store, manifest)
    except DataVersionError as exc:
        get_run_logger().warning("the champion's training data is incomplete here: %s", exc)


def _version_accepted(run: Run) -> None:
    """Record the accepted batch (and the reference it is measured against) with DVC."""
    paths = [run.dataset.reference, run.batch.path]
    run.version(paths, f"driftloop: accept {run.batch.name} ({run.dataset.name})")


def _dispatch(settings: Settings, release: Release, version: RegisteredVersion) -> DispatchResult:
    request = params.dispatch_request(settings, version, release)
    dry_run = params.dry_run_path(settings)
    return tasks.dispatch_release(settings.mlflow, settings.github, release, request, dry_run)


def _monitor(run: Run, frame: pd.DataFrame, production: RegisteredVersion | None) -> Measured:
    logged = {"batch": run.batch.name, "sha256": run.batch.sha256}
    return _measure(
        run.settings,
        run.dataset,
        frame,
        production,
        stage="monitor",
        logged=logged,
        store=run.store,
        engine=run.engine,
        parts=run.parts,
    )[0]


def _measure(
    settings: Settings,
    dataset: DatasetSpec,
    frame: pd.DataFrame,
    production: RegisteredVersion | None,
    *,
    stage: str,
    logged: dict[str, str],
    store: Store | None,
    engine: Engine = LOCAL,
    parts: Partitions | None = None,
) -> tuple[Measured, ModelScores | None]:
    """The monitor, as every flow runs it: drift and the production model's health on a batch.

    The drift tests and the model scores use the same sample of what production was trained
    on (the spec's reference before the first model), restored from DVC (`store`) where a
    file of it is missing here. Data with folder datasets is sampled across its partitions
    (never read whole); a folder batch's (`parts`) `frame` is a sample, and the production
    model scores every partition for the realized metrics and estimates.
    """
    manifest: Manifest
    if production is None:
        manifest = build_manifest([dataset.reference], Path.cwd())
    else:
        manifest = tasks.training_manifest(settings.mlflow, production.run_id)
        _restore_missing(store, manifest)
    size, frames = settings.drift.sample_rows, {}
    if parts is not None or has_folders([Path.cwd() / e.path for e in manifest]):
        held = piece_partitions(manifest_pieces(manifest, Path.cwd()), dataset)
        tested = reference = tasks.sample_pieces(engine, held, dataset, size)
        reference_rows = held.total
    else:
        reference = tasks.read_data(manifest, Path.cwd(), dataset)
        tested, reference_rows = sample_rows(reference, size), len(reference)
        frames = {manifest[0].sha256: reference} if len(manifest) == 1 else {}
    # A folder batch's frame is the validation sample: the same draw when the sizes are equal.
    same_draw = parts is None or size == settings.validation.sample_rows
    current = frame if same_draw else tasks.sample_pieces(engine, parts, dataset, size)
    scores, health = None, None
    if production is not None:
        scores = tasks.score_batch(settings.mlflow, production, tested, current, dataset)
        if parts is not None:
            labels, outputs = tasks.score_pieces(production, engine, parts, dataset)
            health = (labels, replace(scores, current=outputs))
    report = settings.paths.reports / f"{stage}-{params.stamp()}.html"
    watch = params.watch(settings, dataset)
    drift = tasks.measure(
        tested,
        frame,
        dataset,
        tests=params.drift_tests(settings),
        watch=watch,
        scores=scores,
        report_path=report,
        reference_rows=reference_rows,
        health=health,
    )
    logged_as = tasks.log_monitoring(
        settings.mlflow,
        logged["batch"],
        drift,
        report,
        logged,
        spec=dataset,
        frame=current,
        reference=reference,
        manifest=manifest,
    )
    metric = params.metric(settings, dataset)
    measured = Measured(drift, report, manifest, metric, watch, frames, logged_as)
    return measured, scores


if __name__ == "__main__":
    retraining_flow()
