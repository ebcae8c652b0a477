"""A person in the loop, and a served model checked before it ships, through the real flow.

Manual approval: a gated challenger waits as `candidate`; `driftloop approve` releases it with
exactly one CD dispatch, `reject` refuses one, and a candidate whose champion has moved since is
refused. A version whose stored booster cannot load is never released, and the record says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_project import Project, toy_project

from config.settings import get_settings
from pipeline import tasks
from pipeline.cli import main
from registry.approval import REMOVED, STATE_TAG
from registry.history import read_history
from registry.release import pending_release
from registry.servable import SERVABLE_TAG

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "ghp_approval_secret_0123456789"
MANUAL = {"PROMOTION__APPROVAL": "manual"}


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("approval")
    with toy_project(root, TOKEN) as built, pytest.MonkeyPatch.context() as patch:
        patch.setenv("DRIFTLOOP_PROMOTION__APPROVAL", "manual")
        patch.setenv("DRIFTLOOP_PROMOTION__SERVED_CHECK", "true")
        yield built


def dispatched_versions(project: Project) -> list[str]:
    return [c["body"]["client_payload"]["model_version"] for c in project.github.received]


def test_the_first_model_waits_for_approval_then_ships_once(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = project.run("b1-clean.csv", **MANUAL)
    assert summary.outcome == "awaiting approval", summary.message
    assert summary.message == 'v1 awaits approval: driftloop approve 1 --model toy --reason "..."'
    assert project.aliases() == {"challenger": "1", "candidate": "1"}
    assert dispatched_versions(project) == []
    assert project.events()[-1] == "approval_requested"
    record = Path(summary.record).read_text(encoding="utf-8")
    assert "awaiting approval (v1 awaits approval" in record
    version = project.client.get_model_version("toy", "1")
    assert version.tags[SERVABLE_TAG].startswith("true: toy v1 answers as in-process")

    assert main(["history"]) == 0
    assert "pending: v1 awaits approval" in capsys.readouterr().out
    assert main(["approve", "--reason", "checked the holdout with the team"]) == 0
    shown = capsys.readouterr().out
    assert "toy: production none -> v1 (approved by " in shown
    assert project.aliases() == {"challenger": "1", "production": "1"}
    assert dispatched_versions(project) == ["1"]  # exactly one dispatch
    assert pending_release(project.client, "toy", "production") is None
    assert project.events()[-1] == "model_promoted"
    production = [e for e in read_history(project.client, "toy") if e.alias == "production"]
    assert production[-1].reason.startswith("approved by ")
    assert "checked the holdout with the team" in production[-1].reason
    assert main(["approve", "--reason", "again"]) == 1
    assert "no version is waiting for approval" in capsys.readouterr().err
    assert dispatched_versions(project) == ["1"]


def test_a_rejected_candidate_ships_nothing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = project.run("b5-concept.csv", force=True, **MANUAL)
    assert summary.outcome == "awaiting approval", summary.message
    assert project.aliases()["candidate"] == "2" and project.aliases()["production"] == "1"
    assert main(["reject", "2", "--reason", "trained on the outage week"]) == 0
    assert "candidate v2 rejected by " in capsys.readouterr().out
    assert "candidate" not in project.aliases() and project.aliases()["production"] == "1"
    assert project.client.get_model_version("toy", "2").tags[STATE_TAG].startswith("rejected by")
    last = read_history(project.client, "toy")[-1]
    assert (last.action, last.from_version, last.to_version) == ("reject", "2", REMOVED)
    assert project.events()[-1] == "candidate_rejected"
    assert dispatched_versions(project) == ["1"]


def test_a_candidate_whose_champion_moved_is_refused(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = project.run("b6-concept.csv", force=True, **MANUAL)
    assert summary.outcome == "awaiting approval", summary.message
    assert project.aliases()["candidate"] == "3"
    assert main(["rollback", "--to", "2", "--reason", "hotfix"]) == 0  # production moves
    assert dispatched_versions(project) == ["1", "2"]
    capsys.readouterr()
    assert main(["approve", "3", "--reason", "looks good"]) == 1
    refused = capsys.readouterr().err
    assert "v3 was compared with v1, but production is now v2" in refused
    assert project.aliases()["production"] == "2" and project.aliases()["candidate"] == "3"
    assert dispatched_versions(project) == ["1", "2"]


def test_a_version_whose_booster_cannot_load_is_never_released(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = tasks.model_artifacts

    def corrupt(result, directory: Path):  # the booster file is garbage once logged
        files = written(result, directory)
        Path(files["booster"]).write_bytes(b"not a booster")
        return files

    monkeypatch.setattr(tasks, "model_artifacts", corrupt)
    with toy_project(tmp_path, TOKEN) as project:
        summary = project.run("b1-clean.csv", PROMOTION__SERVED_CHECK="true")
        assert summary.outcome == "not servable", summary.message
        assert summary.message.startswith("toy v1 does not load through MLflow: XGBoostError")
        assert "not released, though it passed every gate" in summary.message
        assert "production" not in project.aliases()
        assert dispatched_versions(project) == []
        tag = project.client.get_model_version("toy", "1").tags[SERVABLE_TAG]
        assert tag.startswith("false: toy v1 does not load through MLflow")
        assert project.events()[-1] == "model_not_servable"
        record = Path(summary.record).read_text(encoding="utf-8")
        assert "does not load through MLflow" in record


def test_an_approval_whose_dispatch_failed_is_finished_by_approving_again(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = project.run("b4-clean.csv", force=True, **MANUAL)
    assert summary.outcome == "awaiting approval", summary.message
    assert "supersedes" in project.webhook.received[-1]["body"]["driftloop"]["details"]
    assert project.aliases()["candidate"] == "4"  # v3, stale, is superseded
    told = dispatched_versions(project)
    monkeypatch.setenv("DRIFTLOOP_GITHUB__ATTEMPTS", "1")
    get_settings.cache_clear()
    project.github.status_queue.append(500)
    capsys.readouterr()
    assert main(["approve", "4", "--model", "toy", "--reason", "ok"]) == 1
    assert "CD was not told of the approved release" in capsys.readouterr().err
    assert project.aliases()["production"] == "4" and "candidate" not in project.aliases()
    assert main(["approve", "4", "--model", "toy", "--reason", "ok"]) == 0
    shown = capsys.readouterr().out
    assert "sent the unfinished promote to v4" in shown
    assert "toy: production v2 -> v4 (approved by " in shown
    # The first request was answered 500 (no CD run started); the second was accepted.
    assert dispatched_versions(project) == [*told, "4", "4"]
    assert pending_release(project.client, "toy", "production") is None
    assert project.events()[-1] == "model_promoted"
