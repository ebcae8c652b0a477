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
    from pipeline import params
    from registry.approval import approve_candidate, pending_candidate
    from registry.errors import ApprovalError
    from registry.rollback import resume_interrupted

    name, client = _model(settings, args)
    actor, aliases = params.actor(), params.aliases(settings)
    send = cd_sender(settings, client)
    sending = "the approved release"
    try:
        with params.release_lock(settings, name):
            interrupted = resume_interrupted(client, name, aliases)
            if interrupted is not None:
                sending = f"the unfinished {interrupted.action} to v{interrupted.to_version}"
                note = send(interrupted)
                print(f"sent {sending}, which CD had not been told of")
                if _is_this_approval(
                    interrupted, args.version, pending_candidate(client, name, aliases)
                ):  # an approval stopped after its moves: asked again, it is done now
                    return _approved(settings, args, interrupted, note)
            sending = "the approved release"
            candidate = pending_candidate(client, name, aliases)
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
            f"production moved, but CD was not told of {sending}: {exc}; the release stays "
            "open and the next run, approval or `driftloop rollback` sends it"
        )
        print(console.error_line(told), file=sys.stderr)
        return 1
    starts_regime = bool(candidate and candidate.starts_regime)
    return _approved(settings, args, release, note, starts_regime=starts_regime)


def _is_this_approval(release: Release, version: str | None, waiting: object) -> bool:
    approved = release.action == "promote" and release.reason.startswith("approved by ")
    return approved and waiting is None and version in {None, release.to_version}


def _approved(
    settings: Settings,
    args: argparse.Namespace,
    release: Release,
    note: str,
    *,
    starts_regime: bool = False,
) -> int:
    """Announce an approved release, note a regime it starts, and print its line."""
    from delivery.notify import Notification
    from pipeline.outcomes import announce

    if starts_regime and release.batch:
        _note_regime_start(settings, release)
    announce(
        settings,
        Notification(
            "model_promoted",
            release.name,
            release.reason,
            model_version=release.to_version,
            previous_version=release.from_version,
            details={"approved by": release.actor, "CD": note},
        ),
    )
    before = f"v{release.from_version}" if release.from_version else "none"
    print(
        f"{release.name}: production {before} -> v{release.to_version} (approved by "
        f"{release.actor}); CD: {note}"
    )
    return 0


def _note_regime_start(settings: Settings, release: Release) -> None:
    """Append the ledger entry that says the released model starts a new regime."""
    import logging

    from pipeline import params
    from runs.ledger import append_entry, approval_entry, read_ledger

    assert release.batch is not None  # checked by the caller
    with params.run_lock(settings, release.name):  # ledger appends take turns with runs
        path = settings.paths.ledger
        entry = approval_entry(
            read_ledger(path, release.name),
            release.batch,
            actor=release.actor,
            at=release.at,
            note=f"v{release.to_version} approved: the data before its batch is an old regime",
        )
        if entry is None:
            logging.getLogger(__name__).warning(
                "%s has no entry of batch %s: the regime v%s starts is not recorded",
                path,
                release.batch[:12],
                release.to_version,
            )
            return
        append_entry(path, entry)


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

    name = args.model or load_spec(args.spec or settings.paths.spec).name
    return name, tracking.connect(settings.mlflow.tracking_uri)
