"""`driftloop data VERSION`: what a model version was trained on, and getting those bytes back.

A version's training files are named by its manifest (path, sha256, DVC md5, pointer); each is
looked for in the project (`locate`): its path, the DVC cache, the DVC remote. `--restore DIR`
materializes exactly those files under DIR, sha256-checked. A rollback prints the same check
for the version it restores, without ever blocking on it.
Only the commands that use it load it (it imports MLflow): `driftloop --help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from config.manifest import DataFile, Manifest
from config.spec import load_spec
from pipeline import console
from registry import tracking
from registry.errors import RegistryError
from registry.models import (
    MANIFEST_ARTIFACT,
    RegisteredVersion,
    get_aliased_version,
    get_version,
    load_training_manifest,
)
from runs import versions
from runs.batches import content_hash
from runs.errors import DataVersionError, LedgerError
from runs.ledger import read_ledger
from runs.versions import REMOTE_TAG, REVISION_TAG, Store, Where

if TYPE_CHECKING:
    from config.settings import Settings

SHA_SHOWN = 12
# A rollback is an emergency action: its data check waits this long for the DVC remote at most.
ROLLBACK_CHECK_SECONDS = 30.0
PLACES: dict[Where, str] = {
    "workspace": "workspace",
    "cache": "DVC cache",
    "remote": "DVC remote",
    "missing": "MISSING",
    "unknown": "unknown (the DVC remote did not answer)",
}
NO_MD5 = "trained before driftloop versioned data with DVC"


@dataclass(frozen=True)
class TrainingData:
    """A version's training files and where each can be had now."""

    version: RegisteredVersion
    aliases: tuple[str, ...]  # the aliases pointing at it
    files: Manifest
    store: Store | None
    note: str  # why there is no DVC store
    where: dict[str, Where]


def show(settings: Settings, args: argparse.Namespace) -> int:
    """Print what a version was trained on; with --restore, materialize it under DIR."""
    console.prepare_libraries(args.verbosity)  # MLflow downloads the manifest: no progress bar
    name = args.model or load_spec(args.spec or settings.paths.spec).name
    client = tracking.connect(settings.mlflow.tracking_uri)
    try:
        found = gather(settings, client, name, args.version, settings.data.push_timeout_seconds)
    except (RegistryError, DataVersionError) as exc:
        print(console.error_line(str(exc)), file=sys.stderr)
        return 1
    print("\n".join(describe(found, known_rows(settings, found))))
    if args.restore is None:
        return 0
    try:
        written = restore_to(found, args.restore)
    except DataVersionError as exc:
        shown = f"v{found.version.version}'s data not restored to {args.restore}: {exc}"
        print(console.error_line(shown), file=sys.stderr)
        return 1
    for path in written:
        print(f"restored {path}")
    files = "1 file" if len(written) == 1 else f"{len(written)} files"
    print(f"{files} restored byte for byte (sha256 checked) to {args.restore}")
    return 0


def gather(
    settings: Settings, client: MlflowClient, name: str, wanted: str, seconds: float
) -> TrainingData:
    """The version `wanted` names, its manifest, and where each file is (see `where_now`).

    Raises:
        RegistryError: no such model, version or alias, or its manifest cannot be read.
        DataVersionError: the configured DVC remote does not exist, or DVC failed.
    """
    version, aliases = resolve(client, name, wanted)
    files = training_files(client, version)
    # Whatever DRIFTLOOP_DATA__VERSIONING says (whether runs record their data), data is read.
    store, note = versions.open_store(Path.cwd(), remote=settings.data.remote)
    mine = tuple(sorted(k for k, v in aliases.items() if str(v) == version.version))
    return TrainingData(version, mine, files, store, note, where_now(store, files, seconds))


def resolve(
    client: MlflowClient, name: str, wanted: str
) -> tuple[RegisteredVersion, dict[str, str]]:
    """The version `wanted` names (`3`, `v3` or an alias), and the model's aliases.

    Raises:
        RegistryError: the model, the version or the alias does not exist.
    """
    try:
        aliases = {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RegistryError(f"{name} is not a registered model") from None
        raise
    number = wanted.removeprefix("v")
    if number.isdigit():
        try:
            return get_version(client, name, number), aliases
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise RegistryError(f"{name} has no version {number}") from None
    found = get_aliased_version(client, name, wanted)
    if found is None:
        known = ", ".join(f"{k} -> v{v}" for k, v in sorted(aliases.items())) or "none"
        raise RegistryError(f"{name} has no version or alias {wanted!r} (aliases: {known})")
    return found, aliases


def training_files(client: MlflowClient, version: RegisteredVersion) -> Manifest:
    """The manifest logged with the version's training run.

    Raises:
        RegistryError: the run or its manifest cannot be read (the message says which).
    """
    try:
        return load_training_manifest(client, version.run_id)
    except (MlflowException, OSError) as exc:
        why = f"the {MANIFEST_ARTIFACT} of its run {version.run_id} could not be read"
        raise RegistryError(f"{version.name} v{version.version}: {why}: {exc}") from exc


def where_now(store: Store | None, files: Sequence[DataFile], seconds: float) -> dict[str, Where]:
    """Where each file can be had now; a DVC remote that does not answer in time: `unknown`.

    Outside a DVC repository only the project paths are looked at (`workspace` or `missing`).
    """
    if store is None:
        return {e.path: "workspace" if _in_workspace(None, e) else "missing" for e in files}
    answer: dict[str, Where] = {}
    failed: list[BaseException] = []

    def ask() -> None:
        try:
            answer.update(versions.locate(store, files))
        except Exception as exc:  # noqa: BLE001 (raised again in the caller's thread)
            failed.append(exc)

    asking = threading.Thread(target=ask, name="driftloop-locate", daemon=True)
    asking.start()
    asking.join(seconds)
    if failed:
        raise failed[0]
    if asking.is_alive():
        return {e.path: "workspace" if _in_workspace(store, e) else "unknown" for e in files}
    return answer


def describe(found: TrainingData, rows: dict[str, int]) -> list[str]:
    """The lines `driftloop data` prints: the version, its data revision and remote, its files."""
    version, store = found.version, found.store
    remote = version.tags.get(REMOTE_TAG, "not recorded")
    if store is not None and store.remote_shown and store.remote_shown != remote:
        remote += f"; searched now: {store.remote_shown}"
    lines = [
        f"{version.name} v{version.version} ({', '.join(found.aliases) or 'no alias'})",
        f"DVC pointers at git revision: {version.tags.get(REVISION_TAG, f'none: {NO_MD5}')}",
        f"DVC remote: {remote}",
        f"trained on {len(found.files)} file(s):",
        *_table(found, rows),
    ]
    legacy = [e.path for e in found.files if not e.md5]
    if legacy:
        lines.append(
            f"no DVC hash for {', '.join(legacy)} ({NO_MD5}): restorable only from the project "
            "path, while it holds the recorded bytes (sha256)"
        )
    if store is None:
        lines.append(f"restoring needs a DVC repository: {_bare(found.note)}")
    elif store.remote is None:
        lines.append("no DVC remote configured: only the workspace and DVC cache were searched")
    if store is not None:
        waiting = sorted(_waiting(store, found.files))
        if waiting:
            lines.append(f"push pending for {', '.join(waiting)} (the next run retries it)")
    return lines


def restore_to(found: TrainingData, target: Path) -> list[Path]:
    """Materialize exactly the version's files under `target` (see `versions.restore`).

    Raises:
        DataVersionError: no DVC repository, a file that is in no place or lies outside the
            project, or one that could not be fetched or came back different.
    """
    if found.store is None:
        raise DataVersionError(f"restoring needs a DVC repository: {_bare(found.note)}")
    outside = [e.path for e in found.files if not _inside(e.path)]
    if outside:
        raise DataVersionError(f"outside the project, not restored: {', '.join(outside)}")
    if target.exists() and not target.is_dir():
        raise DataVersionError(f"{target} is not a folder")
    lost = [e for e in found.files if found.where.get(e.path) == "missing"]
    if lost:
        raise DataVersionError(
            "in no place (not in the workspace, the DVC cache or the DVC remote): "
            + ", ".join(f"{e.path}{'' if e.md5 else f' ({NO_MD5})'}" for e in lost)
        )
    return versions.restore(found.store, found.files, target)


def rollback_data_check(settings: Settings, client: MlflowClient, name: str, number: str) -> None:
    """Print whether the data of the version production moved to can still be had.

    Never raises: a rollback is done by the time this runs, and a check that fails says so.
    """
    seconds = min(settings.data.push_timeout_seconds, ROLLBACK_CHECK_SECONDS)
    try:
        found = gather(settings, client, name, number, seconds)
    except Exception as exc:  # noqa: BLE001 (an emergency action: report, never block)
        why = str(exc) if isinstance(exc, RegistryError) else f"{type(exc).__name__}: {exc}"
        print(f"data of v{number}: not checked: {console.one_line(why)}")
        return
    where = found.where
    counts = Counter(where.values())
    available = counts["workspace"] + counts["cache"] + counts["remote"]
    plural = "file" if available == 1 else "files"
    line = (
        f"data of v{number}: {available} {plural} available ({counts['workspace']} in the "
        f"workspace, {counts['cache']} in the DVC cache, {counts['remote']} in the remote)"
    )
    unknown = [p for p, w in where.items() if w == "unknown"]
    if unknown:
        line += f"; the DVC remote did not answer for {', '.join(unknown)}"
    if found.store is None:
        line += f" ({_bare(found.note)})"
    print(line)
    lost = [p for p, w in where.items() if w == "missing"]
    if lost:
        warning = (
            f"the drift reference of v{number} cannot be restored: {', '.join(lost)} "
            "(not in the workspace, the DVC cache or the remote)"
        )
        print(f"{console.PROG}: warning: {console.one_line(warning)}", file=sys.stderr)


def _table(found: TrainingData, rows: dict[str, int]) -> list[str]:
    head = ("path", "rows", "md5", "sha256", "pointer", "where now")
    cells = [
        (
            e.path,
            str(rows[e.sha256]) if e.sha256 in rows else "-",
            e.md5 or "-",
            e.sha256[:SHA_SHOWN],
            e.pointer or "-",
            PLACES[found.where.get(e.path, "unknown")],
        )
        for e in found.files
    ]
    widths = [max(len(row[i]) for row in (head, *cells)) for i in range(len(head))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in (head, *cells)
    ]


def known_rows(settings: Settings, found: TrainingData) -> dict[str, int]:
    """Rows by sha256 where cheap to know: the ledger's batches, Parquet files' footers."""
    try:
        rows = {e.sha256: e.rows for e in read_ledger(settings.paths.ledger)}
    except (LedgerError, OSError, ValueError):
        rows = {}
    root = found.store.project if found.store else Path.cwd()
    for entry in found.files:
        parquet = entry.path.endswith((".parquet", ".pq"))
        if parquet and entry.sha256 not in rows and found.where.get(entry.path) == "workspace":
            with contextlib.suppress(OSError, ValueError):
                rows[entry.sha256] = int(pq.read_metadata(root / entry.path).num_rows)
    return rows


def _in_workspace(store: Store | None, entry: DataFile) -> bool:
    path = (store.project if store else Path.cwd()) / entry.path
    return path.is_file() and content_hash(path) == entry.sha256


def _inside(path: str) -> bool:
    shown = PurePosixPath(path)
    return not shown.is_absolute() and ".." not in shown.parts


def _bare(note: str) -> str:
    return note.removeprefix("not versioned: ")


def _waiting(store: Store, files: Sequence[DataFile]) -> set[str]:
    """The files whose push (their own, or their folder's) an earlier run left pending."""
    listed = [PurePosixPath(p) for p in versions.pending(store)]
    waiting = set()
    for entry in files:
        where = PurePosixPath((store.project / entry.path).relative_to(store.root).as_posix())
        if any(where == p or p in where.parents for p in listed):
            waiting.add(entry.path)
    return waiting
