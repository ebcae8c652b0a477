"""Releases outside a promotion: completing one a crashed run left open, and rolling back.

Each returns the release whose aliases have just moved; the caller tells CD about it and then
closes it (`release.close_release`), under the release lock, exactly as after a promotion.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from registry import models
from registry.approval import clear_released_candidate, pending_candidate, stale_because
from registry.errors import RollbackError
from registry.history import read_history
from registry.models import RegisteredVersion
from registry.release import (
    Aliases,
    Release,
    close_release,
    move_production,
    pending_release,
    plan_release,
    production_version,
    sending_since,
)

logger = logging.getLogger(__name__)


def resume_interrupted(client: MlflowClient, name: str, aliases: Aliases) -> Release | None:
    """Repeat the alias moves of a release a crashed run left open (None: nothing is open).

    Call this while holding the release lock; then tell CD and close the release.
    """
    release = pending_release(client, name, aliases.production)
    if release is None:
        return None
    logger.warning(
        "completing the %s of %s v%s (%s) that an earlier run left unfinished",
        release.action,
        name,
        release.to_version,
        release.at,
    )
    move_production(client, release, aliases)
    clear_released_candidate(client, release, aliases)  # an approval stopped before clearing it
    return release


def roll_back(
    client: MlflowClient,
    *,
    name: str,
    to_version: str | None,
    reason: str,
    actor: str,
    aliases: Aliases,
) -> Release:
    """Move `production` back (to `previous` by default) and record it in the history.

    Call this while holding the release lock, after `resume_interrupted`; then tell CD.

    Raises:
        RollbackError: no production version, no version to go back to, or the target is
            unknown or already in production.
    """
    current = production_version(client, name, aliases.production)
    if current is None:
        raise RollbackError(f"{name} has no `{aliases.production}` version: nothing to roll back")
    target = to_version or production_version(client, name, aliases.previous)
    if target is None:
        raise RollbackError(
            f"{name} has no `{aliases.previous}` version; name one with --to VERSION"
        )
    if target == current:
        raise RollbackError(f"{name} v{target} is already `{aliases.production}`")
    try:
        models.get_version(client, name, target)
    except MlflowException:
        raise RollbackError(f"{name} has no version {target}") from None
    release = plan_release(
        client,
        action="rollback",
        name=name,
        to_version=target,
        reason=reason,
        actor=actor,
        aliases=aliases,
    )
    move_production(client, release, aliases)
    clear_released_candidate(client, release, aliases)  # rolled back to the pending candidate
    logger.info("rolled %s back from v%s to v%s: %s", name, current, target, reason)
    return release


@dataclass(frozen=True)
class RolledBack:
    """A rollback carried out: the release, what CD answered, and any release it superseded."""

    release: Release
    note: str
    superseded: Release | None
    resent: bool = False  # an earlier rollback that CD had not been told of, sent now


def roll_back_and_dispatch(
    client: MlflowClient,
    *,
    name: str,
    to_version: str | None,
    reason: str,
    actor: str,
    aliases: Aliases,
    dispatch: Callable[[Release, RegisteredVersion], str],
) -> RolledBack:
    """Roll back and tell CD (`dispatch` returns its note); the rollback wins over an open release.

    A promotion a crashed run left open (its aliases moved, CD not told yet) has its alias
    moves completed, so that `previous` is right, and is then closed unsent: the operator's
    rollback replaces it, and CD hears of the version production is rolled back to. An open
    rollback (one whose dispatch failed) is the operator's own: asked again (with no version, or
    the same one), it is sent and closed and no second rollback is stacked on it; asked for
    another version, it is superseded like an open promotion. Call this while holding the
    release lock. The rollback is closed once CD was told; one that could not be dispatched
    stays open for the next run or rollback.

    Raises:
        RollbackError: see `roll_back`.
    """

    def told(release: Release) -> str:
        note = dispatch(release, models.get_version(client, name, release.to_version))
        close_release(client, release, note)
        return note

    open_release = resume_interrupted(client, name, aliases)
    unsent_rollback = open_release is not None and open_release.action == "rollback"
    if (
        open_release is not None
        and unsent_rollback
        and to_version in {None, open_release.to_version}
    ):
        logger.info("sending the rollback to v%s that was not dispatched", open_release.to_version)
        return RolledBack(open_release, told(open_release), None, resent=True)
    release = roll_back(
        client, name=name, to_version=to_version, reason=reason, actor=actor, aliases=aliases
    )
    if open_release is not None:
        maybe = sending_since(client, open_release) is not None
        told_of = (
            "CD may have been told (its dispatch was under way)" if maybe else "CD was not told"
        )
        close_release(
            client,
            open_release,
            f"superseded by the rollback to v{release.to_version} by {actor}; {told_of}",
        )
    return RolledBack(release, told(release), open_release)


def describe_history(
    client: MlflowClient, name: str, production_alias: str, candidate_alias: str = "candidate"
) -> list[str]:
    """The model's alias moves, oldest first, where the aliases point now, and any open release.

    Returns:
        One line per fact; empty when the model has no recorded move (or does not exist).
    """
    try:
        events = read_history(client, name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return []
    if not events:
        return []
    lines = [str(event) for event in events]
    aliases = client.get_registered_model(name).aliases
    lines.append("now: " + ", ".join(f"{k} -> v{v}" for k, v in sorted(aliases.items())))
    release = pending_release(client, name, production_alias)
    if release:
        lines.append(
            f"open: the {release.action} to v{release.to_version} has not been dispatched to CD "
            "yet; the next run or rollback completes it"
        )
    names = Aliases(production=production_alias, candidate=candidate_alias)
    waiting = pending_candidate(client, name, names)
    if waiting is not None:
        stale = stale_because(client, waiting, names)
        lines.append(
            f"pending: {stale}"
            if stale
            else f"pending: v{waiting.version} awaits approval (`{waiting.command}` releases "
            f"it, `driftloop reject {waiting.version} --model {name}` refuses it)"
        )
    return lines
