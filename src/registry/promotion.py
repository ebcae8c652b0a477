"""The promotion rule (a plain decision) and applying it to registry aliases."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mlflow import MlflowClient

from config.metrics import clears_floor, improvement

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger replaces the champion, why, and the numbers."""

    promote: bool
    reason: str
    metric: str
    challenger: float
    champion: float | None
    min_improvement: float
    floor: float | None

    @property
    def gain(self) -> float | None:
        """Challenger minus champion, signed so that positive is better."""
        if self.champion is None:
            return None
        return improvement(self.metric, self.challenger, self.champion)


@dataclass(frozen=True)
class AliasMove:
    """One alias change in the registry."""

    alias: str
    from_version: str | None
    to_version: str


@dataclass(frozen=True)
class RegistryAction:
    """What the registry did for a challenger."""

    name: str
    version: str
    promoted: bool
    moves: tuple[AliasMove, ...] = field(default_factory=tuple)


def decide_promotion(
    *,
    metric: str,
    challenger: float,
    champion: float | None,
    min_improvement: float,
    floor: float | None,
    others: dict[str, tuple[float, float]] | None = None,
) -> PromotionDecision:
    """Apply the promotion rule to the challenger's and champion's scores on the same holdout.

    The first model that clears the floor is promoted. After that the challenger must clear the
    floor, beat the champion by at least `min_improvement` on some compared metric, and be worse
    by more than `min_improvement` on none. Comparing the watched metrics, not only the main one,
    lets a model that fixes a shifted decision threshold win even where ranking (ROC AUC) is
    unchanged.

    Args:
        metric: The main (promotion) metric.
        challenger: The challenger's `metric` on the holdout.
        champion: The champion's `metric` on the same holdout (None: no champion).
        min_improvement: The margin.
        floor: Absolute floor on `metric` (None: none).
        others: More metrics to compare: name -> (challenger, champion).

    Returns:
        The decision, with its reason and numbers.
    """

    def decision(promote: bool, reason: str) -> PromotionDecision:
        logger.info("promotion: %s", reason)
        return PromotionDecision(
            promote=promote,
            reason=reason,
            metric=metric,
            challenger=challenger,
            champion=champion,
            min_improvement=min_improvement,
            floor=floor,
        )

    if not clears_floor(metric, challenger, floor):
        return decision(False, f"challenger {metric} {challenger:.4f} misses the floor {floor}")
    if champion is None:
        return decision(True, f"no champion; challenger {metric} {challenger:.4f} clears the floor")
    compared = {metric: (challenger, champion)} | (others or {})
    gains = {m: improvement(m, c, ch) for m, (c, ch) in compared.items()}
    shown = ", ".join(
        f"{m} {c:.4f} vs {ch:.4f} ({gains[m]:+.4f})" for m, (c, ch) in compared.items()
    )
    best = max(gains, key=lambda m: gains[m])
    worst = min(gains, key=lambda m: gains[m])
    if gains[best] >= min_improvement and gains[worst] > -min_improvement:
        return decision(
            True,
            f"challenger beats champion on {best} by {gains[best]:+.4f} >= "
            f"{min_improvement} and is worse on none by more: {shown}",
        )
    if gains[best] < min_improvement:
        why = f"no metric improves by {min_improvement}"
    else:
        why = f"{worst} is worse by {-gains[worst]:.4f}"
    return decision(False, f"{why}: {shown}; champion stays")


def apply_promotion(
    client: MlflowClient,
    *,
    name: str,
    version: str,
    decision: PromotionDecision,
    production_alias: str,
    previous_alias: str,
    challenger_alias: str,
) -> RegistryAction:
    """Point `challenger` at the new version and, when promoted, move `production` to it.

    The old production version becomes `previous`. `production` is moved last and in one call,
    so the registry always has exactly one production version.

    Returns:
        The alias moves made.
    """
    aliases = client.get_registered_model(name).aliases
    moves = [AliasMove(challenger_alias, _as_str(aliases.get(challenger_alias)), version)]
    client.set_registered_model_alias(name, challenger_alias, version)
    client.set_model_version_tag(name, version, "driftloop.promotion", decision.reason)
    if decision.promote:
        current = _as_str(aliases.get(production_alias))
        if current is not None and current != version:
            client.set_registered_model_alias(name, previous_alias, current)
            moves.append(AliasMove(previous_alias, _as_str(aliases.get(previous_alias)), current))
        client.set_registered_model_alias(name, production_alias, version)
        moves.append(AliasMove(production_alias, current, version))
    for move in moves:
        logger.info("alias %s: %s -> %s", move.alias, move.from_version, move.to_version)
    return RegistryAction(name=name, version=version, promoted=decision.promote, moves=tuple(moves))


def _as_str(value: object) -> str | None:
    return None if value is None else str(value)
