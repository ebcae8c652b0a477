"""Data versions with DVC: what the loop accepts or quarantines is tracked, committed and pushed.

Every data file a run accepts (a batch, the reference it first uses) or quarantines is recorded
with DVC: a file DVC already tracks (a `dvc.yaml` stage output, a `.dvc` file) is left as it is;
any other is `dvc add`-ed, and the new pointer (with the `.gitignore` DVC writes beside it) is
committed to git on its own, so the revision a model version names holds every pointer of its
data. Pushes to the DVC remote run in a child process with a time limit: a remote that is down
delays nothing but the push, which the next run retries (the pending pointers are listed in
`PENDING_FILE`). A model version names its files by DVC's content hash (md5), so its data can be
restored from the cache or the remote on any clone, whatever became of the pointers.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from config.manifest import DataFile
from runs.batches import content_hash
from runs.errors import DataVersionError

logger = logging.getLogger(__name__)

# Pointers whose push has not reached the remote yet (one repo-relative path per line); local
# to this machine's checkout, never committed.
PENDING_FILE = Path(".dvc") / "tmp" / "driftloop-push-pending"
LOCK_FILE = Path(".dvc") / "tmp" / "driftloop.lock"
SHOWN_ERROR_CHARS = 300
# Version tags naming a model's data: each training file as `md5  path` (what `md5sum -c`
# reads), the git commit holding every file's DVC pointer, and the DVC remote.
DATA_TAG = "driftloop.data.dvc"
REVISION_TAG = "driftloop.data.revision"
REMOTE_TAG = "driftloop.data.remote"
Where = Literal["workspace", "cache", "remote", "missing", "unknown"]
_warned: set[str] = set()


@dataclass(frozen=True)
class Store:
    """The project's DVC repository as the loop uses it."""

    root: Path  # the DVC repository
    git: bool  # a git work tree, so pointers can be committed
    remote: str | None  # the DVC remote pushes go to; None when none is configured
    remote_url: str = ""  # its URL, without credentials
    commit: bool = True
    push: bool = True
    push_timeout_seconds: float = 120.0
    # Where runs start: manifest paths are relative to it (it may lie below `root`).
    project: Path = Path()

    @property
    def remote_shown(self) -> str:
        """The remote as records name it: `name (url)`, or empty."""
        return f"{self.remote} ({self.remote_url})" if self.remote else ""


@dataclass(frozen=True)
class Versioned:
    """What versioning did for one run's data: the line its record shows."""

    files: tuple[DataFile, ...] = ()
    revision: str | None = None  # the git commit holding every pointer; None when uncommitted
    remote: str = ""
    push: str = ""  # "pushed", "push pending: why", or "" (no remote)
    note: str = ""  # why the data is not versioned, when it is not

    def line(self) -> str:
        """One line for the decision record and the log."""
        if self.note:
            return self.note
        where = f"pointers at git {self.revision[:12]}" if self.revision else "pointers uncommitted"
        pushed = f"; {self.push}" if self.push else "; no DVC remote configured"
        return f"{len(self.files)} file(s) tracked by DVC, {where}{pushed}"


def find_root(start: Path) -> Path | None:
    """The DVC repository holding `start` (the nearest folder above it with `.dvc/`)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None


def open_store(
    project: Path,
    *,
    remote: str | None = None,
    commit: bool = True,
    push: bool = True,
    push_timeout_seconds: float = 120.0,
) -> tuple[Store | None, str]:
    """The DVC store of `project`, or None and why the loop keeps hashes only.

    Args:
        project: The project folder (where runs start).
        remote: The DVC remote to push to; default: the repository's default remote.
        commit: Commit new pointers to git.
        push: Push tracked data to the remote.
        push_timeout_seconds: How long a push may take before it is left to the next run.
    """
    root = find_root(project)
    if root is None:
        return None, f"not versioned: {project.resolve()} is not a DVC repository (`dvc init`)"
    with _quiet():
        repo = _repo(root)
        try:
            config = repo.config
            name = remote or config["core"].get("remote")
            if name and name not in config["remote"]:
                raise DataVersionError(
                    f"DVC remote {name!r} is not configured in {root} (dvc remote list)"
                )
            url = _clean_url(str(config["remote"][name]["url"])) if name else ""
            git = type(repo.scm).__name__ == "Git"
        finally:
            repo.close()
    return (
        Store(
            root=root,
            git=git,
            remote=name or None,
            remote_url=url,
            commit=commit,
            push=push,
            push_timeout_seconds=push_timeout_seconds,
            project=project.resolve(),
        ),
        "",
    )


def warn_once(note: str) -> None:
    """Log why data is not versioned, once per process for each reason."""
    if note and note not in _warned:
        _warned.add(note)
        logger.warning("%s; the loop carries on with content hashes only", note)


def track(store: Store, paths: Sequence[Path], message: str) -> tuple[str, ...]:
    """Record `paths` (files or folders) with DVC; commit the pointers that are new.

    A path DVC already tracks is left alone (never re-added: a stage output stays its stage's).

    Returns:
        The pointer of each path (repo-relative): its `.dvc` file, or `dvc.lock` for a stage
        output.

    Raises:
        DataVersionError: DVC could not record a path (the message says why); the others are
            recorded and committed all the same.
    """
    recorded, problems = track_each(store, paths, message)
    if problems:
        raise DataVersionError("; ".join(problems))
    return tuple(pointer for _, pointer in recorded)


def track_each(
    store: Store, paths: Sequence[Path], message: str
) -> tuple[tuple[tuple[Path, str], ...], tuple[str, ...]]:
    """`track`, path by path: what DVC recorded and why it could not record the rest.

    Returns:
        Each recorded path with its pointer, and one reason per path left out (a file outside
        the repository, in a git-ignored folder, ...).
    """
    recorded: list[tuple[Path, str]] = []
    added, problems = [], []
    with _locked(store), _quiet():
        repo = _repo(store.root)
        try:
            for path in paths:
                found, problem = _track_one(repo, store, path)
                if problem:
                    logger.warning("%s; the run carries on with its content hash only", problem)
                    problems.append(problem)
                    continue
                if found is None:
                    continue
                if found.startswith(NEW):
                    found = found.removeprefix(NEW)
                    added.append(found)
                recorded.append((path, found))
        finally:
            repo.close()
        if added and store.git and store.commit:  # under the lock: one git commit at a time
            _commit(store, added, message)
    return tuple(recorded), tuple(problems)


NEW = "new:"


def _track_one(repo: Any, store: Store, path: Path) -> tuple[str | None, str]:
    """The pointer of `path` (prefixed `NEW` when this call made it), or why there is none."""
    if not path.resolve().is_relative_to(store.root.resolve()):
        return None, f"{path} lies outside the DVC repository {store.root}: not versioned"
    found = _pointer(repo, store.root, path)
    if found is not None:
        return found, ""
    try:
        stages = repo.add([str(path)])
    except Exception as exc:  # noqa: BLE001 (DVC's own errors share no narrower base: reported)
        return None, f"dvc add {path}: {_said(exc)}"
    return NEW + _relative(store.root, Path(stages[0].path)), ""


def is_tracked(store: Store, path: Path) -> bool:
    """Whether DVC tracks `path` already (a stage output, a `.dvc` file, or inside one)."""
    with _quiet():
        repo = _repo(store.root)
        try:
            return _pointer(repo, store.root, path) is not None
        finally:
            repo.close()


def revision(store: Store, pointers: Sequence[str]) -> str | None:
    """The git commit that holds every one of `pointers` as it is now, or None."""
    if not store.git or not pointers:
        return None
    unique = sorted(set(pointers))
    listed = _git(store.root, "ls-files", "--error-unmatch", "--", *unique)
    changed = _git(store.root, "status", "--porcelain", "--", *unique)
    if listed.returncode != 0 or changed.stdout.strip():
        return None
    head = _git(store.root, "rev-parse", "HEAD")
    return head.stdout.strip() or None if head.returncode == 0 else None


def push_pending(store: Store, pointers: Sequence[str]) -> str:
    """Push `pointers` and any an earlier run could not push; return what happened.

    The push runs as `dvc push` in a child process that is stopped after the store's time
    limit; what did not reach the remote stays listed for the next run.
    """
    if store.remote is None or not store.push:
        return ""
    pending_file = store.root / PENDING_FILE
    asked = [_relative(store.root, store.project / p) for p in pointers]
    with _locked(store):
        waiting = _read_pending(pending_file)
        targets = [p for p in dict.fromkeys([*waiting, *asked]) if _pushable(store.root / p)]
        if not targets:
            return f"pushed to {store.remote}"
        failed = _push(store, [_push_target(store.root / p, p) for p in targets])
        _write_pending(pending_file, targets if failed else [])
    if failed:
        logger.warning("DVC push to %s failed: %s; the next run retries", store.remote, failed)
        return f"push pending ({len(targets)} pointer(s)): {failed}"
    return f"pushed to {store.remote}"


def _pushable(path: Path) -> bool:
    """Whether `dvc push` can still send `path`: it is there, or its `.dvc` pointer is.

    DVC pushes a deleted file from its cache, through the pointer.
    """
    return path.exists() or path.with_name(path.name + ".dvc").is_file()


def _push_target(path: Path, shown: str) -> str:
    """A deleted file is pushed through its `.dvc` pointer (DVC takes no path that is gone)."""
    return shown if path.exists() else shown + ".dvc"


def pending(store: Store) -> list[str]:
    """Pointers an earlier push could not deliver."""
    return _read_pending(store.root / PENDING_FILE)


def locate(store: Store, files: Sequence[DataFile]) -> dict[str, Where]:
    """Where each file's exact content can be had: its path, the DVC cache, or the remote."""
    found: dict[str, Where] = {}
    asked = []
    with _quiet():
        repo = _repo(store.root)
        try:
            for entry in files:
                path = store.project / entry.path
                if path.is_file() and content_hash(path) == entry.sha256:
                    found[entry.path] = "workspace"
                elif entry.md5 and Path(repo.cache.local.oid_to_path(entry.md5)).is_file():
                    found[entry.path] = "cache"
                elif entry.md5 and store.remote:
                    asked.append(entry)
                else:
                    found[entry.path] = "missing"
            if asked:
                found |= _in_remote(repo, store, asked)
        finally:
            repo.close()
    return found


def restore(store: Store, files: Sequence[DataFile], target: Path) -> list[Path]:
    """Materialize exactly `files` under `target` (each at its manifest path), byte for byte.

    Each file comes from its project path when that still holds the recorded content, else
    from the DVC cache, else from the remote (fetched into the cache first). Every written file
    is checked against its recorded sha256; an existing file with other content is never
    overwritten.

    Raises:
        DataVersionError: a file is in none of those places, or came back different.
    """
    written = []
    with _quiet():
        repo = _repo(store.root)
        try:
            _fetch_missing(repo, store, files)
            for entry in files:
                out = target / entry.path
                if not out.resolve().is_relative_to(target.resolve()):
                    raise DataVersionError(
                        f"{entry.path}: lies outside the project; not restored under {target}"
                    )
                written.append(_materialize(repo, store, entry, out))
        finally:
            repo.close()
    return written


def restore_in_place(store: Store, files: Sequence[DataFile]) -> list[str]:
    """Bring back the project files of `files` that are missing, from the cache or remote.

    A file whose path holds other content is left alone (reading it fails with that reason).

    Returns:
        The paths restored.
    """
    missing = [e for e in files if e.md5 and not (store.project / e.path).exists()]
    if not missing:
        return []
    restore(store, missing, store.project)
    logger.info("restored from DVC: %s", ", ".join(e.path for e in missing))
    return [e.path for e in missing]


def with_dvc_hashes(store: Store | None, files: Sequence[DataFile]) -> tuple[DataFile, ...]:
    """`files` with the pointer that tracks each one (their md5 is known already)."""
    if store is None:
        return tuple(files)
    with _quiet():
        repo = _repo(store.root)
        try:
            return tuple(
                replace(e, pointer=_pointer(repo, store.root, store.project / e.path) or "")
                for e in files
            )
        finally:
            repo.close()


def _fetch_missing(repo: Any, store: Store, files: Sequence[DataFile]) -> None:
    from dvc_data.hashfile.hash_info import HashInfo  # noqa: PLC0415 (DVC loads lazily)

    wanted = [
        e
        for e in files
        if not _holds(store.project / e.path, e)
        and e.md5
        and not Path(repo.cache.local.oid_to_path(e.md5)).is_file()
    ]
    if not wanted:
        return
    if store.remote is None:
        names = ", ".join(e.path for e in wanted)
        raise DataVersionError(f"not in the DVC cache and no DVC remote is configured: {names}")
    try:
        repo.cloud.pull([HashInfo("md5", e.md5) for e in wanted], remote=store.remote)
    except Exception as exc:  # DVC's and the filesystem's errors share no narrower base
        raise DataVersionError(f"fetching from DVC remote {store.remote}: {_said(exc)}") from exc
    lost = {e.md5 for e in wanted if not Path(repo.cache.local.oid_to_path(e.md5)).is_file()}
    if lost:
        names = ", ".join(e.path for e in wanted if e.md5 in lost)
        raise DataVersionError(f"not in DVC remote {store.remote_shown}: {names}")


def _materialize(repo: Any, store: Store, entry: DataFile, out: Path) -> Path:
    if _holds(out, entry):
        return out
    if out.exists():
        raise DataVersionError(f"{out} exists with other content; not overwritten")
    source = store.project / entry.path
    if not _holds(source, entry):
        if not entry.md5:
            raise DataVersionError(
                f"{entry.path}: missing, and its record has no DVC hash (trained before "
                "driftloop versioned data with DVC)"
            )
        source = Path(repo.cache.local.oid_to_path(entry.md5))
        if not source.is_file():
            raise DataVersionError(f"{entry.path}: not in the DVC cache (md5 {entry.md5})")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.restoring")
    shutil.copyfile(source, partial)
    if content_hash(partial) != entry.sha256:
        partial.unlink()
        raise DataVersionError(f"{entry.path}: restored bytes differ from sha256 {entry.sha256}")
    partial.chmod(0o644)
    partial.replace(out)
    return out


def _holds(path: Path, entry: DataFile) -> bool:
    return path.is_file() and content_hash(path) == entry.sha256


def _in_remote(repo: Any, store: Store, files: Sequence[DataFile]) -> dict[str, Where]:
    from dvc_data.hashfile.hash_info import HashInfo  # noqa: PLC0415

    try:
        status = repo.cloud.status([HashInfo("md5", e.md5) for e in files], remote=store.remote)
    except Exception as exc:  # noqa: BLE001 (an unreachable remote: say so, do not guess)
        logger.warning("DVC remote %s did not answer: %s", store.remote, _said(exc))
        return dict.fromkeys((e.path for e in files), "unknown")
    there = {h.value for h in (*status.ok, *status.deleted)}  # deleted: in the remote only
    return {e.path: "remote" if e.md5 in there else "missing" for e in files}


def _pointer(repo: Any, root: Path, path: Path) -> str | None:
    """The pointer tracking `path`: its `.dvc` file, `dvc.lock` for a stage output, or None."""
    from dvc.exceptions import OutputNotFoundError  # noqa: PLC0415

    try:
        outs = repo.find_outs_by_path(str(path.resolve()), strict=False)
    except OutputNotFoundError:
        return None
    stage = outs[0].stage
    dvcfile = Path(stage.path)
    if dvcfile.name in ("dvc.yaml", "dvc.yml"):
        dvcfile = dvcfile.with_name("dvc.lock")
    return _relative(root, dvcfile)


def _commit(store: Store, added: Sequence[str], message: str) -> None:
    """Commit the new pointers and DVC's `.gitignore` beside each, and nothing else."""
    paths = sorted({*added, *(str(Path(p).parent / ".gitignore") for p in added)})
    paths = [p for p in paths if (store.root / p).exists()]
    identity = []
    if not _git(store.root, "config", "user.email").stdout.strip():
        identity = ["-c", "user.name=driftloop", "-c", "user.email=driftloop@localhost"]
    staged = _git(store.root, "add", "--", *paths)
    done = (
        _git(store.root, *identity, "commit", "--no-verify", "-q", "-m", message, "--", *paths)
        if staged.returncode == 0
        else staged
    )
    if done.returncode != 0:
        logger.warning(
            "could not commit the DVC pointers %s: %s; commit them by hand",
            ", ".join(paths),
            (done.stderr or done.stdout).strip()[-SHOWN_ERROR_CHARS:],
        )


def _push(store: Store, targets: Sequence[str]) -> str:
    """Run `dvc push`; return why it failed, or "" when every target reached the remote.

    A remote that is a local folder cannot hang: it is pushed to in this process (a child
    process costs 3-4 s of start-up per run). Any other runs in a child with a time limit.
    """
    if _is_local(store.remote_url):
        return _push_here(store, targets)
    command = [sys.executable, "-m", "dvc", "push", "-r", str(store.remote), *targets]
    try:
        done = subprocess.run(
            command,
            cwd=store.root,
            capture_output=True,
            text=True,
            timeout=store.push_timeout_seconds,
            check=False,
            env=os.environ | {"DVC_NO_ANALYTICS": "1"},
        )
    except subprocess.TimeoutExpired:
        return f"no answer within {store.push_timeout_seconds:g} s"
    if done.returncode == 0:
        return ""
    lines = [
        ln
        for ln in (done.stderr or done.stdout).splitlines()
        if ln.strip() and not ln.startswith("Having any troubles")
    ]
    return " ".join(lines[:2])[-SHOWN_ERROR_CHARS:] or f"dvc push exited {done.returncode}"


def _is_local(url: str) -> bool:
    scheme = urlsplit(url).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def _push_here(store: Store, targets: Sequence[str]) -> str:
    with _quiet():
        repo = _repo(store.root)
        try:
            repo.push(targets=[str(store.root / t) for t in targets], remote=store.remote)
        except Exception as exc:  # noqa: BLE001 (DVC's errors share no narrower base: reported)
            return _said(exc)
        finally:
            repo.close()
    return ""


def _read_pending(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_pending(path: Path, pointers: Sequence[str]) -> None:
    if not pointers:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text("".join(f"{p}\n" for p in pointers), encoding="utf-8")
    partial.replace(path)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )


def _repo(root: Path) -> Any:
    from dvc.repo import Repo  # noqa: PLC0415 (importing DVC costs ~0.3 s; only runs that use it pay)

    return Repo(str(root))


@contextlib.contextmanager
def _locked(store: Store) -> Iterator[None]:
    """One DVC operation of this project at a time (datasets' runs may overlap)."""
    path = store.root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """DVC's advice for people at a terminal ("To track the changes with git..."): not shown."""
    dvc_log = logging.getLogger("dvc")
    level = dvc_log.level
    dvc_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        dvc_log.setLevel(level)


def _relative(root: Path, path: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def _clean_url(url: str) -> str:
    """A remote URL without credentials (`s3://bucket/x` stays as it is)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _said(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:SHOWN_ERROR_CHARS]
