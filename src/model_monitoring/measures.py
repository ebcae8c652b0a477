"""What the monitor measures: per-column drift, the batch's summary, model scores, test rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    sample_rows: int = 20_000
