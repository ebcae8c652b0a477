"""The words of a decision record: validation verdict, drift lines, decision, candidates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from config.manifest import Manifest
from data_validation.gate import ValidationOutcome
from evaluation.holdout import Evaluation
from evaluation.slices import render_slice_table
from model_monitoring.estimate import ESTIMATE_CAVEAT
from model_monitoring.measures import DriftSummary
from model_monitoring.policy import RetrainDecision
from registry.card import CardFacts, render_model_card
from registry.models import RegisteredVersion
from registry.promotion import PromotionDecision
from registry.release import RegistryAction
from runs.record import CandidateRow
from training.fit import TrainingResult

if TYPE_CHECKING:
    from pipeline.context import RunContext


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


def promotion_text(
    decision: PromotionDecision, action: RegistryAction, evaluation: Evaluation
) -> str:
    """The promotion verdict, the rule, the paired differences and the slice table."""
    verdict = "promoted" if action.promoted else "not promoted"
    reason = action.lost or decision.reason
    lines = [f"{verdict}: {reason}", "", f"rule: {decision.rule}"]
    if decision.comparisons:
        lines += ["", *[f"- {d}" for d in decision.comparisons]]
    if evaluation.slices is not None:
        lines += ["", render_slice_table(evaluation.slices)]
    return "\n".join(lines)


def model_card(
    run: RunContext,
    *,
    version: RegisteredVersion,
    result: TrainingResult,
    evaluation: Evaluation,
    decision: PromotionDecision,
    action: RegistryAction,
    manifest: Manifest,
    champion: RegisteredVersion | None,
) -> str:
    """The model card of a freshly registered version."""
    spec = run.dataset
    return render_model_card(
        CardFacts(
            name=version.name,
            version=version.version,
            run_id=version.run_id,
            task=spec.task.value,
            target=spec.target,
            numeric=list(spec.features.numeric),
            categorical=dict(result.schema["categorical"]),
            manifest=manifest,
            train_rows=result.train_rows,
            holdout_rows=len(result.holdout),
            params=result.params,
            metrics=result.metrics,
            intervals=evaluation.intervals,
            decision=decision,
            promoted=action.promoted,
            lost=action.lost,
            champion_version=champion.version if champion else None,
            retrain_reasons=run.decision.reasons if run.decision else (),
            drift_report=run.record.drift_report,
            slice_table=render_slice_table(evaluation.slices) if evaluation.slices else None,
            tuning=result.tuning,
            git_commit=version.tags.get("driftloop.git_commit"),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    )
