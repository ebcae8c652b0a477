"""`driftloop approve` and `driftloop reject`: a person's verdict on the pending candidate.

An approval releases the candidate exactly as an automatic promotion does: under the release
lock, after completing any release a crashed run left open, the aliases move (intent first),
the history says who approved and why, and CD is told once. No Prefect server is started.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline import console

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from config.settings import Settings
    from registry.release import Release


def cd_sender(settings: Settings, client: MlflowClient) -> Callable[[Release], str]:
    """Tell CD about a release once, then close it; return what CD answered."""
    from delivery.delivered import tell_cd_once
    from pipeline import params
    from registry.models import get_version
    from registry.release import close_release

    def send(release: Release) -> str:
        version = get_version(client, release.name, release.to_version)
        request = params.dispatch_request(settings, version, release)
        dry_run = params.dry_run_path(settings)
        note = tell_cd_once(client, release, request, settings.github, dry_run_path=dry_run).note
        close_release(client, release, note)
        return note

    return send


def approve(settings: Settings, args: argparse.Namespace) -> int:
    """Release the pending candidate (or refuse, with the reason) and tell CD."""
    import httpx

    from delivery.errors import DispatchError
    from delivery.notify import Notification
    from pipeline import params
    from pipeline.outcomes import announce
    from registry.approval import approve_candidate
    from registry.errors import ApprovalError
    from registry.rollback import resume_interrupted

    name, client = _model(settings, args)
    actor, aliases = params.actor(), params.aliases(settings)
    send = cd_sender(settings, client)
    try:
        with params.release_lock(settings, name):
            interrupted = resume_interrupted(client, name, aliases)
            if interrupted is not None:
                print(f"sent the unfinished {interrupted.action} to v{interrupted.to_version}")
                send(interrupted)
            release = approve_candidate(
                client,
                name=name,
                version=args.version,
                reason=args.reason,
                actor=actor,
                aliases=aliases,
            )
            note = send(release)
    except ApprovalError as exc:
        print(console.error_line(str(exc)), file=sys.stderr)
        return 1
    except (DispatchError, httpx.TransportError) as exc:
        told = (
            f"production moved, but CD was not told: {exc}; the release stays open and the "
            "next run, approval or `driftloop rollback` sends it"
        )
        print(console.error_line(told), file=sys.stderr)
        return 1
    announce(
        settings,
        Notification(
            "model_promoted",
            name,
            release.reason,
            model_version=release.to_version,
            previous_version=release.from_version,
            details={"approved by": actor, "CD": note},
        ),
    )
    before = f"v{release.from_version}" if release.from_version else "none"
    print(f"{name}: production {before} -> v{release.to_version} (approved by {actor}); CD: {note}")
    return 0


def reject(settings: Settings, args: argparse.Namespace) -> int:
    """Refuse the pending candidate: its alias goes, the refusal is recorded, nothing ships."""
    from delivery.notify import Notification
    from pipeline import params
    from pipeline.outcomes import announce
    from registry.approval import reject_candidate
    from registry.errors import ApprovalError
    from registry.release import production_version

    name, client = _model(settings, args)
    actor, aliases = params.actor(), params.aliases(settings)
    try:
        with params.release_lock(settings, name):
            refused = reject_candidate(
                client,
                name=name,
                version=args.version,
                reason=args.reason,
                actor=actor,
                aliases=aliases,
            )
    except ApprovalError as exc:
        print(console.error_line(str(exc)), file=sys.stderr)
        return 1
    current = production_version(client, name, aliases.production)
    summary = f"v{refused.version} rejected by {actor}: {args.reason}"
    event = Notification(
        "candidate_rejected",
        name,
        summary,
        model_version=refused.version,
        previous_version=current,
        details={"production stays": f"v{current}" if current else "none"},
    )
    announce(settings, event)
    print(f"{name}: candidate {summary}; production stays {f'v{current}' if current else 'none'}")
    return 0


def _model(settings: Settings, args: argparse.Namespace) -> tuple[str, MlflowClient]:
    from config.spec import load_spec
    from registry import tracking

    name = load_spec(args.spec or settings.paths.spec).name
    return name, tracking.connect(settings.mlflow.tracking_uri)
