"""Data versions against real git and DVC: tracking, commits, pushes, and restores byte for byte.

Each test builds a real repository in `tmp_path` (`git init` + `dvc init`) with a local-folder DVC
remote; only the remote that hangs (the push time limit) is an S3 endpoint.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from dvc.repo import Repo

from config.manifest import DataFile
from runs import versions
from runs.batches import build_manifest, list_batches
from runs.errors import DataVersionError
from runs.versions import Store

# DVC's own use of pygtrie, on every `dvc add` (third-party noise).
pytestmark = pytest.mark.filterwarnings("ignore:_NoneStep.value:DeprecationWarning")
IDENTITY = ("-c", "user.name=Test User", "-c", "user.email=test@example.com")


@pytest.fixture(autouse=True)
def _dvc_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site"))


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def make_repo(root: Path, remote: Path | None, *, scm: bool = True) -> Path:
    """A git + DVC repository at `root` (its set-up committed), a local DVC remote as default."""
    root.mkdir(parents=True)
    if scm:
        git(root, "init", "-q")
    Repo.init(str(root), no_scm=not scm).close()
    config = "[core]\n    analytics = false\n" + ("    no_scm = True\n" if not scm else "")
    if remote is not None:
        config += f"    remote = store\n['remote \"store\"']\n    url = {remote}\n"
    (root / ".dvc" / "config").write_text(config)
    (root / "notes.txt").write_text("the user's notes\n")
    if scm:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "set up")
    return root


def open_(root: Path, **options: object) -> Store:
    store, note = versions.open_store(root, **options)  # type: ignore[arg-type]
    assert store is not None, note
    assert note == ""
    return store


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def last_commit(root: Path) -> tuple[str, set[str]]:
    """Subject and files of HEAD."""
    subject, *files = git(root, "show", "--name-only", "--format=%s", "HEAD").split("\n")
    return subject, {f for f in files if f}


def status(root: Path) -> set[str]:
    return {line for line in git(root, "status", "--porcelain").splitlines() if line}


def waiting(store: Store) -> list[Path]:
    """The pending list, as paths (however the list spells them: relative to the repository)."""
    return [(store.root / p).resolve() for p in versions.pending(store)]


def remote_objects(remote: Path) -> set[str]:
    """The md5 keys a local DVC remote holds."""
    return {p.parent.name + p.name for p in (remote / "files" / "md5").glob("*/*")}


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return tmp_path / "remote"


@pytest.fixture
def root(tmp_path: Path, remote: Path) -> Path:
    return make_repo(tmp_path / "project", remote)


def test_tracking_commits_only_the_new_pointer_and_its_gitignore(root: Path) -> None:
    (root / "notes.txt").write_text("edited, not staged\n")
    write(root / "staged.txt", b"staged, not committed\n")
    git(root, "add", "staged.txt")
    batch = write(root / "data" / "incoming" / "b1.csv", b"a,b\n1,2\n3,4\n")
    before = head(root)
    store = open_(root)
    assert store.git and store.remote == "store" and store.remote_url == str(root.parent / "remote")

    pointers = versions.track(store, [batch], "driftloop: accept b1.csv (toy)")

    assert pointers == ("data/incoming/b1.csv.dvc",)
    assert git(root, "rev-parse", "HEAD~1").strip() == before  # one commit, on top
    assert last_commit(root) == (
        "driftloop: accept b1.csv (toy)",
        {"data/incoming/b1.csv.dvc", "data/incoming/.gitignore"},
    )
    # The user's own changes are exactly as they were; the data file is ignored, not listed.
    assert status(root) == {" M notes.txt", "A  staged.txt"}
    assert (root / "data" / "incoming" / ".gitignore").read_text().strip() == "/b1.csv"
    pointer = (root / pointers[0]).read_text()
    assert f"md5: {md5(batch)}" in pointer
    [entry] = build_manifest([batch], root)
    assert entry.md5 == md5(batch)  # DVC's hash is the plain md5 of the bytes
    assert versions.is_tracked(store, batch)
    assert versions.revision(store, pointers) == head(root)
    assert versions.with_dvc_hashes(store, [entry]) == (
        DataFile("data/incoming/b1.csv", entry.sha256, entry.md5, "data/incoming/b1.csv.dvc"),
    )

    committed = head(root)
    assert versions.track(store, [batch], "again") == pointers  # tracked already: left alone
    assert head(root) == committed


def test_pointers_are_committed_without_a_git_identity(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    batch = write(root / "b1.csv", b"a\n1\n")
    pointers = versions.track(open_(root), [batch], "driftloop: accept b1.csv")
    assert pointers == ("b1.csv.dvc",)
    author = git(root, "log", "-1", "--format=%an <%ae>").strip()
    assert author == "driftloop <driftloop@localhost>"
    assert last_commit(root)[1] == {"b1.csv.dvc", ".gitignore"}


def test_a_stage_output_is_left_to_its_stage(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)  # `dvc repro` targets are relative to the working directory
    (root / "dvc.yaml").write_text(
        "stages:\n  make:\n    cmd: mkdir -p data && printf 'a,b\\n1,2\\n' > data/made.csv\n"
        "    outs:\n      - data/made.csv\n"
    )
    repo = Repo(str(root))
    try:
        repo.reproduce("make")
    finally:
        repo.close()
    git(root, "add", "dvc.yaml", "dvc.lock", "data/.gitignore")
    git(root, "commit", "-q", "-m", "the stage")
    before = head(root)
    store = open_(root)
    made = root / "data" / "made.csv"

    assert versions.is_tracked(store, made)
    assert versions.track(store, [made], "driftloop: accept made.csv") == ("dvc.lock",)
    assert head(root) == before  # nothing committed
    assert not (root / "data" / "made.csv.dvc").exists()
    assert status(root) == set()
    assert versions.revision(store, ["dvc.lock"]) == before
    [entry] = versions.with_dvc_hashes(store, build_manifest([made], root))
    assert entry.pointer == "dvc.lock" and entry.md5 == md5(made)
    assert f"md5: {entry.md5}" in (root / "dvc.lock").read_text()


def test_a_folder_is_tracked_as_one_pointer_and_its_files_restore(
    root: Path, remote: Path, tmp_path: Path
) -> None:
    folder = root / "data" / "quarantine" / "20240101T000000-b2.csv"
    bad = write(folder / "b2.csv", b"x_two,y\n1,0\n")
    write(folder / "reason.txt", b"x2 is missing\n")
    store = open_(root)

    pointers = versions.track(store, [folder], "driftloop: quarantine b2.csv (toy)")

    assert pointers == ("data/quarantine/20240101T000000-b2.csv.dvc",)
    assert last_commit(root)[1] == {
        "data/quarantine/20240101T000000-b2.csv.dvc",
        "data/quarantine/.gitignore",
    }
    assert versions.is_tracked(store, bad)  # a file inside a tracked folder
    committed = head(root)
    assert versions.track(store, [bad], "inside") == pointers  # the folder's pointer; no commit
    assert head(root) == committed
    assert versions.push_pending(store, [str(folder)]) == "pushed to store"
    assert md5(bad) in remote_objects(remote)

    files = versions.with_dvc_hashes(store, build_manifest([bad], root))
    assert files[0].pointer == pointers[0]
    original = bad.read_bytes()
    shutil.rmtree(folder)
    shutil.rmtree(root / ".dvc" / "cache")
    assert versions.locate(store, files) == {files[0].path: "remote"}
    [out] = versions.restore(store, files, tmp_path / "out")
    assert out == tmp_path / "out" / files[0].path and out.read_bytes() == original


def test_revision_is_none_while_a_pointer_is_uncommitted_or_modified(root: Path) -> None:
    batch = write(root / "b1.csv", b"a\n1\n")
    before = head(root)
    store = open_(root, commit=False)

    pointers = versions.track(store, [batch], "not committed")

    assert pointers == ("b1.csv.dvc",) and (root / "b1.csv.dvc").is_file()
    assert head(root) == before
    assert "?? b1.csv.dvc" in status(root)
    assert versions.revision(store, pointers) is None  # not in git at all
    git(root, "add", "b1.csv.dvc")
    assert versions.revision(store, pointers) is None  # staged, not committed
    git(root, "commit", "-q", "-m", "by hand", "--", "b1.csv.dvc")
    assert versions.revision(store, pointers) == head(root)

    batch.write_bytes(b"a\n2\n")
    repo = Repo(str(root))
    try:
        repo.add([str(batch)])  # the pointer now names other content
    finally:
        repo.close()
    assert versions.revision(store, pointers) is None
    assert versions.revision(store, []) is None


def test_a_push_to_a_remote_that_is_down_stays_pending_until_it_is_back(
    tmp_path: Path, remote: Path
) -> None:
    blocker = write(tmp_path / "blocker", b"a file where the remote's folder should be")
    root = make_repo(tmp_path / "project", blocker / "remote")  # root cannot `chmod` it away
    store = open_(root)
    first = write(root / "data" / "b1.csv", b"a\n1\n")
    second = write(root / "data" / "b2.csv", b"a\n2\n")
    versions.track(store, [first], "accept b1")

    said = versions.push_pending(store, [str(first)])

    assert said.startswith("push pending (1 path(s)): ")
    assert "Not a directory" in said, said  # DVC's own reason, not its help line
    assert waiting(store) == [first.resolve()]
    versions.track(store, [second], "accept b2")
    said = versions.push_pending(store, [str(second)])  # still down: both wait
    assert said.startswith("push pending (2 path(s)): ")
    assert waiting(store) == [first.resolve(), second.resolve()]
    assert git(root, "check-ignore", str(versions.PENDING_FILE)).strip()  # never committed
    sent = md5(first)
    first.unlink()  # deleted before the remote came back: DVC's cache still has it

    blocker.unlink()  # the remote is back
    assert versions.push_pending(store, []) == "pushed to store"  # a later run, nothing new
    assert versions.pending(store) == []
    assert not (root / versions.PENDING_FILE).exists()
    assert remote_objects(blocker / "remote") == {sent, md5(second)}
    assert versions.push_pending(store, []) == "pushed to store"


def test_a_remote_that_never_answers_is_left_after_the_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    root = make_repo(tmp_path / "project", None)
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        with (root / ".dvc" / "config").open("a") as config:
            config.write(
                "    remote = s3\n['remote \"s3\"']\n    url = s3://bucket/dvc\n"
                f"    endpointurl = http://127.0.0.1:{port}\n"
            )
        store = open_(root, push_timeout_seconds=3)
        batch = write(root / "b1.csv", b"a\n1\n")
        versions.track(store, [batch], "accept b1")
        said = versions.push_pending(store, [str(batch)])
    assert said == "push pending (1 path(s)): no answer within 3 s"
    assert waiting(store) == [batch.resolve()]
    assert store.remote_shown == "s3 (s3://bucket/dvc)"


def test_no_push_without_a_remote_or_when_pushes_are_off(tmp_path: Path, root: Path) -> None:
    batch = write(root / "b1.csv", b"a\n1\n")
    store = open_(root, push=False)
    versions.track(store, [batch], "accept b1")
    assert versions.push_pending(store, [str(batch)]) == "not pushed (DRIFTLOOP_DATA__PUSH=false)"
    bare = make_repo(tmp_path / "bare", None)
    store = open_(bare)
    assert store.remote is None and store.remote_shown == ""
    assert versions.push_pending(store, []) == ""


def test_restore_from_the_cache_then_from_the_remote_byte_for_byte(
    root: Path, tmp_path: Path
) -> None:
    data = {
        root / "data" / "reference.parquet": os.urandom(4096),
        root / "data" / "incoming" / "b1.csv": b"a,b\n" + b"1,2\n" * 500,
    }
    paths = [write(path, content) for path, content in data.items()]
    store = open_(root)
    versions.track(store, paths, "accept")
    assert versions.push_pending(store, [str(p) for p in paths]) == "pushed to store"
    files = build_manifest(paths, root)
    names = [f.path for f in files]
    assert names == ["data/reference.parquet", "data/incoming/b1.csv"]
    assert versions.locate(store, files) == dict.fromkeys(names, "workspace")

    for path in paths:
        path.unlink()
    assert versions.locate(store, files) == dict.fromkeys(names, "cache")
    restored = versions.restore(store, files, tmp_path / "from-cache")
    assert [p.read_bytes() for p in restored] == list(data.values())

    shutil.rmtree(root / ".dvc" / "cache")
    assert versions.locate(store, files) == dict.fromkeys(names, "remote")
    restored = versions.restore(store, files, tmp_path / "from-remote")
    assert restored == [tmp_path / "from-remote" / name for name in names]
    assert [p.read_bytes() for p in restored] == list(data.values())
    assert versions.locate(store, files) == dict.fromkeys(names, "cache")  # fetched into it

    assert versions.restore_in_place(store, files) == names
    assert [p.read_bytes() for p in paths] == list(data.values())
    assert versions.restore_in_place(store, files) == []  # nothing missing any more


def test_locate_and_restore_say_what_is_nowhere(root: Path, tmp_path: Path) -> None:
    kept = write(root / "kept.csv", b"a\n1\n")
    lost = write(root / "lost.csv", b"a\n2\n")
    store = open_(root)
    versions.track(store, [kept, lost], "accept")
    versions.push_pending(store, [str(kept)])  # lost.csv never reaches the remote
    files = build_manifest([kept, lost], root)
    old = DataFile("old.csv", "0" * 64)  # trained before DVC hashes were recorded
    kept.unlink()
    lost.unlink()
    shutil.rmtree(root / ".dvc" / "cache")

    assert versions.locate(store, [*files, old]) == {
        "kept.csv": "remote",
        "lost.csv": "missing",
        "old.csv": "missing",
    }
    with pytest.raises(DataVersionError, match=r"not in DVC remote store \(.*\): lost\.csv"):
        versions.restore(store, files, tmp_path / "out")
    with pytest.raises(DataVersionError, match="no DVC hash"):
        versions.restore(store, [old], tmp_path / "out")


def test_without_a_remote_only_the_cache_restores(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "project", None)
    batch = write(root / "b1.csv", b"a\n1\n")
    store = open_(root)
    versions.track(store, [batch], "accept")
    files = build_manifest([batch], root)
    batch.unlink()
    assert versions.locate(store, files) == {"b1.csv": "cache"}
    shutil.rmtree(root / ".dvc" / "cache")
    assert versions.locate(store, files) == {"b1.csv": "missing"}
    with pytest.raises(DataVersionError, match=r"no DVC remote is configured: b1\.csv"):
        versions.restore(store, files, tmp_path / "out")


def test_restore_never_overwrites_a_different_file(root: Path, tmp_path: Path) -> None:
    batch = write(root / "data" / "b1.csv", b"a\n1\n")
    store = open_(root)
    versions.track(store, [batch], "accept")
    files = build_manifest([batch], root)
    other = write(tmp_path / "out" / "data" / "b1.csv", b"someone else's file\n")

    with pytest.raises(DataVersionError, match="exists with other content; not overwritten"):
        versions.restore(store, files, tmp_path / "out")
    assert other.read_bytes() == b"someone else's file\n"

    same = write(tmp_path / "same" / "data" / "b1.csv", b"a\n1\n")
    assert versions.restore(store, files, tmp_path / "same") == [same]  # already there: fine
    assert not list((tmp_path / "same").rglob(".*.restoring"))


def test_restore_in_place_leaves_a_changed_file_alone(root: Path) -> None:
    batch = write(root / "b1.csv", b"a\n1\n")
    store = open_(root)
    versions.track(store, [batch], "accept")
    files = build_manifest([batch], root)
    batch.write_bytes(b"a\nchanged\n")
    assert versions.restore_in_place(store, files) == []
    assert batch.read_bytes() == b"a\nchanged\n"
    assert versions.locate(store, files) == {"b1.csv": "cache"}


def test_a_project_that_is_not_a_dvc_repository_has_no_store(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    git(plain, "init", "-q")  # git alone is not enough
    store, note = versions.open_store(plain)
    assert store is None
    assert note == f"not versioned: {plain.resolve()} is not a DVC repository (`dvc init`)"
    assert versions.with_dvc_hashes(None, [DataFile("a", "b", "c")]) == (DataFile("a", "b", "c"),)


def test_a_remote_that_is_not_configured_is_an_error(root: Path) -> None:
    with pytest.raises(DataVersionError, match="DVC remote 'elsewhere' is not configured"):
        versions.open_store(root, remote="elsewhere")


def test_a_remote_url_is_shown_without_its_credentials(root: Path) -> None:
    with (root / ".dvc" / "config").open("a") as config:
        config.write("['remote \"web\"']\n    url = https://alice:s3cret@example.com/dvc\n")
    store = open_(root, remote="web")
    assert store.remote_url == "https://example.com/dvc"
    assert "s3cret" not in store.remote_shown


def test_a_dvc_repository_without_git_tracks_but_never_commits(
    tmp_path: Path, remote: Path
) -> None:
    outer = tmp_path / "outer"  # even inside someone's git work tree, --no-scm means no git
    outer.mkdir()
    git(outer, "init", "-q")
    git(outer, "commit", "-q", "--allow-empty", "-m", "outer")
    before = head(outer)
    root = make_repo(outer / "project", remote, scm=False)
    batch = write(root / "b1.csv", b"a\n1\n")
    store = open_(root)
    assert not store.git

    pointers = versions.track(store, [batch], "accept b1")

    assert pointers == ("b1.csv.dvc",) and (root / "b1.csv.dvc").is_file()
    assert not (root / ".git").exists()
    assert head(outer) == before
    assert versions.revision(store, pointers) is None
    assert versions.push_pending(store, [str(batch)]) == "pushed to store"
    assert remote_objects(remote) == {md5(batch)}


def test_a_remote_that_is_down_is_unknown_to_locate_and_restore_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's retries would take 15 s
    root = make_repo(tmp_path / "project", None)
    with (root / ".dvc" / "config").open("a") as config:
        config.write(
            "    remote = s3\n['remote \"s3\"']\n    url = s3://bucket/dvc\n"
            f"    endpointurl = http://127.0.0.1:{closed_port()}\n"
        )
    store = open_(root)
    batch = write(root / "b1.csv", b"a\n1\n")
    versions.track(store, [batch], "accept b1")
    files = build_manifest([batch], root)
    batch.unlink()
    shutil.rmtree(root / ".dvc" / "cache")
    assert versions.locate(store, files) == {"b1.csv": "unknown"}
    with pytest.raises(DataVersionError, match=r"fetching from DVC remote s3: .*127\.0\.0\.1"):
        versions.restore(store, files, tmp_path / "out")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_file_dvc_cannot_record_is_reported_and_the_others_are_recorded(
    tmp_path: Path, remote: Path
) -> None:
    root = make_repo(tmp_path / "project", remote)
    store = open_(root)
    inside = write(root / "data" / "b1.csv", b"a\n1\n")
    outside = write(tmp_path / "elsewhere" / "reference.csv", b"a\n0\n")

    recorded, problems = versions.track_each(store, [outside, inside], "accept b1")

    assert recorded == ((inside, "data/b1.csv.dvc"),)
    assert problems == (f"{outside} lies outside the DVC repository {root}: not versioned",)
    assert versions.revision(store, ["data/b1.csv.dvc"]) == head(root)  # committed all the same
    with pytest.raises(DataVersionError, match="lies outside the DVC repository"):
        versions.track(store, [outside], "again")


def test_the_commit_takes_only_dvcs_lines_and_leaves_the_users_index_and_edits(
    tmp_path: Path, remote: Path
) -> None:
    root = make_repo(tmp_path / "project", remote)
    write(root / "data" / ".gitignore", b"/scratch/\n")
    git(root, "add", "data/.gitignore")
    git(root, "commit", "-q", "-m", "the user's ignore file")
    (root / "data" / ".gitignore").write_text("/scratch/\n# my work in progress\n")
    (root / "notes.txt").write_text("staged by the user\n")
    git(root, "add", "notes.txt")
    batch = write(root / "data" / "b1.csv", b"a\n1\n")

    versions.track(open_(root), [batch], "driftloop: accept b1.csv")

    assert git(root, "show", "HEAD:data/.gitignore") == "/scratch/\n/b1.csv\n"
    assert "# my work in progress" in (root / "data" / ".gitignore").read_text()
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [
        "data/.gitignore",
        "data/b1.csv.dvc",
    ]
    status = git(root, "status", "--porcelain").splitlines()
    assert sorted(status) == [" M data/.gitignore", "M  notes.txt"]  # the user's, as they were


def test_a_detached_head_gets_no_commit_and_the_next_run_on_a_branch_commits(
    tmp_path: Path, remote: Path
) -> None:
    root = make_repo(tmp_path / "project", remote)
    store = open_(root)
    git(root, "checkout", "-q", "--detach", "HEAD")
    batch = write(root / "data" / "b1.csv", b"a\n1\n")
    before = head(root)

    recorded, problems = versions.track_each(store, [batch], "accept b1")

    assert recorded == ((batch, "data/b1.csv.dvc"),)
    assert problems == (
        "DVC pointers not committed: a detached HEAD: the DVC pointers are left uncommitted "
        "(commit them on a branch)",
    )
    assert head(root) == before
    git(root, "checkout", "-q", "-")  # back on the branch
    versions.track(store, [batch], "accept b1 again")
    assert versions.revision(store, ["data/b1.csv.dvc"]) == head(root) != before


def test_a_file_dropped_into_a_tracked_folder_is_not_claimed_as_versioned(
    tmp_path: Path, remote: Path
) -> None:
    root = make_repo(tmp_path / "project", remote)
    store = open_(root)
    folder = root / "data" / "incoming"
    write(folder / "b1.csv", b"a\n1\n")
    versions.track(store, [folder], "the team tracks the folder")
    dropped = write(folder / "b2.csv", b"a\n2\n")

    recorded, problems = versions.track_each(store, [dropped], "accept b2")

    assert recorded == ()
    assert problems == (
        f"{dropped} lies in data/incoming, which DVC tracks, but DVC has not recorded this "
        "content (`dvc status` shows data/incoming changed; `dvc commit` or `dvc add` records it)",
    )
    files = build_manifest([dropped], root)
    assert versions.with_dvc_hashes(store, files)[0].pointer == ""  # no revision claimed


def test_a_file_of_a_tracked_folder_is_pushed_with_the_whole_folder(
    tmp_path: Path, remote: Path
) -> None:
    root = make_repo(tmp_path / "project", remote)
    store = open_(root)
    folder = root / "data" / "incoming"
    first, second = write(folder / "b1.csv", b"a\n1\n"), write(folder / "b2.csv", b"a\n2\n")
    versions.track(store, [folder], "the team tracks the folder")

    recorded, _ = versions.track_each(store, [first], "accept b1")

    assert recorded == ((folder, "data/incoming.dvc"),)  # the output, not the one file
    assert versions.push_pending(store, [str(p) for p, _ in recorded]) == "pushed to store"
    assert {md5(first), md5(second)} <= remote_objects(remote)  # DVC's .dir needs them all


def test_a_folder_git_ignores_but_for_its_pointer_is_pushed_through_the_pointer(
    tmp_path: Path, remote: Path
) -> None:
    root = make_repo(tmp_path / "project", remote)
    (root / ".gitignore").write_text("quarantine/*\n!quarantine/*.dvc\n!quarantine/.gitignore\n")
    folder = root / "quarantine" / "20240101T000000-b3"
    rejected = write(folder / "b3.csv", b"a\nbroken\n")
    write(folder / "reason.txt", b"b3.csv failed suite toy\n")
    store = open_(root)

    recorded, problems = versions.track_each(store, [folder], "quarantine b3")

    assert problems == ()
    assert recorded == ((folder, "quarantine/20240101T000000-b3.dvc"),)
    assert versions.push_pending(store, [str(folder)]) == "pushed to store"
    assert md5(rejected) in remote_objects(remote)


def test_with_a_symlink_cache_a_tracked_batch_is_still_a_batch_named_by_its_own_path(
    tmp_path: Path, remote: Path
) -> None:
    root = make_repo(tmp_path / "project", remote)
    with (root / ".dvc" / "config").open("a") as config:
        config.write("[cache]\n    type = symlink\n")
    incoming = root / "data" / "incoming"
    batch = write(incoming / "b1.csv", b"a\n1\n")
    store = open_(root)

    versions.track(store, [batch], "accept b1")

    assert batch.is_symlink()  # DVC made it a link into its cache
    assert list_batches(incoming) == [batch]  # a link into the DVC cache is not "outside"
    manifest = versions.with_dvc_hashes(store, build_manifest([batch], root))
    assert [(e.path, e.pointer) for e in manifest] == [
        ("data/incoming/b1.csv", "data/incoming/b1.csv.dvc")
    ]
    assert versions.track(store, [batch], "again") == ("data/incoming/b1.csv.dvc",)  # no re-add
    assert versions.revision(store, ["data/incoming/b1.csv.dvc"]) == head(root)
