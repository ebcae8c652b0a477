"""Measure feature drift, prediction drift and realized performance with Evidently."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from evidently import (
    BinaryClassification,
    DataDefinition,
    Dataset,
    MulticlassClassification,
    Regression,
    Report,
)
from evidently.core.report import Snapshot
from evidently.metrics import ValueDrift
from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
# Evidently metric types that carry the realized metrics driftloop compares against the holdout.
REALIZED_METRICS = {
    "Accuracy": "accuracy",
    "RocAuc": "roc_auc",
    "F1Score": "f1",
    "LogLoss": "log_loss",
    "RMSE": "rmse",
    "MAE": "mae",
    "R2Score": "r2",
}


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column: score, the pinned method, its threshold and Evidently's verdict."""

    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftSummary:
    """What the monitor measured on one batch."""

    columns: tuple[ColumnDrift, ...]
    drifted_count: int
    drifted_share: float
    prediction: ColumnDrift | None
    realized: dict[str, float]
    reference_rows: int
    current_rows: int

    def as_metrics(self) -> dict[str, float]:
        """Flat name -> value view for experiment tracking."""
        out = {
            "drift.share": self.drifted_share,
            "drift.count": float(self.drifted_count),
            "rows.reference": float(self.reference_rows),
            "rows.current": float(self.current_rows),
        }
        out |= {f"drift.{c.column}": c.score for c in self.columns}
        if self.prediction is not None:
            out["drift.prediction"] = self.prediction.score
        out |= {f"realized.{k}": v for k, v in self.realized.items()}
        return out


@dataclass(frozen=True)
class ModelScores:
    """The production model's outputs on the reference and the current batch."""

    reference: Any
    current: Any
    task: str
    classes: list[Any]


def measure_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    target: str,
    numeric_method: str,
    categorical_method: str,
    threshold: float,
    scores: ModelScores | None = None,
) -> tuple[DriftSummary, Snapshot]:
    """Compare a batch with the reference: per-column drift, prediction drift, realized metrics.

    Args:
        reference: The data the production model was trained on (or the spec's reference).
        current: The new batch.
        numeric: Numeric feature columns.
        categorical: Categorical feature columns.
        target: The label column; realized metrics are measured when `current` has it.
        numeric_method: Evidently drift method for numeric columns (pinned, e.g. "wasserstein").
        categorical_method: Evidently drift method for categorical columns.
        threshold: Per-column drift threshold for both methods.
        scores: The production model's outputs, when there is a production model.

    Returns:
        The summary and the Evidently snapshot (to save as HTML).
    """
    features = numeric + categorical
    ref = _frame(reference, features, target, scores, "reference")
    cur = _frame(current, features, target, scores, "current")
    labelled = target in cur.columns and cur[target].notna().any()
    definition = _definition(numeric, categorical, target, scores, labelled)
    metrics: list[Any] = [
        DataDriftPreset(
            columns=features,
            num_method=numeric_method,
            cat_method=categorical_method,
            threshold=threshold,
        )
    ]
    if scores is not None:
        metrics.append(
            _prediction_drift(scores.task, numeric_method, categorical_method, threshold)
        )
        if labelled:
            metrics.append(
                RegressionPreset() if scores.task == "regression" else ClassificationPreset()
            )
    snapshot = Report(metrics, include_tests=True).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    summary = summarize_snapshot(snapshot.dict(), features=features, rows=(len(ref), len(cur)))
    logger.info(
        "drift: %d of %d columns (share %.2f); prediction drift %s; realized %s",
        summary.drifted_count,
        len(features),
        summary.drifted_share,
        f"{summary.prediction.score:.3f}" if summary.prediction else "n/a",
        summary.realized or "n/a (no labels)",
    )
    return summary, snapshot


def summarize_snapshot(
    report: dict[str, Any], *, features: list[str], rows: tuple[int, int]
) -> DriftSummary:
    """Read per-column verdicts, prediction drift and realized metrics out of a report dict."""
    status = {t["metric_config"]["metric_id"]: t["status"] for t in report.get("tests", [])}
    columns: dict[str, ColumnDrift] = {}
    realized: dict[str, float] = {}
    for metric in report["metrics"]:
        config = metric["config"]
        kind = config["type"].rsplit(":", 1)[-1]
        if kind == "ValueDrift":
            columns[config["column"]] = ColumnDrift(
                column=config["column"],
                method=config["method"],
                score=float(metric["value"]),
                threshold=float(config["threshold"]),
                drifted=status.get(metric["id"]) == "FAIL",
            )
        elif kind in REALIZED_METRICS and isinstance(metric["value"], (int, float)):
            realized[REALIZED_METRICS[kind]] = float(metric["value"])
    feature_drift = tuple(columns[c] for c in features if c in columns)
    drifted = sum(c.drifted for c in feature_drift)
    return DriftSummary(
        columns=feature_drift,
        drifted_count=drifted,
        drifted_share=drifted / len(feature_drift) if feature_drift else 0.0,
        prediction=columns.get(PREDICTION),
        realized=realized,
        reference_rows=rows[0],
        current_rows=rows[1],
    )


def write_report(snapshot: Snapshot, path: Path) -> Path:
    """Save the Evidently report as a standalone HTML file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    return path


def _frame(
    data: pd.DataFrame, features: list[str], target: str, scores: ModelScores | None, which: str
) -> pd.DataFrame:
    columns = features + ([target] if target in data.columns else [])
    out = data[columns].reset_index(drop=True)
    if scores is None:
        return out
    values = scores.reference if which == "reference" else scores.current
    if scores.task == "multiclass":
        proba = pd.DataFrame(values).reset_index(drop=True)
        proba.columns = [str(c) for c in scores.classes]
        out = pd.concat([out, proba], axis=1)
        out[PREDICTION] = proba.idxmax(axis=1)
        if target in out.columns:
            out[target] = out[target].astype(str)
    else:
        out[PREDICTION] = np.asarray(values, dtype="float64")
    return out


def _definition(
    numeric: list[str],
    categorical: list[str],
    target: str,
    scores: ModelScores | None,
    labelled: bool,
) -> DataDefinition:
    kwargs: dict[str, Any] = {
        "numerical_columns": list(numeric),
        "categorical_columns": list(categorical),
    }
    if scores is None:
        return DataDefinition(**kwargs)
    if scores.task == "regression":
        kwargs["numerical_columns"].append(PREDICTION)
        if labelled:
            kwargs["regression"] = [Regression(target=target, prediction=PREDICTION)]
    elif scores.task == "binary":
        kwargs["numerical_columns"].append(PREDICTION)
        if labelled:
            kwargs["classification"] = [
                BinaryClassification(
                    target=target, prediction_probas=PREDICTION, pos_label=scores.classes[1]
                )
            ]
    else:
        kwargs["categorical_columns"].append(PREDICTION)
        if labelled:
            kwargs["classification"] = [
                MulticlassClassification(
                    target=target,
                    prediction_labels=PREDICTION,
                    prediction_probas=[str(c) for c in scores.classes],
                )
            ]
    return DataDefinition(**kwargs)


def _prediction_drift(
    task: str, numeric_method: str, categorical_method: str, threshold: float
) -> ValueDrift:
    method = categorical_method if task == "multiclass" else numeric_method
    return ValueDrift(column=PREDICTION, method=method, threshold=threshold)
