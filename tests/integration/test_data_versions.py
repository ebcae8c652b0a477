"""Data versions end to end: the real retraining flow in a git + DVC project whose DVC remote is
an S3 bucket on moto's server (127.0.0.1); a fresh clone that gets an older model version's
training data back byte for byte; a run whose remote is down, and the next run that pushes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dvc.repo import Repo
from flow_project import Project, toy_project
from local_servers import S3_KEYS, free_port, moto_s3, s3_client
from mlflow.entities.model_registry import ModelVersion

from config.manifest import Manifest
from config.settings import get_settings
from data_validation.errors import DataValidationError
from factories import make_frame
from pipeline import cli
from pipeline.params import DATA_TAG, REMOTE_TAG, REVISION_TAG
from registry.models import load_training_manifest
from runs import versions
from runs.batches import build_manifest
from runs.ledger import read_ledger
from runs.outcome import RunSummary
from runs.versions import Store

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    # DVC's own use of pygtrie, on every `dvc add` (third-party noise).
    pytest.mark.filterwarnings("ignore:_NoneStep.value:DeprecationWarning"),
]

BIN = Path(sys.executable).parent
BUCKET = "driftloop"
TOKEN = "ghp_data_versions_0123456789"
S3_ENV = S3_KEYS | {"DVC_NO_ANALYTICS": "1"}
IDENTITY = ("-c", "user.name=Test User", "-c", "user.email=test@example.com")
# What the project commits before driftloop runs: no data file is in git.
SET_UP = {".dvc/.gitignore", ".dvc/config", ".dvcignore", "toy.yaml"}
FAST = {
    "TRAINING__TUNING_TRIALS": "0",
    "TRAINING__N_ESTIMATORS": "40",
    "PROMOTION__BOOTSTRAP_RESAMPLES": "100",
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with an empty bucket; yields its endpoint URL."""
    with moto_s3(tmp_path_factory.mktemp("dvc-s3") / "log", BUCKET) as endpoint:
        yield endpoint


def _objects(endpoint: str) -> set[str]:
    """The md5 keys of the DVC objects in the bucket."""
    listed = s3_client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix="dvc/files/md5/")
    return {"".join(o["Key"].split("/")[-2:]) for o in listed.get("Contents", [])}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *IDENTITY, *args], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def dvc(root: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "dvc"), *args],
        cwd=root,
        env=os.environ | S3_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"dvc {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _make_dvc_project(root: Path, endpoint: str) -> None:
    """`git init` + `dvc init`, the S3 remote as DVC's default; the set-up committed."""
    git(root, "init", "-q")
    Repo.init(str(root)).close()
    (root / ".dvc" / "config").write_text(
        "[core]\n    remote = s3\n    analytics = false\n"
        f"['remote \"s3\"']\n    url = s3://{BUCKET}/dvc\n    endpointurl = {endpoint}\n"
    )
    git(root, "add", *sorted(SET_UP))
    git(root, "commit", "-q", "-m", "set up")


@dataclass
class Trained:
    project: Project
    store: Store
    endpoint: str
    runs: dict[str, RunSummary]
    quarantined: dict[str, Path]  # batch name -> its copy in the quarantine


@pytest.fixture(scope="module")
def trained(
    prefect_harness: None, s3: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Trained]:
    """The flow over a clean batch, two broken ones (one DVC tracked already) and a drifted one."""
    with (
        toy_project(tmp_path_factory.mktemp("data-versions"), TOKEN) as project,
        pytest.MonkeyPatch.context() as patch,
    ):
        for key, value in S3_ENV.items():
            patch.setenv(key, value)
        for key, value in FAST.items():
            patch.setenv(f"DRIFTLOOP_{key}", value)
        get_settings.cache_clear()
        root = project.root
        _make_dvc_project(root, s3)
        # A broken batch the team tracked with DVC before driftloop saw it: it stays where its
        # pointer says, and the quarantine keeps a copy.
        tracked = project.batch("b2b-tracked-broken.csv")
        make_frame(300, seed=8, start=2000).rename(columns={"x2": "x_two"}).to_csv(
            tracked, index=False
        )
        store, note = versions.open_store(root)
        assert store is not None, note
        versions.track(store, [tracked], "the team tracks a batch")
        runs, quarantined = {}, {}
        runs["b1-clean.csv"] = project.run("b1-clean.csv")
        for name in ("b2-broken.csv", tracked.name):
            with pytest.raises(DataValidationError) as caught:
                project.run(name)
            quarantined[name] = root / caught.value.quarantined_to  # relative to the project
        runs["b3-drift.csv"] = project.run("b3-drift.csv", DRIFT__SHARE_THRESHOLD="0.3")
        yield Trained(project, store, s3, runs, quarantined)


def _versions(project: Project) -> list[ModelVersion]:
    return sorted(project.client.search_model_versions("name='toy'"), key=lambda v: int(v.version))


def _manifest(project: Project, version: ModelVersion) -> Manifest:
    return load_training_manifest(project.client, version.run_id)


def test_accepted_and_quarantined_batches_are_tracked_committed_and_pushed(
    trained: Trained,
) -> None:
    project, store, root = trained.project, trained.store, trained.project.root
    assert trained.runs["b1-clean.csv"].outcome == "promoted"
    assert trained.runs["b3-drift.csv"].retrained
    assert project.versions() >= 2

    ledger = read_ledger(root / "data" / "ledger.jsonl")
    assert [e.status for e in ledger] == ["accepted", "quarantined", "quarantined", "accepted"]
    copied = trained.quarantined["b2b-tracked-broken.csv"]
    assert copied.read_bytes() == project.batch("b2b-tracked-broken.csv").read_bytes()
    assert not project.batch("b2-broken.csv").exists()  # untracked: moved into the quarantine
    data = [Path(e.path) for e in ledger] + [
        root / "data" / "reference.parquet",
        project.batch("b2b-tracked-broken.csv"),
    ]
    committed = set(git(root, "ls-files").splitlines())
    for path in data:
        [entry] = versions.with_dvc_hashes(store, build_manifest([path], root))
        assert entry.pointer.endswith(".dvc"), entry
        assert entry.pointer in committed, f"{entry.pointer} is not in git"
        assert not git(root, "status", "--porcelain", "--", entry.pointer)
    for name, folder in trained.quarantined.items():  # each quarantine folder: one pointer
        assert f"{folder.parent.relative_to(root)}.dvc" in committed, name

    # driftloop committed its pointers and DVC's .gitignore files, nothing else of the project.
    assert {p for p in committed if not p.endswith((".dvc", ".gitignore"))} == SET_UP - {
        ".dvc/.gitignore"
    }
    subjects = git(root, "log", "--format=%s").splitlines()
    assert "driftloop: accept b1-clean.csv (toy)" in subjects
    assert "driftloop: quarantine b2-broken.csv (toy)" in subjects
    assert "Data and pipelines are up to date." in dvc(root, "status")
    assert "Cache and remote 's3' are in sync." in dvc(root, "status", "--cloud")
    assert versions.pending(store) == []
    pushed = _objects(trained.endpoint)
    assert {md5(p) for p in data if p.is_file()} <= pushed
    for summary in trained.runs.values():
        record = Path(summary.record).read_text()
        assert re.search(r"Data version: tracked by DVC .*, pointers at git [0-9a-f]{12}", record)
        assert "pushed to s3" in record


def test_each_version_names_its_training_files_by_md5_at_a_committed_revision(
    trained: Trained,
) -> None:
    project, root = trained.project, trained.project.root
    for version in _versions(project):
        listing = dict(
            reversed(line.split("  ", 1)) for line in version.tags[DATA_TAG].splitlines()
        )
        manifest = _manifest(project, version)
        assert set(listing) == {e.path for e in manifest}
        for path, digest in listing.items():
            assert digest == md5(root / path), f"v{version.version}: {path}"
        revision = version.tags[REVISION_TAG]
        assert re.fullmatch(r"[0-9a-f]{40}", revision), revision
        assert git(root, "cat-file", "-t", revision).strip() == "commit"
        for entry in manifest:
            assert entry.md5 == listing[entry.path]
            assert entry.pointer.endswith(".dvc")
            pointer = git(root, "show", f"{revision}:{entry.pointer}")
            assert f"md5: {entry.md5}" in pointer, f"v{version.version}: {entry.pointer}"
        assert version.tags[REMOTE_TAG] == f"s3 (s3://{BUCKET}/dvc)"


def test_a_fresh_clone_restores_the_older_versions_data_byte_for_byte(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, root = trained.project, trained.project.root
    older, newer = _versions(project)[:2]
    files = _manifest(project, older)
    assert {e.path for e in files} != {e.path for e in _manifest(project, newer)}
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))  # git history and the remote only
    assert not (clone / ".dvc" / "cache").exists()
    assert not any((clone / e.path).exists() for e in files)

    store, note = versions.open_store(clone)
    assert store is not None, note
    assert versions.locate(store, files) == dict.fromkeys((e.path for e in files), "remote")
    restored = versions.restore(store, files, tmp_path / "by-api")
    assert [p.read_bytes() for p in restored] == [(root / e.path).read_bytes() for e in files]

    shutil.rmtree(clone / ".dvc" / "cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(clone)
        get_settings.cache_clear()
        said = cli.main(["data", str(older.version), "--model", "toy", "--restore", "by-cli"])
    get_settings.cache_clear()
    shown = capsys.readouterr()
    assert said == 0, shown.err
    assert f"toy v{older.version}" in shown.out
    assert f"DVC pointers at git revision: {older.tags[REVISION_TAG]}" in shown.out
    assert "restored byte for byte (sha256 checked)" in shown.out
    for entry in files:
        assert (clone / "by-cli" / entry.path).read_bytes() == (root / entry.path).read_bytes()


def test_a_run_while_the_remote_is_down_completes_and_the_next_run_pushes(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, store, root = trained.project, trained.store, trained.project.root
    down = root / ".dvc" / "config.local"  # this checkout only; the clone keeps the real one
    down.write_text(f"['remote \"s3\"']\n    endpointurl = http://127.0.0.1:{free_port()}\n")
    with monkeypatch.context() as fail_fast:
        fail_fast.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's retries would take 15 s
        summary = project.run("b4-clean.csv")
    assert summary.outcome in {"kept production", "promoted", "challenger lost"}
    record = Path(summary.record).read_text()
    assert re.search(r"Data version: tracked by DVC .*; push pending \(2 path\(s\)\): ", record)
    assert "127.0.0.1" in record  # DVC's reason
    batch, reference = project.batch("b4-clean.csv"), root / "data" / "reference.parquet"
    waiting = {(root / p).resolve() for p in versions.pending(store)}
    assert waiting == {batch.resolve(), reference.resolve()}  # what this run versioned
    assert md5(batch) not in _objects(trained.endpoint)
    [entry] = read_ledger(root / "data" / "ledger.jsonl")[-1:]
    assert entry.batch == "b4-clean.csv" and entry.status == "accepted"

    down.unlink()  # the remote is back
    summary = project.run("b6-concept.csv")
    assert "pushed to s3" in Path(summary.record).read_text()
    assert versions.pending(store) == []
    assert {md5(batch), md5(project.batch("b6-concept.csv"))} <= _objects(trained.endpoint)
    assert "Cache and remote 's3' are in sync." in dvc(root, "status", "--cloud")
