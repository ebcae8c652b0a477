"""The flows: retraining (one batch through the whole loop) and simulation (a replayed history)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

from mlflow import MlflowClient
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from config.metrics import DEFAULT_METRIC, watched_metrics
from config.settings import PolicyName, Settings, get_settings
from config.spec import DatasetSpec, load_spec
from data_validation.errors import DataValidationError
from model_monitoring.policy import PolicyRules
from pipeline import shipping, tasks
from pipeline.context import (
    RunContext,
    RunSummary,
    ScoringSummary,
    alias_names,
    drift_reference,
    finish,
    metric_floor,
    new_labelled_rows,
    regime_files,
    reject,
    show_stage_logs,
    stamp,
    training_params,
    training_window,
    version_tags,
)
from pipeline.records import candidates, decision_text, drift_lines, model_card, promotion_text
from registry import tracking
from registry.errors import RegistryError
from registry.release import BATCH_TAG
from runs.batches import SOURCE_COLUMN, BatchFile, content_hash, list_batches
from runs.timeline import write_timeline
from training.slices import slice_regressions


@flow(name="retraining")
def retraining_flow(
    spec: str | None = None, batch: str | None = None, force_retrain: bool = False
) -> RunSummary:
    """Process the next incoming batch (or `batch`) through the whole loop.

    Args:
        spec: Dataset spec YAML (default: settings `paths.spec`).
        batch: A specific batch file; default: the first unprocessed file in the spec's incoming.
        force_retrain: Retrain whatever the monitor says.
    """
    settings = get_settings()
    show_stage_logs()
    dataset = load_spec(Path(spec) if spec else settings.paths.spec)
    with shipping.promotion_lock(settings, dataset.name):
        shipping.complete_interrupted(_client(settings), settings, dataset.name, _deliver(settings))
    pending = tasks.find_batch(dataset, settings.paths.ledger, Path(batch) if batch else None)
    if pending is None:
        message = f"no unprocessed batch in {dataset.incoming}"
        get_run_logger().info("no new batch: %s", message)
        return RunSummary(None, "no new batch", message)
    return process_batch(settings, dataset, pending, force=force_retrain)


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
    show_stage_logs()
    root = Path(out).resolve()
    settings = _isolated_settings(get_settings(), root, policy)
    dataset = load_spec(Path(spec)).model_copy(update={"incoming": root / "incoming"})
    copies = _copy_batches(Path(batches), dataset.incoming)
    summaries = [_replay_one(settings, dataset, path) for path in copies]
    written = write_timeline([asdict(s) for s in summaries], root, policy=settings.policy.name)
    get_run_logger().info("simulation of %d batches written to %s", len(summaries), written)
    return summaries


@flow(name="scoring")
def scoring_flow(batch: str, spec: str | None = None, out: str | None = None) -> ScoringSummary:
    """Score a batch with the production model and feed its prediction drift into monitoring.

    The batch passes the same expectation suite as training batches (its unlabelled variant when
    it has no target); a failing batch is not scored. Predictions are written with the model
    version on every row. The batch is not recorded in the run ledger: scoring never trains.

    Args:
        batch: CSV or Parquet file to score.
        spec: Dataset spec YAML (default: settings `paths.spec`).
        out: Output file (`.parquet` or CSV); default: `<paths.predictions>/<batch>.v<N>.csv`.
    """
    settings = get_settings()
    show_stage_logs()
    dataset = load_spec(Path(spec) if spec else settings.paths.spec)
    path = Path(batch)
    frame = tasks.read_batch(path)
    outcome = tasks.validate_batch(settings.paths.gx_root, dataset, frame)
    if not outcome.success:
        raise DataValidationError(
            f"batch {path.name} failed validation ({len(outcome.failures)} broken "
            f"expectations); not scored; Data Docs {outcome.docs_url}:\n  "
            + "\n  ".join(str(f) for f in outcome.failures),
            failures=tuple(str(f) for f in outcome.failures),
            quarantined_to="",
        )
    production = tasks.get_production(
        settings.mlflow, dataset.name, settings.promotion.production_alias
    )
    if production is None:
        raise RegistryError(f"{dataset.name} has no production model yet: run the retraining flow")
    target = (
        Path(out) if out else settings.paths.predictions / f"{path.stem}.v{production.version}.csv"
    )
    reference, _ = drift_reference(settings, dataset, production)
    scores = tasks.score_batch(settings.mlflow, production, reference, frame, dataset)
    written = tasks.save_predictions(frame, scores, production, dataset, target)
    report = settings.paths.reports / f"scoring-{stamp()}.html"
    metric = settings.promotion.metric or DEFAULT_METRIC[dataset.task.value]
    drift = tasks.monitor_batch(
        reference,
        frame,
        dataset,
        drift=settings.drift,
        watch=watched_metrics(dataset.task.value, metric),
        scores=scores,
        report_path=report,
    )
    tasks.log_monitoring(
        settings.mlflow,
        BatchFile(path, content_hash(path)),
        drift,
        report,
        {"batch": path.name, "stage": "score", "model_version": production.version},
    )
    summary = ScoringSummary(
        batch=path.name,
        rows=len(scores.current),
        model_version=production.version,
        predictions=str(written),
        prediction_drift=drift.prediction.score if drift.prediction else None,
        prediction_drifted=bool(drift.prediction and drift.prediction.drifted),
        report=str(report),
    )
    get_run_logger().info("%s", summary)
    return summary


def process_batch(
    settings: Settings, dataset: DatasetSpec, pending: BatchFile, *, force: bool = False
) -> RunSummary:
    """Validate, monitor, decide, train, evaluate, promote and deliver for one batch."""
    run = RunContext(settings, dataset, pending)
    with run.clock("validate"):
        frame = tasks.read_batch(pending.path)
        outcome = tasks.validate_batch(settings.paths.gx_root, dataset, frame)
    run.start(frame, outcome)
    if not outcome.success:
        reject(run, outcome)
    production = tasks.get_production(
        settings.mlflow, dataset.name, settings.promotion.production_alias
    )
    if production and production.tags.get(BATCH_TAG) == pending.sha256:
        # A run trained and released this batch's model, then died before recording the batch.
        message = f"v{production.version} was trained on this batch and released by an earlier run"
        return finish(run, "promoted", message, production, production.version, promoted=True)
    metric = settings.promotion.metric or DEFAULT_METRIC[dataset.task.value]
    watch = watched_metrics(dataset.task.value, metric)
    with run.clock("monitor"):
        reference, reference_manifest = drift_reference(settings, dataset, production)
        scores = (
            tasks.score_batch(settings.mlflow, production, reference, frame, dataset)
            if production
            else None
        )
        report = settings.paths.reports / f"monitor-{stamp()}.html"
        drift = tasks.monitor_batch(
            reference,
            frame,
            dataset,
            drift=settings.drift,
            watch=watch,
            scores=scores,
            report_path=report,
        )
        tasks.log_monitoring(
            settings.mlflow,
            pending,
            drift,
            report,
            {"batch": pending.name, "sha256": pending.sha256},
        )
    run.measured(metric, drift.realized.get(metric), drift.estimated.get(metric))
    decision = tasks.decide_retrain(
        drift,
        settings.paths.ledger,
        rules=PolicyRules(
            **settings.policy.resolved(), full_window=settings.training.window_batches
        ),
        regime_files=len(regime_files(settings, dataset, run)),
        model_files=len(reference_manifest) if production else 0,
        watch=watch,
        baselines=production.metrics if production else {},
        force=force,
        new_labelled_rows=new_labelled_rows(run, reference_manifest if production else []),
    )
    run.decided(decision)
    run.note(
        drift=drift_lines(drift, metric),
        drift_report=report.resolve().as_uri(),
        decision=decision_text(decision),
    )
    if not decision.retrain:
        kept = "dry run" if decision.would_retrain else "kept production"
        return finish(run, kept, str(decision), production)
    with run.clock("train"):
        manifest, weights = training_window(settings, dataset, run, decision)
        training_frame = tasks.load_training_frame(manifest, Path.cwd(), SOURCE_COLUMN)
        seen = {e["sha256"] for e in reference_manifest} if production else set()
        result = tasks.train_challenger(
            training_frame, dataset, training_params(settings), seen, weights
        )
        run.train_rows = result.train_rows
    with run.clock("register"), tempfile.TemporaryDirectory() as workdir:
        challenger = tasks.register_challenger(
            settings.mlflow,
            dataset,
            result,
            manifest=manifest,
            tags=version_tags(manifest, decision.reasons, pending.sha256),
            workdir=Path(workdir),
        )
    with run.clock("evaluate"):
        evaluation = tasks.evaluate_challenger(
            result, production, dataset, settings.promotion, metric=metric, watch=watch
        )
        verdict = tasks.decide_promotion_task(
            metric=metric,
            challenger=result.metrics[metric],
            comparisons=evaluation.comparisons,
            min_improvement=settings.promotion.min_improvement,
            confidence=settings.promotion.confidence,
            floor=metric_floor(settings, metric),
            slice_regressions=slice_regressions(evaluation.slices) if evaluation.slices else (),
        )
    with run.clock("promote"), shipping.promotion_lock(settings, dataset.name):
        action = tasks.promote(
            settings.mlflow,
            challenger,
            verdict,
            evaluated_against=production.version if production else None,
            actor=shipping.current_actor(str(flow_run.id)),
            batch=pending.sha256,
            aliases=alias_names(settings),
        )
        tasks.publish_model_card(
            settings.mlflow,
            challenger,
            model_card(
                run,
                version=challenger,
                result=result,
                evaluation=evaluation,
                decision=verdict,
                action=action,
                manifest=manifest,
                champion=production,
            ),
        )
        shipped = (
            shipping.ship(_client(settings), settings, action.release, _deliver(settings))
            if action.release
            else None
        )
    run.note(
        candidates=candidates(production, evaluation.champion_metrics, challenger, result.metrics),
        promotion=promotion_text(verdict, action, evaluation),
        registry=[f"`{m.alias}`: {m.from_version} -> {m.to_version}" for m in action.moves],
    )
    if shipped is None:
        reason = action.lost or verdict.reason
        return finish(run, "challenger lost", reason, production, challenger.version)
    run.note(delivery=shipped.delivery.note)
    return finish(run, "promoted", verdict.reason, production, challenger.version, promoted=True)


def _client(settings: Settings) -> MlflowClient:
    return tracking.connect(settings.mlflow.tracking_uri)


def _deliver(settings: Settings) -> shipping.Deliver:
    """The CD hand-off as the flow makes it: the dispatch task, with its retries."""
    return lambda request: tasks.trigger_cd(
        settings.github, request, shipping.dry_run_path(settings)
    )


def _replay_one(settings: Settings, dataset: DatasetSpec, path: Path) -> RunSummary:
    pending = tasks.find_batch(dataset, settings.paths.ledger, path)
    if pending is None:
        return RunSummary(path.name, "duplicate", "same content as an earlier batch: skipped")
    try:
        return process_batch(settings, dataset, pending)
    except DataValidationError as exc:
        return RunSummary(
            path.name,
            "rejected",
            f"{len(exc.failures)} broken expectations",
            decision="rejected",
            reasons=exc.failures,
        )


def _isolated_settings(settings: Settings, root: Path, policy: PolicyName | None) -> Settings:
    paths = settings.paths.model_copy(
        update={
            "reports": root / "reports",
            "quarantine": root / "quarantine",
            "ledger": root / "ledger.jsonl",
            "gx_root": root / "great_expectations",
        }
    )
    tracking = settings.mlflow.model_copy(
        update={
            "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "artifact_root": root / "mlartifacts",
        }
    )
    chosen = settings.policy.model_copy(update={"name": policy}) if policy else settings.policy
    # A replay never asks CI to ship anything: the CD hand-off is recorded, not sent.
    github = settings.github.model_copy(update={"token": None})
    return settings.model_copy(
        update={"paths": paths, "mlflow": tracking, "policy": chosen, "github": github}
    )


def _copy_batches(source: Path, target: Path) -> list[Path]:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    return [Path(shutil.copy2(p, target / p.name)) for p in list_batches(source)]


if __name__ == "__main__":
    retraining_flow()
