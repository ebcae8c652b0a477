"""Moving `production` safely: an intent written first, then the aliases, then the history.

A release (a promotion or a rollback) moves `production`, then tells CD. It is written down on
the target version before any alias moves. If the process dies between steps, the intent is
still there: `pending_release` finds it on the production version, and repeating
`move_production` with the same release completes the moves without doubling anything (the same
alias targets, the same history keys).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry.history import AliasEvent, record_events
from registry.models import get_aliased_version

logger = logging.getLogger(__name__)

INTENT_TAG = "driftloop.release.intent"
# Set just before CD is asked: a release that has it may have reached CD already.
SENDING_TAG = "driftloop.release.sending"
DISPATCHED_TAG = "driftloop.release.dispatched"
PROMOTION_TAG = "driftloop.promotion"
BATCH_TAG = "driftloop.batch_sha256"


@dataclass(frozen=True)
class Aliases:
    """The registry alias names (from the promotion settings; they live there and nowhere else)."""

    production: str = "production"
    previous: str = "previous"
    challenger: str = "challenger"
    candidate: str = "candidate"  # a challenger waiting for a person's approval


@dataclass(frozen=True)
class Release:
    """A planned move of `production` to `to_version`."""

    action: Literal["promote", "rollback"]
    name: str
    to_version: str
    from_version: str | None
    reason: str
    actor: str
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="microseconds"))
    batch: str | None = None
    previous_before: str | None = None

    def to_json(self) -> str:
        """The intent as stored on the target version."""
        return json.dumps(asdict(self), sort_keys=True)

    @property
    def release_id(self) -> str:
        """The release's own name, sent to CD: the same release always has the same id."""
        digest = hashlib.sha256(self.to_json().encode()).hexdigest()[:12]
        return f"{self.name}-v{self.to_version}-{digest}"


@dataclass(frozen=True)
class RegistryAction:
    """What the registry did for a challenger: alias moves, the release, or why it lost."""

    name: str
    version: str
    promoted: bool
    moves: tuple[AliasEvent, ...] = ()
    release: Release | None = None
    lost: str | None = None
    awaiting: str | None = None  # held for a person's approval: how to give it
    superseded: str | None = None  # the pending candidate this one replaced


def lost_race(
    client: MlflowClient,
    name: str,
    version: str,
    evaluated_against: str | None,
    production_alias: str,
) -> str | None:
    """Why `version` cannot be released: production moved since it was compared (None: it can)."""
    current = production_version(client, name, production_alias)
    if current == evaluated_against:
        return None
    lost = (
        f"production moved from v{evaluated_against} to v{current} while this run compared "
        f"v{version} with v{evaluated_against}; not promoted (a later run compares it with "
        f"the new champion)"
    )
    logger.warning("lost the promotion race: %s", lost)
    return lost


def production_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version `alias` points at now (None when the model or the alias does not exist)."""
    try:
        aliases = client.get_registered_model(name).aliases
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    value = aliases.get(alias)
    return None if value is None else str(value)


def plan_release(
    client: MlflowClient,
    *,
    action: Literal["promote", "rollback"],
    name: str,
    to_version: str,
    reason: str,
    actor: str,
    aliases: Aliases,
    batch: str | None = None,
) -> Release:
    """Describe moving `production` to `to_version`, from where the aliases point now."""
    return Release(
        action=action,
        name=name,
        to_version=to_version,
        from_version=_alias_of(client, name, aliases.production),
        reason=reason,
        actor=actor,
        batch=batch,
        previous_before=_alias_of(client, name, aliases.previous),
    )


def move_challenger(
    client: MlflowClient, *, name: str, version: str, alias: str, reason: str, actor: str
) -> AliasEvent:
    """Point the challenger alias at a new candidate and note the verdict on the version."""
    event = AliasEvent(
        at=datetime.now(UTC).isoformat(timespec="microseconds"),
        action="challenger",
        alias=alias,
        from_version=_alias_of(client, name, alias),
        to_version=version,
        actor=actor,
        reason=reason,
    )
    client.set_registered_model_alias(name, alias, version)
    client.set_model_version_tag(name, version, PROMOTION_TAG, reason[:4000])
    record_events(client, name, [event])
    return event


def move_production(
    client: MlflowClient, release: Release, aliases: Aliases
) -> tuple[AliasEvent, ...]:
    """Carry out a release: intent, `production` -> target, `previous` -> old one, history.

    `production` moves first and in one call, so the registry always has exactly one production
    version; repeating the call with the same release changes nothing further.

    Returns:
        The alias events recorded.
    """
    client.set_model_version_tag(release.name, release.to_version, INTENT_TAG, release.to_json())
    client.set_registered_model_alias(release.name, aliases.production, release.to_version)
    events = [_event(release, aliases.production, release.from_version, 0)]
    if release.from_version is not None and release.from_version != release.to_version:
        client.set_registered_model_alias(release.name, aliases.previous, release.from_version)
        events.append(
            _event(release, aliases.previous, release.previous_before, 1, to=release.from_version)
        )
    record_events(client, release.name, events)
    for event in events:
        logger.info("alias %s: %s -> %s", event.alias, event.from_version, event.to_version)
    return tuple(events)


def mark_sending(client: MlflowClient, release: Release) -> None:
    """Note on the version, before CD is asked, that this release may reach CD from now on.

    The first time is kept: a CD run started by the first attempt is looked for from then on.
    """
    if sending_since(client, release) is not None:
        return
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(
        release.name, release.to_version, SENDING_TAG, f"{release.release_id} {stamp}"
    )


def sending_since(client: MlflowClient, release: Release) -> str | None:
    """When CD was first asked about this release (ISO time; None: it never was)."""
    tags = client.get_model_version(release.name, release.to_version).tags
    release_id, _, stamp = tags.get(SENDING_TAG, "").partition(" ")
    return stamp if release_id == release.release_id and stamp else None


def close_release(client: MlflowClient, release: Release, note: str) -> None:
    """Close the release once CD was told: note how, then drop the intent and the mark."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(
        release.name,
        release.to_version,
        DISPATCHED_TAG,
        f"{stamp} {release.action}: {note}"[:4000],
    )
    tags = client.get_model_version(release.name, release.to_version).tags
    for key in (INTENT_TAG, SENDING_TAG):
        if key in tags:
            client.delete_model_version_tag(release.name, release.to_version, key)


def pending_release(client: MlflowClient, name: str, production_alias: str) -> Release | None:
    """A release that moved `production` but was not closed (the process died before CD)."""
    version = get_aliased_version(client, name, production_alias)
    raw = None if version is None else version.tags.get(INTENT_TAG)
    if version is None or raw is None:
        return None
    release = Release(**json.loads(raw))
    # An intent on a version that production never reached is stale; the next release of that
    # version overwrites it before moving anything.
    return release if release.to_version == version.version else None


def _alias_of(client: MlflowClient, name: str, alias: str) -> str | None:
    value = client.get_registered_model(name).aliases.get(alias)
    return None if value is None else str(value)


def _event(
    release: Release, alias: str, before: str | None, seq: int, *, to: str | None = None
) -> AliasEvent:
    return AliasEvent(
        at=release.at,
        action=release.action,
        alias=alias,
        from_version=before,
        to_version=to or release.to_version,
        actor=release.actor,
        reason=release.reason,
        batch=release.batch,
        seq=seq,
    )


def apply_promotion(
    client: MlflowClient,
    *,
    name: str,
    version: str,
    promote: bool,
    reason: str,
    evaluated_against: str | None,
    actor: str,
    batch: str | None,
    aliases: Aliases,
) -> RegistryAction:
    """Point `challenger` at the new version and, when the decision says so, release it.

    Call this while holding the release lock. `production` moves only if it still points at
    the champion the challenger was evaluated against: when another run promoted meanwhile, this
    run lost the race and says so (its comparison was with a model no longer in production).

    Returns:
        The alias moves made, the release, or why the challenger was not released.
    """
    challenger = move_challenger(
        client, name=name, version=version, alias=aliases.challenger, reason=reason, actor=actor
    )
    if not promote:
        return RegistryAction(name=name, version=version, promoted=False, moves=(challenger,))
    lost = lost_race(client, name, version, evaluated_against, aliases.production)
    if lost is not None:
        return RegistryAction(
            name=name, version=version, promoted=False, moves=(challenger,), lost=lost
        )
    release = plan_release(
        client,
        action="promote",
        name=name,
        to_version=version,
        reason=reason,
        actor=actor,
        aliases=aliases,
        batch=batch,
    )
    moves = move_production(client, release, aliases)
    return RegistryAction(
        name=name, version=version, promoted=True, moves=(challenger, *moves), release=release
    )
