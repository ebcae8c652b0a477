"""Soak: 200 small batches through the retraining flow in one process (`make soak`).

The ledger, the registry and the data directory must stay consistent with each other, and the
process's memory must not keep growing.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flow_project import Project, toy_project

from data_validation.errors import DataValidationError
from factories import make_frame
from registry.release import pending_release
from runs.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.soak]

BATCHES = 200
ROWS = 200
# Every 50 batches the concept flips; every 40th batch arrives with a renamed column.
FLIP_EVERY = 50
BROKEN_EVERY = 40
# Memory after warm-up may grow by at most this much over the remaining batches.
GROWTH_LIMIT_MB = 150
WARM_UP = 20


def rss_mb() -> float:
    """The process's resident memory now (Linux /proc), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with toy_project(tmp_path_factory.mktemp("soak"), "ghp_soak_secret_0123456789") as built:
        incoming = built.batch("x").parent
        for old in incoming.iterdir():
            old.unlink()
        for i in range(BATCHES):
            frame = make_frame(
                ROWS, seed=100 + i, start=2000 + ROWS * i, flip=(i // FLIP_EVERY) % 2 == 1
            )
            if i % BROKEN_EVERY == BROKEN_EVERY - 1:
                frame = frame.rename(columns={"x2": "x_two"})
            frame.to_csv(incoming / f"s{i:03d}.csv", index=False)
        yield built


def test_two_hundred_batches_leave_everything_consistent(project: Project) -> None:
    outcomes: Counter[str] = Counter()
    memory: list[float] = []
    started = time.perf_counter()
    for i in range(BATCHES):
        try:
            outcomes[project.run(f"s{i:03d}.csv").outcome] += 1
        except DataValidationError:
            outcomes["rejected"] += 1
        memory.append(rss_mb())
    seconds = time.perf_counter() - started

    entries = read_ledger(project.root / "data" / "ledger.jsonl")
    assert len(entries) == BATCHES and len({e.sha256 for e in entries}) == BATCHES
    assert Counter(e.status for e in entries)["quarantined"] == BATCHES // BROKEN_EVERY
    left = {p.name for p in project.batch("x").parent.glob("*.csv")}
    assert left == {e.batch for e in entries if e.status == "accepted"}  # only rejects moved
    quarantined = list((project.root / "data" / "quarantine").glob("*/s*.csv"))
    assert len(quarantined) == BATCHES // BROKEN_EVERY
    retrained = sum(e.retrained for e in entries)
    assert project.versions() == retrained
    assert "production" in project.aliases()
    assert pending_release(project.client, "toy", "production") is None
    growth = max(memory[WARM_UP:]) - memory[WARM_UP - 1]
    report = {
        "batches": BATCHES,
        "seconds": round(seconds, 1),
        "outcomes": dict(outcomes),
        "retrains": retrained,
        "versions": project.versions(),
        "rss_mb_after_first": round(memory[0], 1),
        "rss_mb_after_warm_up": round(memory[WARM_UP - 1], 1),
        "rss_mb_end": round(memory[-1], 1),
        "rss_mb_max": round(max(memory), 1),
    }
    print("soak:", json.dumps(report))
    assert growth < GROWTH_LIMIT_MB, report
