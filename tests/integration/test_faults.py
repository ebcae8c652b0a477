"""A run killed (SIGKILL) at each stage boundary; a plain rerun finishes the batch, the
registry keeps exactly one production, no batch is lost or processed twice, and CD hears of
each released version once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from flow_project import Project, toy_project

from data_validation.errors import DataValidationError
from delivery.errors import DispatchError
from factories import make_frame
from registry.history import read_history
from registry.release import pending_release
from runs.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "ghp_faults_secret_0123456789"
# Each batch is trained on alone and flips the concept of the one before, so every retrain
# beats the champion clearly and goes all the way to a release.
SETTINGS = {"TRAINING__WINDOW": "last_k", "TRAINING__WINDOW_BATCHES": "1"}

# Where the run dies: the module attribute replaced by a function that kills the process.
BOUNDARIES = {
    "after validate": "pipeline.flows:_monitor",
    "after monitor": "pipeline.tasks:decide_retrain",
    "after decide": "pipeline.tasks:train",
    "after train": "pipeline.tasks:register",
    "after register": "pipeline.tasks:evaluate",
    "after evaluate": "pipeline.tasks:apply_promotion",
    "after the alias move": "delivery.delivered:mark_sending",
    "after marking the release as sending": "delivery.dispatch:dispatch",
    "between the dispatch and closing the release": "registry.release:close_release",
    # Half the entry's line reaches the ledger, then the process dies: a torn last line.
    "during the ledger append": "pipeline.tasks:record_batch+torn",
    "after the release is closed": "pipeline.tasks:record_batch",
}

KILLED_RUN = """
import importlib, os, signal, sys
from pipeline.flows import retraining_flow

import dataclasses, json
module, _, attribute = sys.argv[2].partition(":")
attribute, _, how = attribute.partition("+")
*path, name = attribute.split(".")
target = importlib.import_module(module)
for part in path:
    target = getattr(target, part)
def die(*args, **kwargs):
    if how == "torn":  # the ledger append's one write, cut in the middle
        ledger, entry = args[0], args[1]
        line = json.dumps(dataclasses.asdict(entry), sort_keys=True)
        with open(ledger, "a", encoding="utf-8") as handle:
            handle.write(line[: len(line) // 2])
    os.kill(os.getpid(), signal.SIGKILL)
setattr(target, name, die)
retraining_flow(batch=sys.argv[1], force_retrain=True)
"""


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with toy_project(tmp_path_factory.mktemp("faults"), TOKEN) as built:
        for i in range(len(BOUNDARIES)):
            frame = make_frame(600, seed=40 + i, start=5000 + 600 * i, flip=i % 2 == 0)
            frame.to_csv(built.batch(f"f{i:02d}.csv"), index=False)
        assert built.run("b1-clean.csv", **SETTINGS).outcome == "promoted"
        yield built


@pytest.mark.parametrize("boundary", list(BOUNDARIES))
def test_a_run_killed_at_a_stage_boundary_is_finished_by_a_plain_rerun(
    project: Project, boundary: str
) -> None:
    batch = f"f{list(BOUNDARIES).index(boundary):02d}.csv"
    project.run_killed(KILLED_RUN, str(project.batch(batch)), BOUNDARIES[boundary], **SETTINGS)
    ledger = project.root / "data" / "ledger.jsonl"
    assert batch not in [e.batch for e in read_ledger(ledger)]  # a torn line is left out

    rerun = project.run(batch, **SETTINGS)
    assert rerun.outcome == "promoted", rerun.message
    for line in ledger.read_text(encoding="utf-8").splitlines():
        json.loads(line)  # a torn line left in the middle would not parse

    entries = read_ledger(ledger)
    assert Counter(e.batch for e in entries)[batch] == 1  # finished once, nothing lost
    assert pending_release(project.client, "toy", "production") is None
    production = project.aliases()["production"]
    moves = [e.to_version for e in read_history(project.client, "toy") if e.alias == "production"]
    assert moves[-1] == production and len(moves) == len(set(moves))  # no double promotion
    sent = Counter(
        c["body"]["client_payload"]["model_version"]
        for c in project.github.received
        if c["body"]["client_payload"]["alias"] == "production"
    )
    assert sent[production] == 1 and max(sent.values()) == 1  # CD told once per release


def test_github_failing_every_retry_fails_the_run_and_the_rerun_delivers_once(
    project: Project,
) -> None:
    # Whatever ran before, the new batch holds the other concept, so its model wins clearly.
    last = read_ledger(project.root / "data" / "ledger.jsonl")[-1].batch
    flipped = last.startswith("f") and int(last[1:3]) % 2 == 0
    batch = "g00.csv"
    make_frame(600, seed=60, start=20000, flip=not flipped).to_csv(
        project.batch(batch), index=False
    )
    settings = {**SETTINGS, "GITHUB__ATTEMPTS": "2", "GITHUB__BASE_DELAY_SECONDS": "0.1"}
    before = len(project.github.received)
    project.github.status_queue.extend([500, 500])
    with pytest.raises(DispatchError, match="500"):
        project.run(batch, **settings)
    released = project.aliases()["production"]
    assert pending_release(project.client, "toy", "production") is not None
    assert batch not in [e.batch for e in read_ledger(project.root / "data" / "ledger.jsonl")]

    rerun = project.run(batch, **settings)
    assert rerun.outcome == "promoted" and rerun.production_version == released
    calls = project.github.received[before:]
    assert [c["body"]["client_payload"]["model_version"] for c in calls] == [released] * 3
    assert pending_release(project.client, "toy", "production") is None


def test_a_run_killed_while_moving_a_bad_batch_to_quarantine_is_finished_by_a_plain_rerun(
    project: Project,
) -> None:
    batch = "q00-broken.csv"
    broken = make_frame(600, seed=70, start=30000).rename(columns={"x2": "x_two"})
    broken.to_csv(project.batch(batch), index=False)
    content = project.batch(batch).read_bytes()
    # Its reason and validation are written; the file is still in incoming.
    project.run_killed(KILLED_RUN, str(project.batch(batch)), "shutil:move", **SETTINGS)
    ledger = project.root / "data" / "ledger.jsonl"
    assert project.batch(batch).exists() and batch not in [e.batch for e in read_ledger(ledger)]

    with pytest.raises(DataValidationError, match="x2"):
        project.run(batch, **SETTINGS)
    assert Counter(e.batch for e in read_ledger(ledger))[batch] == 1
    moved = list((project.root / "data" / "quarantine").glob(f"*/{batch}"))
    assert len(moved) == 1 and moved[0].read_bytes() == content
    assert not project.batch(batch).exists()
