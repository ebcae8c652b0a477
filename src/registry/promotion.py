"""The promotion rule: a plain decision over paired holdout differences, floors and slices."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Literal

from mlflow import MlflowClient

from evaluation.comparison import PairedDifference
from evaluation.holdout import Evaluation
from evaluation.metrics import HIGHER_IS_BETTER
from evaluation.slices import render_slice_table, slice_regressions
from registry.approval import Candidate, hold_for_approval
from registry.models import RegisteredVersion
from registry.release import Aliases, RegistryAction, apply_promotion
from registry.servable import ServedCheck

logger = logging.getLogger(__name__)

# A ROC AUC of 0.5 is a coin toss; a model that cannot clear 0.55 on its own holdout is not shipped.
DEFAULT_FLOOR = {"roc_auc": 0.55}


def metric_floor(metric: str, configured: float | None) -> float | None:
    """The absolute floor on `metric`: the configured one, else the metric's default (or none)."""
    return configured if configured is not None else DEFAULT_FLOOR.get(metric)


def clears_floor(metric: str, value: float, floor: float | None) -> bool:
    """Whether `value` is on the right side of the absolute floor (no floor: always)."""
    if floor is None:
        return True
    return value >= floor if HIGHER_IS_BETTER[metric] else value <= floor


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger replaces the champion, why, the rule, and the numbers."""

    promote: bool
    reason: str
    rule: str
    metric: str
    challenger: float
    champion: float | None
    min_improvement: float
    floor: float | None
    comparisons: tuple[PairedDifference, ...] = ()
    slice_regressions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def gain(self) -> float | None:
        """Challenger minus champion on the main metric, signed so that positive is better."""
        main = [d for d in self.comparisons if d.metric == self.metric]
        return main[0].gain if main else None


@dataclass(frozen=True)
class PromotionRule:
    """The promotion rule's settings: the metric, the margin, the confidence and the floor."""

    metric: str
    min_improvement: float
    confidence: float
    floor: float | None
    relative: bool = False


def judge_challenger(
    rule: PromotionRule, challenger: dict[str, float], evaluation: Evaluation
) -> PromotionDecision:
    """Apply the promotion rule to the challenger's holdout metrics and its evaluation."""
    regressions = slice_regressions(evaluation.slices) if evaluation.slices else ()
    return decide_promotion(
        metric=rule.metric,
        # Undefined on this holdout (ROC AUC when its labels are one class): NaN, never promoted.
        challenger=challenger.get(rule.metric, math.nan),
        comparisons=evaluation.comparisons,
        min_improvement=rule.min_improvement,
        confidence=rule.confidence,
        floor=rule.floor,
        slice_regressions=regressions,
        relative=rule.relative,
    )


def describe_rule(
    *, metric: str, min_improvement: float, confidence: float, relative: bool = False
) -> str:
    """The promotion rule in words, for records and model cards."""
    margin = _margin_text(min_improvement, relative=relative)
    return (
        f"promote when, on the same holdout, the one-sided lower bound of the paired gain "
        f"clears {margin} on at least one compared metric, no metric is worse by more than "
        f"{margin}, both with {confidence:.0%} confidence for the compared metrics together "
        f"(each metric's bounds at 1 - {1 - confidence:.2g} / their count), no judged slice "
        f"drops beyond its tolerance, and {metric} clears its floor; with no champion, the "
        "floor alone decides"
    )


def decide_promotion(
    *,
    metric: str,
    challenger: float,
    comparisons: dict[str, PairedDifference] | None,
    min_improvement: float,
    confidence: float,
    floor: float | None,
    slice_regressions: tuple[str, ...] = (),
    relative: bool = False,
) -> PromotionDecision:
    """Apply the promotion rule to paired differences measured on the same holdout.

    A point estimate that beats the champion is not enough: the same model retrained with
    another seed often does, by noise. The challenger must be better by at least
    `min_improvement` with `confidence` (the lower bound of the paired bootstrap interval clears
    the margin) on some compared metric, and be worse by more than the margin with that
    confidence on none. Comparing the watched metrics, not only the main one, lets a model that
    fixes a shifted decision threshold win even where ranking (ROC AUC) is unchanged.

    Args:
        metric: The main (promotion) metric; the floor applies to it.
        challenger: The challenger's `metric` on the holdout.
        comparisons: Paired differences per metric (None: there is no champion).
        min_improvement: The margin.
        confidence: One-sided confidence of the bounds in `comparisons`.
        floor: Absolute floor on `metric` (None: none).
        slice_regressions: Slices where the challenger is worse than the tolerance allows.
        relative: The margin is a share of each metric's champion value (0.005: 0.5% of it).

    Returns:
        The decision, with its reason, the rule and the numbers.
    """
    compared = tuple((comparisons or {}).values())
    champion = comparisons[metric].champion if comparisons and metric in comparisons else None

    def decision(promote: bool, reason: str) -> PromotionDecision:
        logger.info("promotion: %s", reason)
        return PromotionDecision(
            promote=promote,
            reason=reason,
            rule=describe_rule(
                metric=metric,
                min_improvement=min_improvement,
                confidence=confidence,
                relative=relative,
            ),
            metric=metric,
            challenger=challenger,
            champion=champion,
            min_improvement=min_improvement,
            floor=floor,
            comparisons=compared,
            slice_regressions=slice_regressions,
        )

    if math.isnan(challenger):
        why = f"{metric} is undefined on the challenger's holdout (its labels have one class?)"
        return decision(False, f"{why}: the challenger cannot be judged; not promoted")
    if not clears_floor(metric, challenger, floor):
        return decision(False, f"challenger {metric} {challenger:.4f} misses the floor {floor}")
    if comparisons is None:
        return decision(True, f"no champion; challenger {metric} {challenger:.4f} clears the floor")
    shown = "; ".join(str(d) for d in compared) or "no metric could be compared"
    margins = {
        d.metric: min_improvement * abs(d.champion) if relative else min_improvement
        for d in compared
    }
    better = [d for d in compared if d.low >= margins[d.metric]]
    margin = _margin_text(min_improvement, relative=relative)
    why_not = _why_not(
        [d.metric for d in compared if d.high < -margins[d.metric]],
        better=bool(better),
        slice_regressions=slice_regressions,
        margin=margin,
        confidence=confidence,
    )
    if why_not:
        return decision(False, f"{why_not}: {shown}; champion stays")
    best = max(better, key=lambda d: d.low)
    return decision(
        True,
        f"challenger beats champion on {best.metric} by at least {best.low:+.4f} >= "
        f"{margin} with {confidence:.0%} confidence and is worse on none: {shown}",
    )


def _margin_text(min_improvement: float, *, relative: bool) -> str:
    return f"{min_improvement:.1%} of the champion's value" if relative else f"{min_improvement}"


def _why_not(
    worse: list[str],
    *,
    better: bool,
    slice_regressions: tuple[str, ...],
    margin: str,
    confidence: float,
) -> str | None:
    if worse:
        return f"worse on {', '.join(worse)} beyond the margin"
    if not better:
        return (
            f"no metric improves by {margin} with {confidence:.0%} confidence "
            "(the gain may be noise)"
        )
    if slice_regressions:
        return "worse on slices: " + "; ".join(slice_regressions)
    return None


def unless_unservable(verdict: PromotionDecision, check: ServedCheck) -> PromotionDecision:
    """The verdict, turned down when the registered model does not serve as it scored.

    The reason then starts with the check's: the version is not servable, whatever the gates.
    """
    if check.servable:
        return verdict
    gates = "though it passed every gate" if verdict.promote else "nor did it pass the gates"
    logger.warning("not servable: %s", check.reason)
    return replace(
        verdict, promote=False, reason=f"{check.reason}: not released, {gates} ({verdict.reason})"
    )


def describe_promotion(
    decision: PromotionDecision, action: RegistryAction, evaluation: Evaluation
) -> str:
    """The promotion verdict, the rule, the paired differences and the slice table."""
    verdict = "promoted" if action.promoted else "not promoted"
    if action.awaiting:
        verdict = f"awaiting approval ({action.awaiting})"
    lines = [f"{verdict}: {action.lost or decision.reason}", "", f"rule: {decision.rule}"]
    if decision.comparisons:
        lines += ["", *[f"- {d}" for d in decision.comparisons]]
    if evaluation.slices is not None:
        lines += ["", render_slice_table(evaluation.slices)]
    return "\n".join(lines)


def apply_verdict(
    client: MlflowClient,
    challenger: RegisteredVersion,
    verdict: PromotionDecision,
    champion: RegisteredVersion | None,
    *,
    batch: str,
    actor: str,
    aliases: Aliases,
    approval: Literal["auto", "manual"] = "auto",
    starts_regime: bool = False,
) -> RegistryAction:
    """Carry out the verdict in the registry, under the release lock (`apply_promotion`).

    Under manual approval a winner becomes the pending `candidate` instead of being released.
    """
    if approval == "manual" and verdict.promote:
        candidate = Candidate(
            name=challenger.name,
            version=challenger.version,
            evaluated_against=champion.version if champion else None,
            reason=verdict.reason,
            actor=actor,
            batch=batch,
            starts_regime=starts_regime,
        )
        return hold_for_approval(client, candidate, aliases)
    return apply_promotion(
        client,
        name=challenger.name,
        version=challenger.version,
        promote=verdict.promote,
        reason=verdict.reason,
        evaluated_against=champion.version if champion else None,
        actor=actor,
        batch=batch,
        aliases=aliases,
    )
