"""Measure feature drift, prediction drift and model health on a batch (Evidently + scipy)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import (
    Dataset,
    Report,
)
from evidently.core.report import Snapshot

from config.spec import DatasetSpec
from model_monitoring.health import with_model_health
from model_monitoring.measures import ColumnDrift, DriftSummary, DriftTests, ModelScores
from model_monitoring.report import (
    PREDICTION,
    data_definition,
    report_columns,
    report_frame,
    report_metrics,
    script_safe_page,
)
from model_monitoring.significance import benjamini_hochberg, column_p_values
from model_monitoring.text_drift import measure_text_columns

logger = logging.getLogger(__name__)


def measure_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: dict[str, list[str]],
    target: str,
    tests: DriftTests,
    watch: Sequence[str],
    scores: ModelScores | None = None,
    reference_rows: int | None = None,
    health: tuple[pd.DataFrame, ModelScores] | None = None,
) -> tuple[DriftSummary, Snapshot]:
    """Compare a batch with the reference and measure the production model on it.

    Per column: the pinned distance against its threshold, and a p-value (KS or chi-square)
    corrected across all columns with Benjamini-Hochberg. Each side is tested on a random sample
    of `tests.sample_rows` rows (all rows when fewer); the model's realized metrics use every
    labelled row. A text column's distance is a domain classifier's held-out ROC AUC, with an
    exact p-value corrected with the others' (`text_drift.measure_text_drift`); the report shows
    Evidently's own classifier on it where that can run. With a production model: prediction
    drift, realized metrics with a bootstrap interval when the batch has labels, and
    confidence-based estimates from calibrated probabilities when it does not.

    Args:
        reference: The data the production model was trained on (or the spec's reference).
        current: The new batch.
        columns: Feature columns by kind: {"numeric": [...], "categorical": [...], "text": [...]}.
        target: The label column.
        tests: Methods, thresholds, FDR level and the corrected share that counts as drift.
        watch: Metrics that get a bootstrap interval (the ones the retrain policy watches).
        scores: The production model's outputs, when there is a production model.
        reference_rows: Rows of the whole reference, when `reference` is already its sample.
        health: When `current` is a sample of the batch: every row's labels (a frame with the
            target column, or none) and the model's outputs on every row, for the realized
            metrics and the estimates; `scores` then covers the sample alone.

    Returns:
        The summary and the Evidently snapshot (to save as HTML).
    """
    features = [c for kind in ("numeric", "categorical", "text") for c in columns.get(kind, [])]
    ref = report_frame(
        reference, features, target, scores, which="reference", sample=tests.sample_rows
    )
    cur = report_frame(current, features, target, scores, which="current", sample=tests.sample_rows)
    labelled = target in cur.columns and bool(cur[target].notna().any())
    every_class = _evidently_can_rate(scores, target, (ref, cur))
    shown = report_columns(columns, ref, cur)
    hidden = sorted(set(columns.get("text", [])) - set(shown["text"]))
    if hidden:
        logger.info("text columns %s left out of the report: Evidently cannot read them", hidden)
    definition = data_definition(shown, target, scores, labelled, probas=every_class)
    chosen = report_metrics(shown, tests, scores, labelled, per_class=every_class)
    snapshot = Report(chosen, include_tests=True).run(
        current_data=Dataset.from_pandas(cur.drop(columns=hidden), data_definition=definition),
        reference_data=Dataset.from_pandas(ref.drop(columns=hidden), data_definition=definition),
    )
    summary = summarize_snapshot(
        snapshot.dict(),
        columns=columns,
        tests=tests,
        rows=(reference_rows or len(reference), len(health[0]) if health else len(current)),
        p_values=column_p_values(ref, cur, columns),
        text=measure_text_columns(ref, cur, columns.get("text", []), tests),
    )
    if scores is not None:
        every, every_score = health if health else (current, scores)
        labelled = target in every.columns and bool(every[target].notna().any())
        summary = with_model_health(
            summary, every, target, scores=every_score, watch=watch, labelled=labelled
        )
    logger.info(
        "drift: %d of %d columns by distance (share %.2f), %d after correction (share %.2f); "
        "prediction drift %s; realized %s; estimated %s",
        summary.drifted_count,
        len(features),
        summary.drifted_share,
        summary.corrected_count,
        summary.corrected_share,
        f"{summary.prediction.score:.3f}" if summary.prediction else "n/a",
        summary.realized or "n/a (no labels)",
        summary.estimated or "n/a",
    )
    return summary, snapshot


def summarize_snapshot(
    report: dict[str, Any],
    *,
    columns: dict[str, list[str]],
    tests: DriftTests,
    rows: tuple[int, int],
    p_values: Mapping[str, float] | None = None,
    text: Mapping[str, ColumnDrift] | None = None,
) -> DriftSummary:
    """Read per-column scores and verdicts out of a report dict, then correct the p-values.

    A column's score is its pinned method's (a distance, or a p-value when the pinned method is
    a test such as KS or chi-square); the p-values that are corrected come from `p_values`.
    Text columns are measured by driftloop (`text`, see `text_drift.measure_text_drift`): that
    verdict replaces the report's, and its p-value is corrected with the others. A column with
    no p-value (a text column not tested) is never significant.
    """
    status = {t["metric_config"]["metric_id"]: t["status"] for t in report.get("tests", [])}
    kind_of = {c: kind for kind, cols in columns.items() for c in cols}
    distance: dict[str, ColumnDrift] = {}
    for metric in report["metrics"]:
        config = metric["config"]
        if config["type"].rsplit(":", 1)[-1] != "ValueDrift":
            continue
        column, method = config["column"], config["method"]
        kind = kind_of.get(column, "prediction")
        distance[column] = ColumnDrift(
            column=column,
            kind=kind,
            method=method,
            score=float(metric["value"]),
            threshold=float(config["threshold"]),
            drifted=status.get(metric["id"]) == "FAIL",
        )
    distance |= dict(text or {})
    features = [c for c in kind_of if c in distance]
    p_values = dict(p_values or {})
    p_values |= {c: d.p_value for c, d in (text or {}).items() if d.p_value is not None}
    significant = benjamini_hochberg(features, p_values, alpha=tests.alpha)
    corrected = tuple(
        ColumnDrift(
            **{
                **distance[c].__dict__,
                "p_value": p_values.get(c),
                "significant": distance[c].drifted and significant.get(c, False),
            }
        )
        for c in features
    )
    raw = sum(c.drifted for c in corrected)
    fixed = sum(c.significant for c in corrected)
    share = fixed / len(corrected) if corrected else 0.0
    return DriftSummary(
        columns=corrected,
        drifted_count=raw,
        drifted_share=raw / len(corrected) if corrected else 0.0,
        corrected_count=fixed,
        corrected_share=share,
        drift_detected=bool(corrected) and share >= tests.share_threshold,
        prediction=distance.get(PREDICTION),
        realized={},
        reference_rows=rows[0],
        current_rows=rows[1],
    )


def _evidently_can_rate(
    scores: ModelScores | None, target: str, sides: tuple[pd.DataFrame, ...]
) -> bool:
    """Whether Evidently's classification quality metrics can run on these two sides.

    They fail unless each side has exactly the model's classes (a week of labels that are all
    0, no snow in summer, a label the model never saw), and take a two-class multiclass model
    for a binary one: then the report leaves them out (the run's realized metrics are
    driftloop's own either way).
    """
    if scores is None or scores.task == "regression":
        return True
    classes = {str(c) for c in scores.classes}
    if scores.task == "multiclass" and len(classes) <= 2:  # noqa: PLR2004 - read as binary
        return False
    return all(
        target in side.columns and classes == {str(v) for v in side[target].dropna().unique()}
        for side in sides
    )


def write_report(snapshot: Snapshot, path: Path) -> Path:
    """Save the Evidently report as a standalone HTML file (its values shown as text).

    Raises:
        ReportLayoutError: Evidently's page no longer holds its data where it is escaped.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script_safe_page(snapshot.get_html_str(as_iframe=False)), encoding="utf-8")
    return path


def monitor_batch(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DatasetSpec,
    *,
    tests: DriftTests,
    watch: Sequence[str],
    scores: ModelScores | None,
    report_path: Path,
    reference_rows: int | None = None,
    health: tuple[pd.DataFrame, ModelScores] | None = None,
) -> DriftSummary:
    """Measure drift and model health on the dataset's features and save the HTML report.

    The one measurement every flow makes (retraining, monitoring, scoring); see `measure_drift`.
    """
    summary, snapshot = measure_drift(
        reference,
        current,
        columns={
            "numeric": list(spec.features.numeric),
            "categorical": list(spec.features.categorical),
            "text": list(spec.features.text),
        },
        target=spec.target,
        tests=tests,
        watch=watch,
        scores=scores,
        reference_rows=reference_rows,
        health=health,
    )
    write_report(snapshot, report_path)
    return summary
