"""Releases a person approves: a challenger that passed every gate waits as the `candidate`.

With manual approval, the run that judged a challenger the winner does not move `production`:
it points the `candidate` alias at the version and writes down, on the version, what it was
compared with and why it won. `approve_candidate` then releases it exactly as an automatic
promotion would (the intent first, then the aliases, then the history; the caller tells CD),
and `reject_candidate` records the refusal. A newer candidate supersedes a pending one. A
candidate whose champion has moved since (a rollback, another release) was judged against a
model no longer in production: approving it is refused.

Each step is a tag on the version and an alias event in the registry's history, so a pending
candidate and every verdict on one outlive the process that made them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry.errors import ApprovalError
from registry.history import AliasEvent, record_events
from registry.release import (
    Aliases,
    RegistryAction,
    Release,
    lost_race,
    move_challenger,
    move_production,
    plan_release,
    production_version,
)

logger = logging.getLogger(__name__)

# On a version: the request the run wrote (JSON), and the verdict on it in words.
REQUEST_TAG = "driftloop.approval.request"
STATE_TAG = "driftloop.approval"
# The target of an alias event that removed the alias.
REMOVED = "-"
_ACTIONS = {"approved": "approve", "rejected": "reject", "put in production": "rollback"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Candidate:
    """A version waiting for approval: what it was compared with, and why it won."""

    name: str
    version: str
    evaluated_against: str | None  # the production version it beat (None: the first model)
    reason: str
    actor: str  # who ran the run that proposed it
    batch: str | None = None
    at: str = field(default_factory=_now)
    starts_regime: bool = False  # trained on a new regime's data only (see runs.ledger)
    by_hand: bool = False  # the alias was set by hand: no run compared it with production

    def to_json(self) -> str:
        """The request as stored on the version."""
        return json.dumps(asdict(self), sort_keys=True)

    @property
    def command(self) -> str:
        """How a person releases it (the model named: the default spec may be another's)."""
        return f'driftloop approve {self.version} --model {self.name} --reason "..."'


@dataclass(frozen=True)
class Proposed:
    """A candidate now pending, and the one it superseded (if any)."""

    candidate: Candidate
    event: AliasEvent
    superseded: str | None = None


def pending_candidate(client: MlflowClient, name: str, aliases: Aliases) -> Candidate | None:
    """The version the `candidate` alias points at, with its request (None: none pending)."""
    version = production_version(client, name, aliases.candidate)
    if version is None:
        return None
    raw = client.get_model_version(name, version).tags.get(REQUEST_TAG)
    if raw is None:
        return Candidate(name, version, None, "set by hand", "unknown", by_hand=True)
    try:
        return Candidate(**json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise ApprovalError(
            f"the approval request on {name} v{version} ({REQUEST_TAG}) is not one driftloop "
            f"wrote ({exc}); `driftloop reject {version} --model {name}` it"
        ) from None


def stale_because(client: MlflowClient, candidate: Candidate, aliases: Aliases) -> str | None:
    """Why the candidate cannot be approved as it stands (None: it can)."""
    if candidate.by_hand:
        return (
            f"v{candidate.version} was made `{aliases.candidate}` by hand, not by a run that "
            "compared it with production; only a run's candidate is approved (`driftloop "
            f"rollback --to {candidate.version}` puts a chosen version in production)"
        )
    current = production_version(client, candidate.name, aliases.production)
    if current == candidate.evaluated_against:
        return None
    then = f"v{candidate.evaluated_against}" if candidate.evaluated_against else "no model"
    now = f"v{current}" if current else "none"
    return (
        f"v{candidate.version} was compared with {then}, but production is now {now}: its "
        f"evidence is stale; `driftloop reject` it, and the next retraining run compares a new "
        f"challenger with {now}"
    )


def propose_candidate(client: MlflowClient, candidate: Candidate, aliases: Aliases) -> Proposed:
    """Point `candidate` at the version and note the request; a pending older one is superseded.

    Call this while holding the release lock, once the version passed every gate against the
    current champion.
    """
    older = pending_candidate(client, candidate.name, aliases)
    superseded = older.version if older and older.version != candidate.version else None
    client.set_model_version_tag(
        candidate.name, candidate.version, REQUEST_TAG, candidate.to_json()
    )
    client.set_model_version_tag(
        candidate.name, candidate.version, STATE_TAG, f"pending since {candidate.at}"
    )
    client.set_registered_model_alias(candidate.name, aliases.candidate, candidate.version)
    if superseded is not None:
        _set_state(
            client, candidate.name, superseded, f"superseded by v{candidate.version} at {_now()}"
        )
    event = AliasEvent(
        at=_now(),
        action="candidate",
        alias=aliases.candidate,
        from_version=older.version if older else None,
        to_version=candidate.version,
        actor=candidate.actor,
        reason=f"awaits approval: {candidate.reason}",
        batch=candidate.batch,
    )
    record_events(client, candidate.name, [event])
    logger.info(
        "%s v%s awaits approval%s",
        candidate.name,
        candidate.version,
        f" (supersedes v{superseded})" if superseded else "",
    )
    return Proposed(candidate, event, superseded)


def hold_for_approval(
    client: MlflowClient, candidate: Candidate, aliases: Aliases
) -> RegistryAction:
    """What a winning challenger does under manual approval: `challenger`, then `candidate`.

    Call this while holding the release lock. `production` does not move; a challenger whose
    champion moved while it was judged lost the race, as under automatic promotion.
    """
    name, version = candidate.name, candidate.version
    challenger = move_challenger(
        client,
        name=name,
        version=version,
        alias=aliases.challenger,
        reason=candidate.reason,
        actor=candidate.actor,
    )
    lost = lost_race(client, name, version, candidate.evaluated_against, aliases.production)
    if lost is not None:
        return RegistryAction(name, version, promoted=False, moves=(challenger,), lost=lost)
    proposed = propose_candidate(client, candidate, aliases)
    return RegistryAction(
        name,
        version,
        promoted=False,
        moves=(challenger, proposed.event),
        awaiting=f"v{version} awaits approval: {candidate.command}",
        superseded=proposed.superseded,
    )


def approve_candidate(
    client: MlflowClient,
    *,
    name: str,
    version: str | None,
    reason: str,
    actor: str,
    aliases: Aliases,
) -> Release:
    """Release the pending candidate as a promotion: intent, aliases, history; then clear it.

    Call this while holding the release lock, after completing any interrupted release; then
    tell CD and close the release, as after an automatic promotion.

    Raises:
        ApprovalError: nothing is pending, `version` is not the pending candidate, or
            production has moved since the candidate was compared with it.
    """
    candidate = _the_candidate(client, name, version, aliases, verb="approve")
    stale = stale_because(client, candidate, aliases)
    if stale is not None:
        raise ApprovalError(stale)
    release = plan_release(
        client,
        action="promote",
        name=name,
        to_version=candidate.version,
        reason=f"approved by {actor}: {reason}; the run found: {candidate.reason}",
        actor=actor,
        aliases=aliases,
        batch=candidate.batch,
    )
    move_production(client, release, aliases)
    _clear(client, candidate, aliases, verdict="approved", actor=actor, reason=reason)
    return release


def reject_candidate(
    client: MlflowClient,
    *,
    name: str,
    version: str | None,
    reason: str,
    actor: str,
    aliases: Aliases,
) -> Candidate:
    """Refuse the pending candidate: the alias is removed, the refusal recorded; nothing ships.

    Raises:
        ApprovalError: nothing is pending, or `version` is not the pending candidate.
    """
    candidate = _the_candidate(client, name, version, aliases, verb="reject")
    _clear(client, candidate, aliases, verdict="rejected", actor=actor, reason=reason)
    return candidate


def clear_released_candidate(client: MlflowClient, release: Release, aliases: Aliases) -> bool:
    """Clear a `candidate` alias on the version `release` put in production.

    An approval whose process stopped before clearing the alias leaves one, and so does a
    rollback to the pending candidate; either way the candidate is released, by that release's
    actor.

    Returns:
        Whether a candidate was cleared.
    """
    candidate = pending_candidate(client, release.name, aliases)
    if candidate is None or candidate.version != release.to_version:
        return False
    verdict = "approved" if release.action == "promote" else "put in production"
    reason = f"released by the {release.action} of {release.at}: {release.reason}"
    _clear(client, candidate, aliases, verdict=verdict, actor=release.actor, reason=reason)
    return True


def _the_candidate(
    client: MlflowClient, name: str, version: str | None, aliases: Aliases, *, verb: str
) -> Candidate:
    try:
        candidate = pending_candidate(client, name, aliases)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise ApprovalError(f"{name} is not in the registry: nothing to {verb}") from None
        raise
    if candidate is not None and version in {None, candidate.version}:
        return candidate
    waiting = f"v{candidate.version} is the one waiting" if candidate else "no version is waiting"
    if version is None:
        raise ApprovalError(
            f"{waiting} for approval as `{aliases.candidate}` of {name}: nothing to {verb}"
        )
    raise ApprovalError(f"v{version} is not pending ({_state(client, name, version)}); {waiting}")


def _state(client: MlflowClient, name: str, version: str) -> str:
    try:
        tags = client.get_model_version(name, version).tags
    except MlflowException:
        return f"{name} has no version {version}"
    return tags.get(STATE_TAG, "it never waited for approval")


def _set_state(client: MlflowClient, name: str, version: str, state: str) -> None:
    client.set_model_version_tag(name, version, STATE_TAG, state[:4000])


def _clear(
    client: MlflowClient,
    candidate: Candidate,
    aliases: Aliases,
    *,
    verdict: str,
    actor: str,
    reason: str,
) -> None:
    at = _now()
    _set_state(client, candidate.name, candidate.version, f"{verdict} by {actor} at {at}: {reason}")
    client.delete_registered_model_alias(candidate.name, aliases.candidate)
    event = AliasEvent(
        at=at,
        action=_ACTIONS[verdict],
        alias=aliases.candidate,
        from_version=candidate.version,
        to_version=REMOVED,
        actor=actor,
        reason=reason,
        batch=candidate.batch,
    )
    record_events(client, candidate.name, [event])
    logger.info("%s v%s %s by %s: %s", candidate.name, candidate.version, verdict, actor, reason)
