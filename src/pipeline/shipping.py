"""Releasing a model: the promotion lock, the CD hand-off, repairs after a crash, rollback.

Plain functions (no Prefect): the retraining flow calls them with its retried dispatch task,
and `driftloop rollback` calls them directly, so a rollback does not wait for a Prefect server.
"""

from __future__ import annotations

import getpass
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from filelock import FileLock
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from config.settings import GitHubSettings, Settings
from delivery import dispatch
from delivery.dispatch import DispatchRequest, DispatchResult, build_dispatch_request
from registry import models
from registry.errors import RollbackError
from registry.release import (
    Release,
    mark_delivered,
    move_production,
    pending_release,
    plan_release,
    production_version,
)

logger = logging.getLogger(__name__)

Deliver = Callable[[DispatchRequest], DispatchResult]


@dataclass(frozen=True)
class Shipped:
    """A release carried out, and what CD was told."""

    release: Release
    delivery: DispatchResult


def promotion_lock(settings: Settings, name: str) -> FileLock:
    """The lock that serializes releases of one model (promotions, repairs, rollbacks).

    It is a file next to the run ledger: runs on one host, or on hosts that share the data
    directory, take turns. The lock is released by the OS if the process dies.
    """
    folder = settings.paths.ledger.parent / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(
        folder / f"{name}.release.lock", timeout=settings.promotion.lock_timeout_seconds
    )


def run_lock(settings: Settings, name: str) -> FileLock:
    """The lock that makes runs of one dataset take turns (batches are processed in order).

    A second run started meanwhile waits, then takes the next unprocessed batch, so each batch
    is processed once. Like the release lock, it is a file next to the ledger.
    """
    folder = settings.paths.ledger.parent / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f"{name}.run.lock", timeout=settings.promotion.lock_timeout_seconds)


def current_actor(run: str | None = None) -> str:
    """Who is acting: user@host, and the flow run when there is one."""
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    return f"{who} (flow run {run})" if run else who


def dispatch_request(settings: Settings, version: models.RegisteredVersion) -> DispatchRequest:
    """The `repository_dispatch` that asks CD to ship `version`."""
    return build_dispatch_request(
        api_url=settings.github.api_url,
        repo=settings.github.repo,
        event_type=settings.github.event_type,
        model_name=version.name,
        model_version=version.version,
        run_id=version.run_id,
        metrics=version.metrics,
        alias=settings.promotion.production_alias,
    )


def deliver_now(
    github: GitHubSettings,
    request: DispatchRequest,
    dry_run_path: Path,
    transport: httpx.BaseTransport | None = None,
) -> DispatchResult:
    """Send the dispatch, retrying as GitHub asks (or record it when no token is set)."""
    if github.token is None:
        return dispatch.record_dry_run(request, dry_run_path)
    with httpx.Client(timeout=github.timeout_seconds, transport=transport) as client:
        return dispatch.deliver_dispatch(
            client,
            request,
            github.token.get_secret_value(),
            attempts=github.attempts,
            base_delay=github.base_delay_seconds,
        )


def dry_run_path(settings: Settings) -> Path:
    """Where a dispatch that could not be sent (no token) is written."""
    return settings.paths.reports / f"dispatch-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.json"


def ship(client: MlflowClient, settings: Settings, release: Release, deliver: Deliver) -> Shipped:
    """Tell CD about a release whose aliases have moved, then close the release."""
    version = models.get_version(client, release.name, release.to_version)
    result = deliver(dispatch_request(settings, version))
    mark_delivered(client, release, result.note)
    return Shipped(release, result)


def complete_interrupted(
    client: MlflowClient, settings: Settings, name: str, deliver: Deliver
) -> Shipped | None:
    """Finish a release that a crashed run left open: aliases, history, then CD, once.

    Call this while holding the promotion lock.
    """
    p = settings.promotion
    release = pending_release(client, name, p.production_alias)
    if release is None:
        return None
    logger.warning(
        "completing the %s of %s v%s (%s) that an earlier run left unfinished",
        release.action,
        name,
        release.to_version,
        release.at,
    )
    move_production(
        client, release, production_alias=p.production_alias, previous_alias=p.previous_alias
    )
    return ship(client, settings, release, deliver)


def rollback(
    client: MlflowClient,
    settings: Settings,
    *,
    name: str,
    to_version: str | None,
    reason: str,
    deliver: Deliver,
) -> tuple[Shipped, Shipped | None]:
    """Move `production` back (to `previous` by default), record it, and trigger CD.

    Returns:
        The rollback, and any interrupted release completed before it.

    Raises:
        RollbackError: no production version, no version to go back to, or the target is
            unknown or already in production.
    """
    p = settings.promotion
    with promotion_lock(settings, name):
        repaired = complete_interrupted(client, settings, name, deliver)
        current = production_version(client, name, p.production_alias)
        if current is None:
            raise RollbackError(
                f"{name} has no `{p.production_alias}` version: nothing to roll back"
            )
        target = to_version or production_version(client, name, p.previous_alias)
        if target is None:
            raise RollbackError(
                f"{name} has no `{p.previous_alias}` version; name one with --to VERSION"
            )
        if target == current:
            raise RollbackError(f"{name} v{target} is already `{p.production_alias}`")
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
            actor=current_actor(),
            production_alias=p.production_alias,
            previous_alias=p.previous_alias,
        )
        move_production(
            client, release, production_alias=p.production_alias, previous_alias=p.previous_alias
        )
        logger.info("rolled %s back from v%s to v%s: %s", name, current, target, reason)
        return ship(client, settings, release, deliver), repaired
