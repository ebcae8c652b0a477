"""How a run ended: the closed set of outcomes, and the summaries the flows return."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """Every way a run can end (the values are what records, timelines and the CLI show)."""

    NO_NEW_BATCH = "no new batch"
    BUSY = "busy"  # another run of the dataset held it: a monitoring run leaves the batch be
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    MONITORED = "monitored"
    KEPT = "kept production"
    DRY_RUN = "dry run"
    CHALLENGER_LOST = "challenger lost"
    LOST_RACE = "lost the race"
    NOT_SERVABLE = "not servable"  # it won, but the registered model does not load or score
    AWAITING_APPROVAL = "awaiting approval"  # it won, and waits as `candidate` for a person
    PROMOTED = "promoted"


@dataclass(frozen=True)
class RunSummary:
    """The outcome of one run of the retraining flow (one row of a simulation timeline)."""

    batch: str | None
    outcome: Outcome
    message: str
    production_version: str | None = None
    challenger_version: str | None = None
    record: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    rows: int = 0
    metric: str = ""
    value: float | None = None
    estimated: float | None = None
    decision: str = ""
    reasons: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    retrained: bool = False
    promoted: bool = False
    train_rows: int = 0


@dataclass(frozen=True)
class ScoringSummary:
    """The outcome of one run of the scoring flow."""

    batch: str
    rows: int
    model_version: str
    predictions: str
    prediction_drift: float | None
    prediction_drifted: bool
    report: str

    def __str__(self) -> str:
        """One line: what was scored, by which version, where it went, prediction drift."""
        drift = (
            f"{self.prediction_drift:.3f}" + (" (drifted)" if self.prediction_drifted else "")
            if self.prediction_drift is not None
            else "n/a"
        )
        return (
            f"{self.batch}: {self.rows} rows scored by v{self.model_version} -> "
            f"{self.predictions}; prediction drift {drift}; report {self.report}"
        )
