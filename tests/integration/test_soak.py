"""Soak: many small batches through the retraining flow in one process.

The ledger, the registry and the data directory must stay consistent with each other, and the
process's memory must not keep growing. `make test` runs a short soak (12 batches: the concept
flips and flips back, a broken batch in each phase); `make soak` runs 200.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flow_project import Project, toy_project

from data_validation.errors import DataValidationError
from factories import make_frame
from registry.release import pending_release
from runs.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 200


@dataclass(frozen=True)
class Soak:
    """How long a soak runs: its batches, how often the concept flips and a batch is broken."""

    batches: int
    flip_every: int
    broken_every: int
    # Memory after warm-up may grow by at most this much over the remaining batches.
    warm_up: int
    growth_limit_mb: float


# Each batch is a full run (3-5 s); the short soak keeps the long one's shape at 4 batches a
# phase (it had 8: 24 batches took ~2 minutes of `make test`).
SHORT = Soak(batches=12, flip_every=4, broken_every=4, warm_up=4, growth_limit_mb=150)
LONG = Soak(batches=200, flip_every=50, broken_every=40, warm_up=20, growth_limit_mb=150)


def rss_mb() -> float:
    """The process's resident memory now (Linux /proc), in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def soaked_project(root: Path, soak: Soak) -> Iterator[Project]:
    with toy_project(root, "ghp_soak_secret_0123456789") as built:
        incoming = built.batch("x").parent
        for old in incoming.iterdir():
            old.unlink()
        for i in range(soak.batches):
            frame = make_frame(
                ROWS, seed=100 + i, start=2000 + ROWS * i, flip=(i // soak.flip_every) % 2 == 1
            )
            if i % soak.broken_every == soak.broken_every - 1:
                frame = frame.rename(columns={"x2": "x_two"})
            frame.to_csv(incoming / f"s{i:03d}.csv", index=False)
        yield built


@pytest.fixture(scope="module")
def short_project(
    prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    yield from soaked_project(tmp_path_factory.mktemp("soak-short"), SHORT)


@pytest.fixture(scope="module")
def long_project(
    prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    yield from soaked_project(tmp_path_factory.mktemp("soak"), LONG)


def run_soak(project: Project, soak: Soak) -> None:
    outcomes: Counter[str] = Counter()
    memory: list[float] = []
    started = time.perf_counter()
    for i in range(soak.batches):
        try:
            outcomes[project.run(f"s{i:03d}.csv").outcome] += 1
        except DataValidationError:
            outcomes["rejected"] += 1
        memory.append(rss_mb())
    seconds = time.perf_counter() - started

    entries = read_ledger(project.root / "data" / "ledger.jsonl")
    assert len(entries) == soak.batches and len({e.sha256 for e in entries}) == soak.batches
    broken = soak.batches // soak.broken_every
    assert Counter(e.status for e in entries)["quarantined"] == broken
    left = {p.name for p in project.batch("x").parent.glob("*.csv")}
    assert left == {e.batch for e in entries if e.status == "accepted"}  # only rejects moved
    quarantined = list((project.root / "data" / "quarantine").glob("*/s*.csv"))
    assert len(quarantined) == broken
    retrained = sum(e.retrained for e in entries)
    assert project.versions() == retrained
    assert "production" in project.aliases()
    assert pending_release(project.client, "toy", "production") is None
    growth = max(memory[soak.warm_up :]) - memory[soak.warm_up - 1]
    report = {
        "batches": soak.batches,
        "seconds": round(seconds, 1),
        "outcomes": dict(outcomes),
        "retrains": retrained,
        "versions": project.versions(),
        "rss_mb_after_first": round(memory[0], 1),
        "rss_mb_after_warm_up": round(memory[soak.warm_up - 1], 1),
        "rss_mb_end": round(memory[-1], 1),
        "rss_mb_max": round(max(memory), 1),
    }
    print("soak:", json.dumps(report))
    assert growth < soak.growth_limit_mb, report


def test_a_short_soak_leaves_everything_consistent(short_project: Project) -> None:
    run_soak(short_project, SHORT)


@pytest.mark.soak
def test_two_hundred_batches_leave_everything_consistent(long_project: Project) -> None:
    run_soak(long_project, LONG)
