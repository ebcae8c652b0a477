"""Measure feature drift, prediction drift and model health on a batch (Evidently + scipy)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
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
from scipy import stats

from model_monitoring.health import with_model_health

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
# Significance tests run next to the pinned distance: the distance says whether a change is large
# enough to matter, the p-value (corrected for testing every column) whether it is more than noise.
P_VALUE_METHODS = {"numeric": "ks", "categorical": "chisquare"}


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column: distance and verdict, p-value and verdict after correction."""

    column: str
    kind: str
    method: str
    score: float
    threshold: float
    drifted: bool
    p_value: float | None = None
    significant: bool = False


@dataclass(frozen=True)
class DriftSummary:
    """What the monitor measured on one batch."""

    columns: tuple[ColumnDrift, ...]
    drifted_count: int
    drifted_share: float
    corrected_count: int
    corrected_share: float
    drift_detected: bool
    prediction: ColumnDrift | None
    realized: dict[str, float]
    reference_rows: int
    current_rows: int
    realized_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    estimated: dict[str, float] = field(default_factory=dict)

    def as_metrics(self) -> dict[str, float]:
        """Flat name -> value view for experiment tracking."""
        out = {
            "drift.share": self.drifted_share,
            "drift.count": float(self.drifted_count),
            "drift.corrected_share": self.corrected_share,
            "drift.detected": float(self.drift_detected),
            "rows.reference": float(self.reference_rows),
            "rows.current": float(self.current_rows),
        }
        out |= {f"drift.{c.column}": c.score for c in self.columns}
        out |= {f"drift_p.{c.column}": c.p_value for c in self.columns if c.p_value is not None}
        if self.prediction is not None:
            out["drift.prediction"] = self.prediction.score
        out |= {f"realized.{k}": v for k, v in self.realized.items()}
        out |= {f"estimated.{k}": v for k, v in self.estimated.items()}
        for name, (low, high) in self.realized_interval.items():
            out |= {f"realized.{name}.low": low, f"realized.{name}.high": high}
        return out


@dataclass(frozen=True)
class ModelScores:
    """The production model's outputs on the reference and the batch, and its calibration."""

    reference: Any
    current: Any
    task: str
    classes: list[Any]
    calibration: dict[str, list[float]] | None = None


@dataclass(frozen=True)
class DriftTests:
    """How drift is tested: pinned methods and thresholds, and the multiple-testing rule."""

    numeric_method: str = "wasserstein"
    categorical_method: str = "jensenshannon"
    threshold: float = 0.1
    alpha: float = 0.05
    share_threshold: float = 0.5


def measure_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: dict[str, list[str]],
    target: str,
    tests: DriftTests,
    watch: Sequence[str],
    scores: ModelScores | None = None,
) -> tuple[DriftSummary, Snapshot]:
    """Compare a batch with the reference and measure the production model on it.

    Per column: the pinned distance against its threshold, and a p-value (KS or chi-square)
    corrected across all columns with Benjamini-Hochberg. Text columns use Evidently's text
    content drift (a domain classifier). With a production model: prediction drift, realized
    metrics with a bootstrap interval when the batch has labels, and confidence-based
    estimates from calibrated probabilities when it does not.

    Args:
        reference: The data the production model was trained on (or the spec's reference).
        current: The new batch.
        columns: Feature columns by kind: {"numeric": [...], "categorical": [...], "text": [...]}.
        target: The label column.
        tests: Methods, thresholds, FDR level and the corrected share that counts as drift.
        watch: Metrics that get a bootstrap interval (the ones the retrain policy watches).
        scores: The production model's outputs, when there is a production model.

    Returns:
        The summary and the Evidently snapshot (to save as HTML).
    """
    features = [c for kind in ("numeric", "categorical", "text") for c in columns.get(kind, [])]
    ref = _frame(reference, features, target, scores, "reference")
    cur = _frame(current, features, target, scores, "current")
    labelled = target in cur.columns and bool(cur[target].notna().any())
    snapshot = Report(_metrics(columns, tests, scores, labelled), include_tests=True).run(
        current_data=Dataset.from_pandas(
            cur, data_definition=_definition(columns, target, scores, labelled)
        ),
        reference_data=Dataset.from_pandas(
            ref, data_definition=_definition(columns, target, scores, labelled)
        ),
    )
    summary = summarize_snapshot(
        snapshot.dict(), columns=columns, tests=tests, rows=(len(ref), len(cur))
    )
    if scores is not None:
        summary = with_model_health(
            summary, current, target, scores=scores, watch=watch, labelled=labelled
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
) -> DriftSummary:
    """Read per-column distances, p-values and verdicts out of a report dict, then correct."""
    status = {t["metric_config"]["metric_id"]: t["status"] for t in report.get("tests", [])}
    kind_of = {c: kind for kind, cols in columns.items() for c in cols}
    distance: dict[str, ColumnDrift] = {}
    p_values: dict[str, float] = {}
    for metric in report["metrics"]:
        config = metric["config"]
        if config["type"].rsplit(":", 1)[-1] != "ValueDrift":
            continue
        column, method = config["column"], config["method"]
        if method in P_VALUE_METHODS.values():
            p_values[column] = float(metric["value"])
            continue
        distance[column] = ColumnDrift(
            column=column,
            kind=kind_of.get(column, "prediction"),
            method=method,
            score=float(metric["value"]),
            threshold=float(config["threshold"]),
            drifted=status.get(metric["id"]) == "FAIL",
        )
    features = [c for c in kind_of if c in distance]
    significant = _benjamini_hochberg(features, p_values, alpha=tests.alpha)
    corrected = tuple(
        ColumnDrift(
            **{
                **distance[c].__dict__,
                "p_value": p_values.get(c),
                # A text column has no p-value: its domain-classifier verdict stands.
                "significant": distance[c].drifted and significant.get(c, True),
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


def write_report(snapshot: Snapshot, path: Path) -> Path:
    """Save the Evidently report as a standalone HTML file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(path))
    return path


def _benjamini_hochberg(
    columns: list[str], p_values: dict[str, float], *, alpha: float
) -> dict[str, bool]:
    tested = [c for c in columns if c in p_values]
    if not tested:
        return {}
    raw = np.clip(np.array([p_values[c] for c in tested], dtype="float64"), 0.0, 1.0)
    adjusted = stats.false_discovery_control(raw, method="bh")
    return {c: bool(p < alpha) for c, p in zip(tested, adjusted, strict=True)}


def _metrics(
    columns: dict[str, list[str]], tests: DriftTests, scores: ModelScores | None, labelled: bool
) -> list[Any]:
    features = [c for kind in ("numeric", "categorical", "text") for c in columns.get(kind, [])]
    metrics: list[Any] = [
        DataDriftPreset(
            columns=features,
            num_method=tests.numeric_method,
            cat_method=tests.categorical_method,
            threshold=tests.threshold,
        )
    ]
    for kind in ("numeric", "categorical"):
        metrics += [
            ValueDrift(column=c, method=P_VALUE_METHODS[kind]) for c in columns.get(kind, [])
        ]
    if scores is not None:
        method = tests.categorical_method if scores.task == "multiclass" else tests.numeric_method
        metrics.append(ValueDrift(column=PREDICTION, method=method, threshold=tests.threshold))
        if labelled:
            metrics.append(
                RegressionPreset() if scores.task == "regression" else ClassificationPreset()
            )
    return metrics


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
    columns: dict[str, list[str]], target: str, scores: ModelScores | None, labelled: bool
) -> DataDefinition:
    kwargs: dict[str, Any] = {
        "numerical_columns": list(columns.get("numeric", [])),
        "categorical_columns": list(columns.get("categorical", [])),
        "text_columns": list(columns.get("text", [])),
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
