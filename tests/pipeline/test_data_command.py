"""`driftloop data` and the rollback's data check, on a real git + DVC project with a local remote.

One project is built per module (git init, dvc init, two versions' data added and pushed, a
SQLite registry whose versions' runs hold their manifests); each test works on a copy.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import mlflow
import pytest
import yaml
from dvc.repo import Repo

from config.manifest import manifest_json
from factories import make_frame, spec_for_frames
from pipeline import data_command
from pipeline.cli import main
from registry import tracking
from registry.models import MANIFEST_ARTIFACT
from registry.release import Aliases, apply_promotion, close_release
from runs import versions
from runs.batches import build_manifest
from runs.ledger import LedgerEntry, append_entry

FILES = ("data/reference.csv", "data/incoming/b-01.csv", "data/incoming/b-02.csv")
REF, B1, B2 = FILES


def _run(root: Path, *command: str) -> None:
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _build_project(base: Path) -> None:
    project = base / "project"
    (project / "data" / "incoming").mkdir(parents=True)
    for number, path in enumerate(FILES):
        make_frame(60, seed=number, start=60 * number).to_csv(project / path, index=False)
    (project / "toy.yaml").write_text(yaml.safe_dump(spec_for_frames("toy", REF, "data/incoming")))
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@localhost")
    _run(project, "git", "init", "-q")
    # `dvc init`, `dvc remote add -d local ../remote`, `dvc add`, `dvc push`, in this process
    # (each `dvc` command spends seconds importing DVC).
    repo = Repo.init(str(project))
    with (project / ".dvc" / "config").open("a") as config:
        config.write("[core]\n    remote = local\n['remote \"local\"']\n    url = ../../remote\n")
    repo.close()
    repo = Repo(str(project))
    try:
        repo.add([str(project / p) for p in FILES])
        _run(project, "git", "add", "-A")
        _run(project, *git, "commit", "-q", "-m", "data")
        assert repo.push() == len(FILES)
    finally:
        repo.close()
    store, note = versions.open_store(project)
    assert store is not None, note
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    _register(base, store, head)


def _register(base: Path, store: versions.Store, head: str) -> None:
    """toy v1 (reference + b-01), v2 (all three), v3 (from before DVC hashes: none)."""
    client = tracking.connect(f"sqlite:///{base / 'mlflow.db'}")
    experiment = tracking.ensure_experiment(client, "train", base / "artifacts")
    root = store.root
    trained = [FILES[:2], FILES, FILES[:1]]
    client.create_registered_model("toy")
    for number, paths in enumerate(trained, start=1):
        manifest = versions.with_dvc_hashes(store, build_manifest([root / p for p in paths], root))
        if number == 3:
            manifest = tuple(type(e)(path=e.path, sha256=e.sha256) for e in manifest)
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_text(manifest_json(manifest), MANIFEST_ARTIFACT)
        tags = {}
        if number < 3:
            tags = {
                versions.REVISION_TAG: head,
                versions.REMOTE_TAG: store.remote_shown,
            }
        client.create_model_version(
            "toy",
            source=f"{run.info.artifact_uri}/model",
            run_id=run.info.run_id,
            tags=tags,
        )
    before = None
    for version in ("1", "2"):  # released in turn: production v2, previous v1
        action = apply_promotion(
            client,
            name="toy",
            version=version,
            promote=True,
            reason="better",
            evaluated_against=before,
            actor="t",
            batch=None,
            aliases=Aliases(),
        )
        assert action.release is not None
        close_release(client, action.release, "dispatched")
        before = version
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("dvc-project")
    _build_project(base)
    return base


@pytest.fixture
def project(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project (the registry's artifacts stay in the template: read only)."""
    for part in ("project", "remote"):
        shutil.copytree(template / part, tmp_path / part, symlinks=True)
    shutil.copy2(template / "mlflow.db", tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # undone after the test
    monkeypatch.setenv("DRIFTLOOP_MLFLOW__TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("DRIFTLOOP_PATHS__SPEC", "toy.yaml")
    yield tmp_path / "project"
    mlflow.set_tracking_uri(None)


def _file_line(out: str, path: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(path + " "))


def _remote_object(root: Path, path: str) -> Path:
    md5 = next(e.md5 for e in build_manifest([root / path], root))
    return root.parent / "remote" / "files" / "md5" / md5[:2] / md5[2:]


def test_a_version_by_number_and_by_alias_prints_its_data_and_where_it_is(
    project: Path, template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "2", "--model", "toy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("toy v2 (challenger, production)\n")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert f"DVC pointers at git revision: {head}\n" in out
    # The version was pushed to the template's remote; this copy's is searched.
    recorded, searched = template / "remote", project.parent / "remote"
    assert f"DVC remote: local ({recorded}); searched now: local ({searched})\n" in out
    manifest = build_manifest([project / p for p in FILES], project)
    for entry in manifest:
        line = _file_line(out, entry.path).split()
        pointer = f"{entry.path}.dvc"
        assert line == [entry.path, "-", entry.md5, entry.sha256[:12], pointer, "workspace"]
    batch = manifest[1]  # the ledger knows an accepted batch's rows
    accepted = LedgerEntry("b-01.csv", batch.sha256, "accepted", True, 60, batch.path, "r", "t")
    append_entry(project / "data" / "ledger.jsonl", accepted)
    assert main(["data", "v2", "--model", "toy"]) == 0
    assert _file_line(capsys.readouterr().out, B1).split()[1] == "60"
    assert main(["data", "previous"]) == 0  # the spec names the model
    out = capsys.readouterr().out
    assert out.startswith("toy v1 (previous)\n") and "trained on 2 file(s):" in out
    assert B2 not in out


def test_restore_brings_back_each_file_byte_for_byte_from_the_remote(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = {p: (project / p).read_bytes() for p in FILES}
    (project / B1).unlink()
    shutil.rmtree(project / ".dvc" / "cache")
    target = project.parent / "restored"
    assert main(["data", "production", "--model", "toy", "--restore", str(target)]) == 0
    out = capsys.readouterr().out
    assert _file_line(out, B1).endswith("DVC remote")
    assert _file_line(out, REF).endswith("workspace")
    assert {p: (target / p).read_bytes() for p in FILES} == original
    assert f"restored {target / B1}\n" in out
    assert out.endswith(f"3 files restored byte for byte (sha256 checked) to {target}\n")
    assert not (project / B1).exists()  # only DIR is written


def test_a_file_in_no_place_fails_with_exit_1_naming_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _remote_object(project, B2).unlink()
    (project / B2).unlink()
    shutil.rmtree(project / ".dvc" / "cache")
    target = project.parent / "restored"
    assert main(["data", "2", "--model", "toy", "--restore", str(target)]) == 1
    captured = capsys.readouterr()
    assert _file_line(captured.out, B2).endswith("MISSING")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("driftloop: error: v2's data not restored to ")
    assert f"in no place (not in the workspace, the DVC cache or the DVC remote): {B2}" in (
        captured.err
    )
    assert not target.exists()  # nothing is written when a file cannot be had


def test_a_version_from_before_dvc_hashes_is_restorable_only_from_its_paths(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "3", "--model", "toy"]) == 0
    out = capsys.readouterr().out
    assert "toy v3 (no alias)" in out and "DVC pointers at git revision: none: trained" in out
    assert f"no DVC hash for {REF} (trained before driftloop versioned data with DVC): " in out
    assert "restorable only from the project path" in out
    (project / REF).write_text("x,y\n")
    assert main(["data", "3", "--model", "toy", "--restore", "out"]) == 1
    err = capsys.readouterr().err
    assert f"{REF} (trained before driftloop versioned data with DVC)" in err


def test_outside_a_dvc_repository_the_manifest_is_printed_and_restoring_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(project / ".dvc")
    assert main(["data", "1", "--model", "toy"]) == 0
    out = capsys.readouterr().out
    assert _file_line(out, REF).endswith("workspace")
    assert f"restoring needs a DVC repository: {project} is not a DVC repository" in out
    assert main(["data", "1", "--model", "toy", "--restore", "out"]) == 1
    assert "restoring needs a DVC repository" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["data", "9", "--model", "toy"], "toy has no version 9"),
        (["data", "canary", "--model", "toy"], "toy has no version or alias 'canary' (aliases:"),
        (["data", "1", "--model", "nope"], "nope is not a registered model"),
    ],
)
def test_an_unknown_version_alias_or_model_is_one_line_and_exit_1(
    project: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"driftloop: error: {said}") and err.count("\n") == 1


def test_rollback_prints_where_the_data_of_the_restored_version_is(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / REF).unlink()
    shutil.rmtree(project / ".dvc" / "cache")
    assert main(["rollback", "--reason", "test"]) == 0
    out = capsys.readouterr().out
    assert "toy: production v2 -> v1 (rollback)" in out
    assert out.endswith(
        "data of v1: 2 files available (1 in the workspace, 0 in the DVC cache, 1 in the remote)\n"
    )


def test_rollback_warns_of_missing_data_and_a_silent_remote_but_still_rolls_back(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _remote_object(project, B1).unlink()
    (project / B1).unlink()
    shutil.rmtree(project / ".dvc" / "cache")
    assert main(["rollback"]) == 0
    captured = capsys.readouterr()
    assert "data of v1: 1 file available (1 in the workspace" in captured.out
    assert captured.err.endswith(
        f"driftloop: warning: the drift reference of v1 cannot be restored: {B1} "
        "(not in the workspace, the DVC cache or the remote)\n"
    )
    stuck = threading.Event()
    monkeypatch.setattr(data_command, "ROLLBACK_CHECK_SECONDS", 0.2)

    def silent(store: versions.Store, files: object) -> dict[str, str]:
        stuck.wait(5)  # a remote that never answers
        return {}

    monkeypatch.setattr(versions, "locate", silent)
    assert main(["rollback", "--to", "2"]) == 0
    stuck.set()
    out = capsys.readouterr().out
    assert "toy: production v1 -> v2 (rollback)" in out
    assert "data of v2: 2 files available (2 in the workspace, 0 in the DVC cache, 0 in " in out
    assert out.endswith(f"the remote); the DVC remote did not answer for {B1}\n")
