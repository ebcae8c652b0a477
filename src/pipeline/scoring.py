"""The scoring run: validate, score with the production model, write, measure prediction drift."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from config.spec import DatasetSpec
from data_validation.errors import DataValidationError
from evaluation.metrics import DEFAULT_METRIC, watched_metrics
from pipeline import tasks
from pipeline.context import ScoringSummary, stamp
from pipeline.inputs import drift_reference, drift_sample
from registry.errors import RegistryError
from runs.batches import BatchFile, content_hash


def score_file(
    settings: Settings, dataset: DatasetSpec, path: Path, out: Path | None
) -> ScoringSummary:
    """Score one file with the production model and feed its drift into monitoring.

    Raises:
        DataValidationError: the batch fails the dataset's suite (nothing is scored).
        RegistryError: there is no production model yet.
    """
    frame = tasks.read_batch(path)
    outcome = tasks.validate_batch(
        settings.paths.gx_root, dataset, frame, sample_rows=settings.validation.sample_rows
    )
    if not outcome.success:
        failures = tuple(str(f) for f in outcome.failures)
        raise DataValidationError(
            f"batch {path.name} failed validation ({len(failures)} broken expectations); not "
            f"scored; Data Docs {outcome.docs_url}:\n  " + "\n  ".join(failures),
            failures=failures,
            quarantined_to="",
        )
    production = tasks.get_production(
        settings.mlflow, dataset.name, settings.promotion.production_alias
    )
    if production is None:
        raise RegistryError(f"{dataset.name} has no production model yet: run the retraining flow")
    target = out or settings.paths.predictions / f"{path.stem}.v{production.version}.csv"
    reference, _ = drift_reference(settings, dataset, production)
    tested = drift_sample(settings, reference)
    scores = tasks.score_batch(settings.mlflow, production, tested, frame, dataset)
    written = tasks.save_predictions(frame, scores, production, dataset, target)
    report = settings.paths.reports / f"scoring-{stamp()}.html"
    metric = settings.promotion.metric or DEFAULT_METRIC[dataset.task.value]
    drift = tasks.monitor_batch(
        tested,
        frame,
        dataset,
        drift=settings.drift,
        watch=watched_metrics(dataset.task.value, metric),
        scores=scores,
        report_path=report,
        reference_rows=len(reference),
    )
    tasks.log_monitoring(
        settings.mlflow,
        BatchFile(path, content_hash(path)),
        drift,
        report,
        {"batch": path.name, "stage": "score", "model_version": production.version},
    )
    return ScoringSummary(
        batch=path.name,
        rows=len(scores.current),
        model_version=production.version,
        predictions=str(written),
        prediction_drift=drift.prediction.score if drift.prediction else None,
        prediction_drifted=bool(drift.prediction and drift.prediction.drifted),
        report=str(report),
    )
