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
) -> PromotionDecision:
    """Apply the promotion rule to the challenger's and champion's scores on the same holdout.

    The first valid model is promoted; otherwise the challenger must clear the floor and beat
    the champion by at least `min_improvement`.

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
    gain = improvement(metric, challenger, champion)
    if gain >= min_improvement:
        return decision(
            True,
            f"challenger {metric} {challenger:.4f} beats champion "
            f"{champion:.4f} by {gain:+.4f} >= {min_improvement}",
        )
    return decision(
        False,
        f"challenger {metric} {challenger:.4f} vs champion {champion:.4f}: "
        f"gain {gain:+.4f} < {min_improvement}; champion stays",
    )


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
