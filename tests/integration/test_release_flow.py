"""Releases for real: a run killed between the alias move and CD, history, rollback, scoring,
and MLflow's own scoring server on the production model."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from flow_project import Project, toy_project
from local_servers import free_port, start, stop, wait_until_up

from config.errors import ConfigError
from factories import make_frame
from pipeline.cli import main
from pipeline.flows import scoring_flow
from registry.history import read_history
from registry.release import pending_release
from runs.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "ghp_release_secret_0123456789"

# Runs the flow in a separate process that dies (SIGKILL) the moment it would tell CD.
KILLED_RUN = """
import os, signal, sys
from delivery import dispatch
from pipeline.flows import retraining_flow

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

dispatch.dispatch = die
retraining_flow(batch=sys.argv[1], force_retrain=True)
"""


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("release")
    with toy_project(root, TOKEN, slices=["colour", "x1"]) as built:
        yield built


def dispatched_versions(project: Project) -> list[str]:
    return [c["body"]["client_payload"]["model_version"] for c in project.github.received]


def test_a_run_killed_between_alias_move_and_dispatch_is_completed_by_the_rerun(
    project: Project,
) -> None:
    assert project.run("b1-clean.csv").outcome == "promoted"
    assert dispatched_versions(project) == ["1"]
    project.run_killed(KILLED_RUN, str(project.batch("b5-concept.csv")))
    # Production moved, CD was never told, and the batch is not in the ledger.
    assert project.aliases()["production"] == "2" and project.aliases()["previous"] == "1"
    assert pending_release(project.client, "toy", "production") is not None
    assert dispatched_versions(project) == ["1"]
    ledger = project.root / "data" / "ledger.jsonl"
    assert [e.batch for e in read_ledger(ledger)] == ["b1-clean.csv"]

    rerun = project.run("b5-concept.csv")
    assert rerun.outcome == "promoted" and "released by an earlier run" in rerun.message
    assert dispatched_versions(project) == ["1", "2"]  # once each, never twice
    assert project.versions() == 2  # nothing retrained
    assert pending_release(project.client, "toy", "production") is None
    assert [e.batch for e in read_ledger(ledger)] == ["b1-clean.csv", "b5-concept.csv"]
    moves = [e for e in read_history(project.client, "toy") if e.alias == "production"]
    assert [(m.from_version, m.to_version) for m in moves] == [(None, "1"), ("1", "2")]


def test_model_card_is_logged_with_each_version(project: Project) -> None:
    version = project.client.get_model_version("toy", "2")
    card = mlflow.artifacts.load_text(f"runs:/{version.run_id}/model_card.md")
    assert card.startswith("# Model card: toy v2")
    for part in ("## Data", "## Holdout metrics (95% bootstrap intervals)", "## Slices", "Rule:"):
        assert part in card
    assert "| colour | " in card and "Against v1 on the same holdout" in card


def test_history_and_rollback_from_the_command_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history"]) == 0
    shown = capsys.readouterr().out
    assert "promote" in shown and "production: 1 -> 2" in shown
    assert "now: challenger -> v2, previous -> v1, production -> v2" in shown

    assert main(["rollback", "--reason", "v2 misbehaves in production"]) == 0
    assert "production v2 -> v1 (rollback)" in capsys.readouterr().out
    assert project.aliases()["production"] == "1" and project.aliases()["previous"] == "2"
    assert dispatched_versions(project)[-1] == "1"
    last = read_history(project.client, "toy")[-2:]
    assert [(e.action, e.alias, e.to_version) for e in last] == [
        ("rollback", "production", "1"),
        ("rollback", "previous", "2"),
    ]
    assert last[0].reason == "v2 misbehaves in production"
    assert project.events()[-1] == "model_rolled_back"
    assert project.webhook.received[-1]["body"]["driftloop"]["previous_version"] == "2"

    assert main(["rollback", "--to", "99"]) == 1
    assert "toy has no version 99" in capsys.readouterr().err
    assert main(["rollback", "--to", "1"]) == 1
    assert project.aliases()["production"] == "1"


def test_a_rollback_wins_over_a_killed_release_and_the_rerun_does_not_release_it_again(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # Production is v1 again (rolled back above). This run releases v3 and dies before CD.
    project.run_killed(KILLED_RUN, str(project.batch("b6-concept.csv")))
    assert project.aliases()["production"] == "3"
    told = dispatched_versions(project)

    assert main(["rollback", "--reason", "v3 looks wrong"]) == 0
    assert "the unfinished promote to v3 was superseded" in capsys.readouterr().out
    assert project.aliases()["production"] == "1" and project.aliases()["previous"] == "3"
    assert dispatched_versions(project) == [*told, "1"]  # CD never hears of v3

    rerun = project.run("b6-concept.csv")
    assert rerun.outcome == "kept production", rerun.message
    assert "v3, trained on this batch, was rolled back to v1 by" in rerun.message
    assert project.versions() == 3 and project.aliases()["production"] == "1"
    assert dispatched_versions(project) == [*told, "1"]
    assert pending_release(project.client, "toy", "production") is None


def test_scoring_flow_writes_predictions_with_the_model_version(project: Project) -> None:
    batch = project.root / "to-score.csv"
    make_frame(300, seed=11, start=9000).drop(columns=["y"]).to_csv(batch, index=False)
    summary = scoring_flow(batch=str(batch), out="scored.csv")
    written = Path(summary.predictions).resolve()
    assert written == (project.root / "data" / "predictions" / "scored.csv").resolve()
    scored = pd.read_csv(summary.predictions)
    assert len(scored) == 300 and set(scored["model_version"].astype(str)) == {"1"}
    assert scored["prediction"].between(0, 1).all()
    assert summary.prediction_drift is not None and Path(summary.report).exists()
    runs = mlflow.search_runs(
        experiment_names=["driftloop-monitoring"], filter_string="params.stage = 'score'"
    )
    assert len(runs) == 1
    # The deployment's `out` parameter is set by whoever reaches the Prefect server: it never
    # names a place outside the predictions folder.
    for escape in ("../../outside.csv", str(project.root / "elsewhere.csv"), "x.pth"):
        with pytest.raises(ConfigError, match=r"inside|csv or \.parquet"):
            scoring_flow(batch=str(batch), out=escape)
    assert not (project.root / "elsewhere.csv").exists()


def test_mlflow_scoring_server_serves_the_production_model(project: Project) -> None:
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": project.env["DRIFTLOOP_MLFLOW__TRACKING_URI"],
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    command = [
        *(str(Path(bin_dir) / "mlflow"), "models", "serve"),
        *("-m", "models:/toy@production", "--env-manager", "local"),
        *("--host", "127.0.0.1", "--port", str(port)),
    ]
    log = project.root / "serve.log"
    server = start(command, env, log, cwd=project.root)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/ping", server, 180, log)
        rows = make_frame(5, seed=12).drop(columns=["y"])
        body = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        answer = httpx.post(f"{url}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        served = answer.json()["predictions"]
        local = mlflow.pyfunc.load_model("models:/toy@production").predict(rows)
        assert served == pytest.approx(list(local), abs=1e-6)
    finally:
        stop(server)
