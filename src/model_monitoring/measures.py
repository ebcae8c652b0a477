"""What the monitor measures: per-column drift, the batch's summary, model scores, test rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from config.manifest import Manifest
from model_monitoring.estimate import DIVERGENCE_MEANS, ESTIMATE_CAVEAT


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
    estimated_by: str = ""
    # Where each metric should fall by the label-free estimate (on a labelled batch too, so
    # the realized value can be checked against it), and the metrics found outside.
    estimated_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    divergence: dict[str, str] = field(default_factory=dict)

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
        for name, (low, high) in self.estimated_interval.items():
            out |= {f"estimated.{name}.low": low, f"estimated.{name}.high": high}
        out |= {f"divergence.{name}": 1.0 for name in self.divergence}
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
    sample_rows: int = 20_000


@dataclass(frozen=True)
class Measured:
    """A batch's measurement, and the production model's training data it was compared with."""

    drift: DriftSummary
    report: Path
    manifest: Manifest
    metric: str
    watch: tuple[str, ...]
    # A one-file reference already in memory, by content hash: training takes it from here.
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    # The tracking run the measurement was logged as (where the run's ending is noted too).
    run_id: str = ""


def describe_drift(drift: DriftSummary, metric: str) -> list[str]:
    """One line per measurement, for the decision record: drift, columns, model health."""
    lines = [
        f"feature drift: {drift.drifted_count} of {len(drift.columns)} columns by distance "
        f"(raw share {drift.drifted_share:.2f}); {drift.corrected_count} after "
        f"Benjamini-Hochberg (corrected share {drift.corrected_share:.2f}): "
        + ("**drift**" if drift.drift_detected else "no drift")
    ]
    for c in drift.columns:
        p_value = f", p={c.p_value:.3g}" if c.p_value is not None else ""
        verdict = " **drifted**" if c.significant else (" (distance only)" if c.drifted else "")
        lines.append(
            f"`{c.column}` ({c.kind}): {c.method} {c.score:.3f} "
            f"(threshold {c.threshold}{p_value}){verdict}"
        )
    if drift.prediction:
        lines.append(
            f"prediction drift: {drift.prediction.method} {drift.prediction.score:.3f}"
            + (" **drifted**" if drift.prediction.drifted else "")
        )
    if drift.realized:
        band = drift.realized_interval.get(metric)
        interval = f" (95% bootstrap {band[0]:.4f}-{band[1]:.4f})" if band else ""
        value = drift.realized.get(metric, float("nan"))
        everything = ", ".join(f"{k} {v:.4f}" for k, v in sorted(drift.realized.items()))
        lines.append(
            f"production model on this batch: {metric} {value:.4f}{interval}; {everything}"
        )
    if drift.estimated:
        lines.append(
            f"ESTIMATED (no labels; {drift.estimated_by or 'label-free'}): "
            + ", ".join(_estimate(k, v, drift) for k, v in sorted(drift.estimated.items()))
            + f"; {ESTIMATE_CAVEAT}"
        )
    if drift.realized and drift.estimated_interval:
        checked = ", ".join(
            f"{k} [{low:.4f}, {high:.4f}]"
            for k, (low, high) in sorted(drift.estimated_interval.items())
        )
        verdict = (
            "**outside** on "
            + "; ".join(f"{k}: {v}" for k, v in sorted(drift.divergence.items()))
            + f" ({DIVERGENCE_MEANS})"
            if drift.divergence
            else "every realized metric inside"
        )
        lines.append(f"label-free estimate's 95% interval for this batch: {checked}; {verdict}")
    return lines


def _estimate(metric: str, value: float, drift: DriftSummary) -> str:
    band = drift.estimated_interval.get(metric)
    return f"{metric} {value:.4f}" + (f" (95% {band[0]:.4f}-{band[1]:.4f})" if band else "")
