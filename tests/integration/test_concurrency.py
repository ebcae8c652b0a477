"""Two runs at once: on different batches, and on the same batch. Runs of a dataset take turns,
each batch is processed once, and the ledger says which run did what."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import pytest
from flow_project import Project, toy_project
from prefect import get_client

from registry.history import read_history
from registry.locks import run_lock
from runs.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "ghp_concurrency_secret_0123456789"

# One run of the retraining flow in its own process; prints its outcome as JSON.
ONE_RUN = """
import json, sys
from data_validation.errors import DataValidationError
from pipeline.flows import retraining_flow

batch = sys.argv[1] or None
try:
    summary = retraining_flow(batch=batch, force_retrain=bool(batch))
    print(json.dumps({"batch": summary.batch, "outcome": summary.outcome}))
except DataValidationError:
    print(json.dumps({"batch": "rejected", "outcome": "rejected"}))
"""


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with toy_project(tmp_path_factory.mktemp("concurrent"), TOKEN) as built:
        yield built


def run_two_at_once(project: Project, *batches: str, **settings: str) -> list[dict[str, str]]:
    env = project.child_env(**settings)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", ONE_RUN, str(project.batch(b)) if b else ""],
            env=env,
            cwd=project.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for b in batches
    ]
    outcomes = []
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    return outcomes


def test_two_runs_at_once_take_turns_and_each_batch_is_processed_once(project: Project) -> None:
    assert project.run("b1-clean.csv").outcome == "promoted"
    outcomes = run_two_at_once(project, "", "")
    # One took b2 (rejected: broken schema), the other waited and took the next one, b3.
    assert sorted(o["batch"] for o in outcomes) == ["b3-drift.csv", "rejected"]
    entries = read_ledger(project.root / "data" / "ledger.jsonl")
    assert [e.batch for e in entries] == ["b1-clean.csv", "b2-broken.csv", "b3-drift.csv"]
    assert len({e.run_id for e in entries}) == 3 and all(e.actor for e in entries)


def test_two_runs_of_the_same_batch_process_it_once_and_promote_at_most_once(
    project: Project,
) -> None:
    versions = project.versions()
    outcomes = run_two_at_once(project, "b5-concept.csv", "b5-concept.csv")
    done, skipped = sorted((o["outcome"] for o in outcomes), key=lambda o: o == "no new batch")
    assert skipped == "no new batch" and done in {"promoted", "challenger lost"}
    entries = read_ledger(project.root / "data" / "ledger.jsonl")
    assert Counter(e.batch for e in entries)["b5-concept.csv"] == 1
    assert project.versions() == versions + 1  # one retrain, not two
    moves = [e for e in read_history(project.client, "toy") if e.alias == "production"]
    assert len({m.to_version for m in moves}) == len(moves)  # no version promoted twice


def test_runs_on_hosts_that_share_only_the_prefect_server_take_turns_too(
    project: Project,
) -> None:
    # No lock file is shared: the lock is the one slot of a Prefect global concurrency limit.
    versions = project.versions()
    outcomes = run_two_at_once(
        project, "b6-concept.csv", "b6-concept.csv", PROMOTION__LOCK_BACKEND="prefect"
    )
    assert sorted(o["outcome"] for o in outcomes)[-1] == "no new batch"
    entries = read_ledger(project.root / "data" / "ledger.jsonl")
    assert Counter(e.batch for e in entries)["b6-concept.csv"] == 1
    assert project.versions() == versions + 1
    with get_client(sync_client=True) as client:
        limits = {limit.name: limit.limit for limit in client.read_global_concurrency_limits()}
    assert limits == {"driftloop-run-toy": 1, "driftloop-release-toy": 1}


def test_a_monitoring_run_leaves_the_dataset_to_the_retraining_run_that_holds_it(
    project: Project,
) -> None:
    held = run_lock(project.root / "data" / ".locks", "toy", timeout=1)
    with held:
        busy = project.monitor()
    assert busy.outcome == "busy" and "another run of toy is under way" in busy.message
    assert project.monitor().outcome in {"monitored", "no new batch"}
