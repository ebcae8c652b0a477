"""A lost or emptied ledger never replays history over a newer production model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import pytest
from flow_project import Project, toy_project

from config.settings import get_settings
from pipeline.flows import retraining_flow
from runs.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with toy_project(tmp_path_factory.mktemp("lost-ledger"), "ghp_lost_ledger_0123456789") as built:
        yield built


def test_an_emptied_ledger_is_restored_from_the_store_and_only_new_batches_run(
    project: Project,
) -> None:
    # Before: the whole history was replayed, production moved from v2 to a new v4 trained on
    # the oldest batch, and CD was told.
    project.batch("b2-broken.csv").unlink()  # only clean batches here
    assert project.run("b1-clean.csv").outcome == "promoted"
    drifted = project.run("b3-drift.csv", DRIFT__SHARE_THRESHOLD="0.3")
    assert drifted.retrained
    project.run("b4-clean.csv")
    ledger = project.root / "data" / "ledger.jsonl"
    before = {e.batch: asdict(e) for e in read_ledger(ledger)}
    production, versions = project.aliases()["production"], project.versions()
    dispatched = len(project.github.received)
    ledger.write_text("")  # lost: a fresh disk, a bad restore, an operator's mistake
    get_settings.cache_clear()
    summary = retraining_flow()
    assert summary.batch == "b5-concept.csv"  # the first batch no run finished
    restored = {e.batch: asdict(e) for e in read_ledger(ledger)}
    for name in ("b1-clean.csv", "b3-drift.csv", "b4-clean.csv"):
        assert restored[name] == before[name]  # retrain and regime fields kept
    new = project.versions() - versions  # at most the one b5 trained
    assert new <= 1
    if summary.outcome != "promoted":
        assert project.aliases()["production"] == production
    assert len(project.github.received) - dispatched == (summary.outcome == "promoted")
