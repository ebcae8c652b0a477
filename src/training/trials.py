"""The record of a tuning study: every finished trial and what the study found, as plain values."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import optuna

from training.errors import TrainingError

logger = logging.getLogger(__name__)

TrialState = Literal["COMPLETE", "PRUNED", "FAIL"]
FINISHED: dict[optuna.trial.TrialState, TrialState] = {
    optuna.trial.TrialState.COMPLETE: "COMPLETE",
    optuna.trial.TrialState.PRUNED: "PRUNED",
    optuna.trial.TrialState.FAIL: "FAIL",
}


@dataclass(frozen=True)
class TrialRecord:
    """One tuning trial, in plain JSON-able values.

    `value` is the best validation score for a complete trial and the last one reported for a
    pruned trial (None when it failed); `best_iteration` is the matching boosting round.
    """

    number: int
    params: dict[str, float | int]
    value: float | None
    state: TrialState
    seconds: float
    best_iteration: int | None


@dataclass(frozen=True)
class TuningResult:
    """What a tuning study found; trial 0 always holds the starting (default) parameters.

    `metric` is the evaluation scored, "<evals name>-<metric>"; every value is in its units.
    """

    best_params: dict[str, float | int]
    best_value: float
    default_value: float | None
    best_trial: int
    trials: tuple[TrialRecord, ...]
    seconds: float
    metric: str

    def summary(self) -> dict[str, Any]:
        """Counts and scores of the study, for the training result and the run record."""
        states = [t.state for t in self.trials]
        return {
            "trials": len(self.trials),
            "pruned": states.count("PRUNED"),
            "failed": states.count("FAIL"),
            "seconds": round(self.seconds, 3),
            "metric": self.metric,
            "best_trial": self.best_trial,
            "best_validation": self.best_value,
            "default_validation": self.default_value,
        }


def study_result(
    study: optuna.Study, metric: str, seconds: float, parallel: int, threads: int
) -> TuningResult:
    """What a finished study found, with a record of every finished trial.

    Raises:
        TrainingError: no trial completed.
    """
    records = tuple(_record(t) for t in study.trials if t.state in FINISHED)
    scored = [
        (r.value, r.number, r) for r in records if r.state == "COMPLETE" and r.value is not None
    ]
    if not scored:
        raise TrainingError(f"no tuning trial completed ({len(records)} tried)")
    best_value, _, best = min(scored, key=lambda s: (s[0], s[1]))
    default = next((value for value, number, _ in scored if number == 0), None)
    result = TuningResult(
        best_params=best.params,
        best_value=best_value,
        default_value=default,
        best_trial=best.number,
        trials=records,
        seconds=seconds,
        metric=metric,
    )
    pruned = sum(r.state == "PRUNED" for r in records)
    logger.info(
        "tuned %d trials (%d pruned, %d at a time x %d threads) in %.1f s: validation %s %.4f "
        "(trial %d), defaults %s",
        len(records),
        pruned,
        parallel,
        threads,
        seconds,
        metric,
        result.best_value,
        best.number,
        "failed" if default is None else f"{default:.4f}",
    )
    return result


def _record(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    value = trial.value
    if value is None and trial.intermediate_values:
        value = trial.intermediate_values[trial.last_step or 0]
    iteration = trial.user_attrs.get("best_iteration", trial.last_step)
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    return TrialRecord(
        number=trial.number,
        params={k: v.item() if hasattr(v, "item") else v for k, v in trial.params.items()},
        value=None if value is None else float(value),
        state=FINISHED[trial.state],
        seconds=round(seconds, 3),
        best_iteration=None if iteration is None else int(iteration),
    )
