"""`driftloop history` and `driftloop rollback`: plain functions over the registry, no Prefect."""

from __future__ import annotations

import argparse
import sys

import httpx
from mlflow.exceptions import MlflowException

from config.settings import Settings
from config.spec import load_spec
from delivery.dispatch import DispatchRequest, DispatchResult
from delivery.errors import DispatchError
from delivery.notify import Notification
from pipeline import shipping
from pipeline.notices import notify
from registry import tracking
from registry.errors import RollbackError
from registry.history import read_history
from registry.release import pending_release


def history_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print the model's alias moves, oldest first, and where the aliases point now."""
    name = load_spec(args.spec or settings.paths.spec).name
    client = tracking.connect(settings.mlflow.tracking_uri)
    try:
        events = read_history(client, name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        events = []
    if not events:
        print(f"{name}: no alias moves recorded in {settings.mlflow.tracking_uri}")
        return 0
    for event in events:
        print(event)
    aliases = client.get_registered_model(name).aliases
    print("now: " + ", ".join(f"{k} -> v{v}" for k, v in sorted(aliases.items())))
    open_release = pending_release(client, name, settings.promotion.production_alias)
    if open_release:
        print(
            f"open: the {open_release.action} to v{open_release.to_version} has not reached CD "
            "yet; the next run or rollback completes it"
        )
    return 0


def rollback_command(settings: Settings, args: argparse.Namespace) -> int:
    """Move production back, record it, and trigger CD exactly as a promotion does."""
    name = load_spec(args.spec or settings.paths.spec).name
    client = tracking.connect(settings.mlflow.tracking_uri)

    def deliver(request: DispatchRequest) -> DispatchResult:
        return shipping.deliver_now(settings.github, request, shipping.dry_run_path(settings))

    try:
        done, repaired = shipping.rollback(
            client,
            settings,
            name=name,
            to_version=args.to_version,
            reason=args.reason,
            deliver=deliver,
        )
    except RollbackError as exc:
        print(f"driftloop: {exc}", file=sys.stderr)
        return 1
    except (DispatchError, httpx.TransportError) as exc:
        print(
            f"driftloop: production moved, but CD was not told: {exc}; the release stays open "
            "and the next run or `driftloop rollback` sends it",
            file=sys.stderr,
        )
        return 1
    if repaired:
        print(
            f"completed an interrupted {repaired.release.action} to v{repaired.release.to_version}"
        )
    release = done.release
    notify(
        settings,
        Notification(
            "model_rolled_back",
            name,
            release.reason,
            model_version=release.to_version,
            previous_version=release.from_version,
            details={"by": release.actor, "CD": done.delivery.note},
        ),
    )
    print(
        f"{name}: production v{release.from_version} -> v{release.to_version} (rollback); "
        f"CD: {done.delivery.note}"
    )
    return 0
