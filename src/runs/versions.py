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
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from filelock import FileLock

from config.manifest import DataFile
from runs.batches import content_hash, file_digests
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
        try:
            repo = _repo(root)
        except Exception as exc:  # noqa: BLE001 (a broken DVC set-up: hashes only, said once)
            return None, f"not versioned: DVC cannot open {root}: {_said(exc)}"
        try:
            config = repo.config
            name = remote or config["core"].get("remote")
            if name and name not in config["remote"]:
                raise DataVersionError(
                    f"DVC remote {name!r} is not configured in {root} (dvc remote list)"
                )
            url = _clean_url(str(config["remote"][name]["url"])) if name else ""
            git = type(repo.scm).__name__ == "Git" and shutil.which("git") is not None
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
        the repository, in a git-ignored folder, changed in a DVC-tracked folder without `dvc
        commit`, ...) or per pointer left uncommitted. A recorded path is what DVC pushes: the
        whole output holding it (pushing one file of a tracked folder would mark the folder
        as present in the remote).
    """
    recorded: list[tuple[Path, str]] = []
    problems = []
    with _locked(store), _quiet():
        try:
            repo = _repo(store.root)
        except Exception as exc:  # noqa: BLE001 (a broken DVC set-up: reported, the run goes on)
            return (), (f"DVC cannot open {store.root}: {_said(exc)}",)
        try:
            for path in paths:
                try:
                    found, problem = _track_one(repo, store, path)
                except Exception as exc:  # noqa: BLE001 (DVC's errors share no narrower base)
                    found, problem = None, f"DVC on {path}: {_said(exc)}"
                if found is not None:
                    recorded.append(found)
                if problem:
                    problems.append(problem)
        finally:
            repo.close()
        if recorded and store.git and store.commit:  # under the lock: one git commit at a time
            unsaved = _commit(store, [pointer for _, pointer in recorded], message)
            if unsaved:
                problems.append(f"DVC pointers not committed: {unsaved}")
    for problem in problems:
        logger.warning("%s; the run carries on with content hashes where it must", problem)
    return tuple(recorded), tuple(problems)


def _track_one(repo: Any, store: Store, path: Path) -> tuple[tuple[Path, str] | None, str]:
    """The output DVC pushes for `path` and its pointer, or why there is none."""
    if not _inside(store.root, path):
        return None, f"{path} lies outside the DVC repository {store.root}: not versioned"
    out = _output(repo, path)
    if out is None:
        stages = repo.add([str(path)])
        return (path, _relative(store.root, Path(stages[0].path))), ""
    if path.is_file() and not Path(repo.cache.local.oid_to_path(file_digests(path)[1])).is_file():
        # In a tracked folder (or a tracked file edited) whose new content DVC has not taken.
        shown = _relative(store.root, Path(out.fs_path))
        return None, (
            f"{path} lies in {shown}, which DVC tracks, but DVC has not recorded this content "
            f"(`dvc status` shows {shown} changed; `dvc commit` or `dvc add` records it)"
        )
    return (Path(out.fs_path), _pointer_of(store.root, out)), ""


def is_tracked(store: Store, path: Path) -> bool:
    """Whether DVC tracks `path` already (a stage output, a `.dvc` file, or inside one).

    When DVC cannot tell (a broken `dvc.yaml`), the answer is yes: the caller then copies the
    file rather than moving it out of what may track it.
    """
    with _quiet():
        try:
            repo = _repo(store.root)
            try:
                return _pointer(repo, store.root, path) is not None
            finally:
                repo.close()
        except Exception as exc:  # noqa: BLE001 (DVC's errors share no narrower base)
            logger.warning("DVC cannot say whether it tracks %s: %s", path, _said(exc))
            return True


def revision(store: Store, pointers: Sequence[str]) -> str | None:
    """The git commit that holds every one of `pointers` as it is now, or None."""
    if not store.git or not pointers:
        return None
    unique = sorted(set(pointers))
    listed = _git(store.root, "ls-files", "--error-unmatch", "--", *unique)
    changed = _git(store.root, "status", "--porcelain", "--", *unique)  # no index.lock taken
    if listed.returncode != 0 or changed.stdout.strip():
        return None
    head = _git(store.root, "rev-parse", "HEAD")
    return head.stdout.strip() or None if head.returncode == 0 else None


def push_pending(store: Store, paths: Sequence[str]) -> str:
    """Push `paths` (DVC outputs) and any an earlier run could not push; say what happened.

    A remote other than a local folder is pushed to by `dvc push` in a child process that is
    stopped after the store's time limit; what did not reach the remote stays listed for the
    next run.
    """
    if store.remote is None:
        return ""
    if not store.push:
        return "not pushed (DRIFTLOOP_DATA__PUSH=false)"
    pending_file = store.root / PENDING_FILE
    asked = [_relative(store.root, store.project / p) for p in paths]
    # Under the project's lock: DVC's own repository lock gives up after a few seconds, so a
    # push beside another dataset's `dvc add` would fail that add.
    with _locked(store):
        waiting = _read_pending(pending_file)
        targets = [p for p in dict.fromkeys([*waiting, *asked]) if _pushable(store.root / p)]
        if not targets:
            return f"pushed to {store.remote}"
        _write_pending(pending_file, targets)  # listed before the push: a crash loses none
        failed = _push(store, [_push_target(store.root / p, p) for p in targets])
        if not failed:
            _write_pending(pending_file, [])
    if failed:
        logger.warning("DVC push to %s failed: %s; the next run retries", store.remote, failed)
        return f"push pending ({len(targets)} path(s)): {failed}"
    return f"pushed to {store.remote}"


def _pushable(path: Path) -> bool:
    """Whether `dvc push` can still send `path`: it is there, or its `.dvc` pointer is.

    DVC pushes a deleted file from its cache, through the pointer.
    """
    return path.exists() or path.with_name(path.name + ".dvc").is_file()


def _push_target(path: Path, shown: str) -> str:
    """What `dvc push` is given for an output: its `.dvc` pointer when it has one.

    DVC does not always find an output by its path (a git-ignored folder, a deleted file); a
    stage output is given by its path.
    """
    return shown + ".dvc" if path.with_name(path.name + ".dvc").is_file() else shown


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
    """`files` with the pointer that tracks each one (their md5 is known already).

    A file gets a pointer only when DVC holds its content: one DVC tracks a folder of, but whose
    bytes it never recorded, has none (so no revision is claimed for it).
    """
    if store is None:
        return tuple(files)
    with _quiet():
        try:
            repo = _repo(store.root)
        except Exception as exc:  # noqa: BLE001 (a broken DVC set-up: hashes only)
            logger.warning("DVC cannot open %s: %s", store.root, _said(exc))
            return tuple(files)
        try:
            return tuple(replace(e, pointer=_held_pointer(repo, store, e)) for e in files)
        finally:
            repo.close()


def _held_pointer(repo: Any, store: Store, entry: DataFile) -> str:
    try:
        pointer = _pointer(repo, store.root, store.project / entry.path)
    except Exception as exc:  # noqa: BLE001 (DVC's errors share no narrower base)
        logger.warning("DVC cannot say what tracks %s: %s", entry.path, _said(exc))
        return ""
    held = bool(entry.md5) and Path(repo.cache.local.oid_to_path(entry.md5)).is_file()
    return pointer or "" if held else ""


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
    partial = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.restoring")
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
    out = _output(repo, path)
    return None if out is None else _pointer_of(root, out)


def _output(repo: Any, path: Path) -> Any:
    """The DVC output that is or holds `path`, or None."""
    from dvc.exceptions import OutputNotFoundError  # noqa: PLC0415

    try:
        outs = repo.find_outs_by_path(str(path.absolute()), strict=False)
    except OutputNotFoundError:
        return None
    return outs[0]


def _pointer_of(root: Path, out: Any) -> str:
    dvcfile = Path(out.stage.path)
    if dvcfile.name in ("dvc.yaml", "dvc.yml"):
        dvcfile = dvcfile.with_name("dvc.lock")
    return _relative(root, dvcfile)


def _commit(store: Store, pointers: Sequence[str], message: str) -> str:
    """Commit the new `.dvc` pointers and DVC's lines beside them; return why not, or "".

    One commit on the current branch holds each `.dvc` pointer git does not have yet and, in
    the `.gitignore` beside it, the line DVC wrote there.

    The commit is built in an index of its own from HEAD's tree: the user's index, staged
    changes, merge state and uncommitted edits (also to those `.gitignore` files) stay as they
    are. A pointer an earlier run could not commit is committed by the next.
    """
    root = store.root
    fresh = [p for p in dict.fromkeys(pointers) if p.endswith(".dvc") and not _in_git(root, p)]
    if not fresh:
        return ""
    if _git(root, "symbolic-ref", "-q", "HEAD").returncode != 0:
        return "a detached HEAD: the DVC pointers are left uncommitted (commit them on a branch)"
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD").stdout.strip()
    entries = _entries(root, head, fresh)
    tree = _tree(root, head, entries)
    if tree.returncode != 0:
        return _git_said("git write-tree", tree)
    identity = [] if _git(root, "config", "user.email").stdout.strip() else IDENTITY
    parent = ["-p", head] if head else []
    made = _git(root, *identity, "commit-tree", tree.stdout.strip(), *parent, "-m", message)
    if made.returncode != 0:
        return _git_said("git commit-tree", made)
    moved = _git(root, "update-ref", "-m", message, "HEAD", made.stdout.strip(), head or "0" * 40)
    if moved.returncode != 0:
        return _git_said("git update-ref", moved)
    # The user's index learns the committed blobs of these paths only (else git status would
    # show them as deleted); edits to a `.gitignore` stay as unstaged changes.
    for path, blob in entries.items():
        _git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    return ""


def _entries(root: Path, head: str, fresh: Sequence[str]) -> dict[str, str | None]:
    """The blobs to commit: each new pointer, and each `.gitignore` beside them.

    A `.gitignore` is committed as HEAD has it plus the lines DVC wrote for these pointers; a
    blob git could not store is None (`_tree` then fails).
    """
    entries = {p: _blob(root, (root / p).read_bytes()) for p in fresh}
    for ignore, lines in _ignore_lines(root, fresh).items():
        committed = _git(root, "show", f"{head}:{ignore}").stdout if head else ""
        kept = committed.splitlines()
        text = "\n".join([*kept, *(line for line in lines if line not in kept)]) + "\n"
        entries[ignore] = _blob(root, text.encode())
    return entries


def _tree(
    root: Path, head: str, entries: dict[str, str | None]
) -> subprocess.CompletedProcess[str]:
    """HEAD's tree with `entries` (path: blob) in it, built in an index of its own."""
    if None in entries.values():
        return subprocess.CompletedProcess([], 1, "", "git could not store the DVC pointers")
    with tempfile.TemporaryDirectory() as scratch:
        own = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        steps = [["read-tree", head] if head else ["read-tree", "--empty"]]
        steps += [
            ["update-index", "--add", "--cacheinfo", f"100644,{b},{p}"] for p, b in entries.items()
        ]
        for step in steps:
            done = _git(root, *step, env=own)
            if done.returncode != 0:
                return done
        return _git(root, "write-tree", env=own)


IDENTITY = ("-c", "user.name=driftloop", "-c", "user.email=driftloop@localhost")


def _in_git(root: Path, path: str) -> bool:
    return _git(root, "cat-file", "-e", f"HEAD:{path}").returncode == 0


def _blob(root: Path, data: bytes) -> str | None:
    done = _git(root, "hash-object", "-w", "--stdin", data=data)
    return done.stdout.strip() or None if done.returncode == 0 else None


def _ignore_lines(root: Path, pointers: Sequence[str]) -> dict[str, list[str]]:
    """The `/name` line DVC wrote into the `.gitignore` beside each pointer, by file."""
    found: dict[str, list[str]] = {}
    for pointer in pointers:
        folder = Path(pointer).parent
        line = "/" + Path(pointer).name.removesuffix(".dvc")
        ignore = root / folder / ".gitignore"
        if ignore.is_file() and line in ignore.read_text(encoding="utf-8").splitlines():
            found.setdefault((folder / ".gitignore").as_posix(), []).append(line)
    return found


def _git_said(step: str, done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return f"{step}: {' '.join(lines[:2])[:SHOWN_ERROR_CHARS] or f'exit {done.returncode}'}"


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


def _git(
    root: Path, *args: str, env: dict[str, str] | None = None, data: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run git without a terminal to ask at (no credential or signing prompt can hang a run).

    A git that is missing or takes too long comes back as a failed result, never an exception.
    """
    quiet = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=root,
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_SECONDS,
            check=False,
            env=os.environ | quiet | (env or {}),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(["git", *args], 1, "", _said(exc))
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


GIT_SECONDS = 60


def _repo(root: Path) -> Any:
    from dvc.repo import Repo  # noqa: PLC0415 (importing DVC costs ~0.3 s; only runs that use it pay)

    return Repo(str(root))


@contextlib.contextmanager
def _locked(store: Store) -> Iterator[None]:
    """One DVC operation of this project at a time (datasets' runs may overlap)."""
    path = store.root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path):
        yield


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
    """`path` relative to `root`; a link (DVC's symlink cache) is not followed."""
    plain = Path(os.path.abspath(path))  # noqa: PTH100 (resolve() follows links)
    if plain.is_relative_to(root):
        return plain.relative_to(root).as_posix()
    return path.resolve().relative_to(root.resolve()).as_posix()


def _inside(root: Path, path: Path) -> bool:
    plain = Path(os.path.abspath(path))  # noqa: PTH100 (resolve() follows links)
    return plain.is_relative_to(root) or path.resolve().is_relative_to(root.resolve())


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
