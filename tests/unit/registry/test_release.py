from __future__ import annotations

import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient
from registries import local_registry

from registry.history import read_history
from registry.locks import release_lock
from registry.release import (
    INTENT_TAG,
    Aliases,
    apply_promotion,
    close_release,
    move_production,
    pending_release,
    plan_release,
)

ALIASES = Aliases()


@pytest.fixture
def registry(tmp_path: Path):
    with local_registry(tmp_path, versions=4) as client:
        yield client


def aliases(client: MlflowClient) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model("m").aliases.items()}


def promote(client: MlflowClient, version: str, against: str | None, win: bool = True):
    return apply_promotion(
        client,
        name="m",
        version=version,
        promote=win,
        reason=f"v{version} {'won' if win else 'lost'}",
        evaluated_against=against,
        actor="tester@host",
        batch=f"sha-{version}",
        aliases=ALIASES,
    )


def test_promotion_moves_production_keeps_previous_and_records_history(registry) -> None:
    promote(registry, "1", None)
    action = promote(registry, "2", "1")
    assert aliases(registry) == {"production": "2", "previous": "1", "challenger": "2"}
    assert [(m.alias, m.from_version, m.to_version) for m in action.moves] == [
        ("challenger", "1", "2"),
        ("production", "1", "2"),
        ("previous", None, "1"),
    ]
    history = read_history(registry, "m")
    assert [(e.action, e.alias, e.from_version, e.to_version) for e in history] == [
        ("challenger", "challenger", None, "1"),
        ("promote", "production", None, "1"),
        ("challenger", "challenger", "1", "2"),
        ("promote", "production", "1", "2"),
        ("promote", "previous", None, "1"),
    ]
    assert all(e.actor == "tester@host" and e.reason for e in history)


def test_losing_challenger_leaves_production_untouched(registry) -> None:
    promote(registry, "1", None)
    action = promote(registry, "3", "1", win=False)
    assert not action.promoted and action.release is None
    assert aliases(registry)["production"] == "1" and aliases(registry)["challenger"] == "3"
    assert registry.get_model_version("m", "3").tags["driftloop.promotion"] == "v3 lost"


def test_a_run_that_evaluated_against_a_stale_champion_loses_and_says_so(registry) -> None:
    promote(registry, "1", None)
    promote(registry, "2", "1")  # another run promoted meanwhile
    action = promote(registry, "3", "1")
    assert not action.promoted
    assert action.lost and "production moved from v1 to v2" in action.lost
    assert aliases(registry)["production"] == "2"


def test_concurrent_promotions_leave_exactly_one_winner(registry, tmp_path: Path) -> None:
    promote(registry, "1", None)
    barrier = threading.Barrier(3)
    results = {}

    def run(version: str) -> None:
        client = MlflowClient(
            tracking_uri=registry._tracking_client.tracking_uri,
            registry_uri=registry._registry_uri,
        )
        barrier.wait()
        with release_lock(tmp_path / ".locks", "m", timeout=600):
            results[version] = promote(client, version, "1")

    threads = [threading.Thread(target=run, args=(v,)) for v in ("2", "3", "4")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [v for v, a in results.items() if a.promoted]
    assert len(winners) == 1
    assert aliases(registry)["production"] == winners[0]
    assert all(results[v].lost for v in results if v not in winners)


def test_an_interrupted_release_is_found_and_completed_without_doubling(registry) -> None:
    promote(registry, "1", None)
    release = plan_release(
        registry,
        action="promote",
        name="m",
        to_version="2",
        reason="better",
        actor="a",
        aliases=ALIASES,
    )
    # The run dies right after moving production: intent written, previous not moved yet.
    registry.set_model_version_tag("m", "2", INTENT_TAG, release.to_json())
    registry.set_registered_model_alias("m", "production", "2")
    found = pending_release(registry, "m", "production")
    assert found == release
    for _ in range(2):  # completing twice changes nothing further
        move_production(registry, found, ALIASES)
    assert aliases(registry) == {"production": "2", "previous": "1", "challenger": "1"}
    moves = [
        e for e in read_history(registry, "m") if e.action == "promote" and e.to_version == "2"
    ]
    assert len(moves) == 1
    close_release(registry, found, "dispatched")
    assert pending_release(registry, "m", "production") is None
    assert "dispatched" in registry.get_model_version("m", "2").tags["driftloop.release.dispatched"]


def test_a_stale_intent_on_a_version_that_never_reached_production_is_ignored(registry) -> None:
    first = promote(registry, "1", None)
    assert first.release is not None
    assert pending_release(registry, "m", "production") == first.release  # not yet delivered
    close_release(registry, first.release, "dispatched")
    release = plan_release(
        registry,
        action="promote",
        name="m",
        to_version="2",
        reason="r",
        actor="a",
        aliases=ALIASES,
    )
    registry.set_model_version_tag("m", "2", INTENT_TAG, release.to_json())
    assert pending_release(registry, "m", "production") is None
    registry.set_model_version_tag("m", "1", INTENT_TAG, release.to_json())  # names v2, on v1
    assert pending_release(registry, "m", "production") is None
