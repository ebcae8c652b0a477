"""The words of a decision record: validation verdict, drift lines, decision, candidates."""

from __future__ import annotations

from data_validation.gate import ValidationOutcome
from model_monitoring.drift import DriftSummary
from model_monitoring.estimate import ESTIMATE_CAVEAT
from model_monitoring.policy import RetrainDecision
from registry.models import RegisteredVersion
from runs.record import CandidateRow


def validation_text(outcome: ValidationOutcome) -> str:
    """The validation verdict, listing every broken expectation."""
    if outcome.success:
        return f"passed suite `{outcome.suite}` ({outcome.evaluated} expectations)"
    broken = "\n".join(f"- {f}" for f in outcome.failures)
    return (
        f"FAILED suite `{outcome.suite}`: {len(outcome.failures)} of {outcome.evaluated} "
        f"expectations broken:\n\n{broken}"
    )


def drift_lines(drift: DriftSummary, metric: str) -> list[str]:
    """One line per measurement: drift (raw and corrected), columns, model health."""
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
            "ESTIMATED (no labels): "
            + ", ".join(f"{k} {v:.4f}" for k, v in sorted(drift.estimated.items()))
            + f"; {ESTIMATE_CAVEAT}"
        )
    return lines


def decision_text(decision: RetrainDecision) -> str:
    """The retrain decision with the signals that fired and the numbers behind it."""
    fired = ", ".join(decision.signals) or "none"
    numbers = ", ".join(f"{k} {v:.4f}" for k, v in sorted(decision.numbers.items()))
    return f"{decision}\n\nsignals fired: {fired}\n\nnumbers: {numbers}"


def candidates(
    production: RegisteredVersion | None,
    champion: dict[str, float] | None,
    challenger: RegisteredVersion,
    metrics: dict[str, float],
) -> list[CandidateRow]:
    """The champion/challenger rows, champion first when there is one."""
    rows = [CandidateRow("challenger", challenger.version, metrics)]
    if production is not None and champion is not None:
        rows.insert(0, CandidateRow("champion", production.version, champion))
    return rows
