"""Manual approval in the registry: candidate, approve, reject, supersede, stale, crash repair."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from registries import local_registry

from registry.approval import (
    REMOVED,
    STATE_TAG,
    Candidate,
    approve_candidate,
    hold_for_approval,
    pending_candidate,
    reject_candidate,
)
from registry.errors import ApprovalError
from registry.history import read_history
from registry.release import Aliases, apply_promotion, close_release, pending_release
from registry.rollback import describe_history, resume_interrupted, roll_back

ALIASES = Aliases()


@pytest.fixture
def client(tmp_path: Path):
    with local_registry(tmp_path, versions=4) as registry:
        yield registry


def aliases(client: MlflowClient) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model("m").aliases.items()}


def promote_first(client: MlflowClient) -> None:
    """v1 in production, its release closed (CD told)."""
    action = apply_promotion(
        client,
        name="m",
        version="1",
        promote=True,
        reason="first",
        evaluated_against=None,
        actor="t",
        batch=None,
        aliases=ALIASES,
    )
    assert action.release is not None
    close_release(client, action.release, "dispatched")


def hold(client: MlflowClient, version: str, against: str | None = "1", batch: str = "b"):
    candidate = Candidate("m", version, against, f"v{version} is better", "run@host", batch)
    return hold_for_approval(client, candidate, ALIASES)


def approve(client: MlflowClient, version: str | None = None, reason: str = "looked fine"):
    return approve_candidate(
        client, name="m", version=version, reason=reason, actor="ana@desk", aliases=ALIASES
    )


def test_a_winner_waits_as_candidate_and_production_does_not_move(client) -> None:
    promote_first(client)
    action = hold(client, "2")
    assert not action.promoted and action.release is None
    assert action.awaiting == 'v2 awaits approval: driftloop approve 2 --model m --reason "..."'
    assert aliases(client) == {"production": "1", "challenger": "2", "candidate": "2"}
    waiting = pending_candidate(client, "m", ALIASES)
    assert waiting is not None
    assert (waiting.version, waiting.evaluated_against, waiting.batch) == ("2", "1", "b")
    assert client.get_model_version("m", "2").tags[STATE_TAG].startswith("pending since ")
    lines = describe_history(client, "m", "production")
    assert lines[-1].startswith("pending: v2 awaits approval")


def test_approval_releases_it_like_a_promotion_and_clears_the_candidate(client) -> None:
    promote_first(client)
    hold(client, "2")
    release = approve(client, reason="checked the slices")
    assert (release.action, release.to_version, release.from_version) == ("promote", "2", "1")
    assert release.actor == "ana@desk" and release.batch == "b"
    assert release.reason.startswith("approved by ana@desk: checked the slices; the run found:")
    assert aliases(client) == {"production": "2", "previous": "1", "challenger": "2"}
    # The intent is open until CD is told, as after an automatic promotion.
    assert pending_release(client, "m", "production") == release
    state = client.get_model_version("m", "2").tags[STATE_TAG]
    assert state.startswith("approved by ana@desk at ") and state.endswith(": checked the slices")
    moves = [(e.action, e.alias, e.from_version, e.to_version) for e in read_history(client, "m")]
    assert moves[-5:] == [
        ("challenger", "challenger", "1", "2"),
        ("candidate", "candidate", None, "2"),
        ("promote", "production", "1", "2"),
        ("promote", "previous", None, "1"),
        ("approve", "candidate", "2", REMOVED),
    ]
    assert [e.actor for e in read_history(client, "m")][-3:] == ["ana@desk"] * 3


def test_rejection_records_the_refusal_and_ships_nothing(client) -> None:
    promote_first(client)
    hold(client, "2")
    refused = reject_candidate(
        client, name="m", version="2", reason="outage week", actor="bo", aliases=ALIASES
    )
    assert refused.version == "2"
    assert aliases(client) == {"production": "1", "challenger": "2"}
    assert pending_release(client, "m", "production") is None
    assert client.get_model_version("m", "2").tags[STATE_TAG].startswith("rejected by bo at ")
    last = read_history(client, "m")[-1]
    assert (last.action, last.from_version, last.to_version, last.reason) == (
        "reject",
        "2",
        REMOVED,
        "outage week",
    )
    with pytest.raises(ApprovalError, match="v2 is not pending \\(rejected by bo"):
        approve(client, "2")


def test_a_newer_candidate_supersedes_the_pending_one(client) -> None:
    promote_first(client)
    hold(client, "2")
    action = hold(client, "3")
    assert action.superseded == "2"
    assert aliases(client)["candidate"] == "3"
    assert client.get_model_version("m", "2").tags[STATE_TAG].startswith("superseded by v3 at ")
    with pytest.raises(ApprovalError, match=r"v2 is not pending \(superseded by v3.*v3 is"):
        approve(client, "2")
    assert approve(client).to_version == "3"


def test_a_candidate_whose_champion_moved_is_refused(client) -> None:
    promote_first(client)
    hold(client, "2")
    close_release(client, approve_or_roll(client), "dispatched")
    with pytest.raises(ApprovalError, match="compared with v1, but production is now v3"):
        approve(client)
    assert aliases(client)["production"] == "3" and aliases(client)["candidate"] == "2"
    pending = describe_history(client, "m", "production")[-1]
    assert pending.startswith("pending: v2 was compared with v1, but production is now v3")


def test_a_rollback_to_the_candidate_releases_it(client) -> None:
    promote_first(client)
    hold(client, "2")
    roll_back(client, name="m", to_version="2", reason="ship it now", actor="op", aliases=ALIASES)
    assert "candidate" not in aliases(client) and aliases(client)["production"] == "2"
    state = client.get_model_version("m", "2").tags[STATE_TAG]
    assert state.startswith("put in production by op at ")
    assert read_history(client, "m")[-1].action == "rollback"


def test_a_candidate_set_by_hand_is_not_approved(client) -> None:
    promote_first(client)
    client.set_registered_model_alias("m", "candidate", "3")
    with pytest.raises(ApprovalError, match="made `candidate` by hand"):
        approve(client)
    assert "by hand" in describe_history(client, "m", "production")[-1]


def approve_or_roll(client: MlflowClient):
    """Someone moves production to v3 by hand (a rollback to another version)."""
    return roll_back(client, name="m", to_version="3", reason="hotfix", actor="op", aliases=ALIASES)


def test_nothing_pending_is_refused_with_the_reason(client) -> None:
    promote_first(client)
    with pytest.raises(ApprovalError, match="no version is waiting for approval"):
        approve(client)
    never = r"^v2 is not pending \(it never waited for approval\); no version is waiting$"
    with pytest.raises(ApprovalError, match=never):
        reject_candidate(client, name="m", version="2", reason="x", actor="bo", aliases=ALIASES)


def test_a_winner_that_lost_the_race_never_becomes_candidate(client) -> None:
    promote_first(client)
    action = hold(client, "2", against=None)  # compared with no model, but v1 is production
    assert action.lost is not None and action.awaiting is None
    assert "candidate" not in aliases(client)


def test_an_approval_that_stopped_after_the_moves_is_completed_once(client) -> None:
    promote_first(client)
    hold(client, "2")
    candidate = pending_candidate(client, "m", ALIASES)
    assert candidate is not None
    # The process died after production moved, before the candidate alias was cleared.
    release = approve(client)
    client.set_registered_model_alias("m", "candidate", "2")
    resumed = resume_interrupted(client, "m", ALIASES)
    assert resumed == release
    assert "candidate" not in aliases(client)
    assert aliases(client)["production"] == "2"
    # The repair is recorded as the approver's, not as driftloop's.
    assert client.get_model_version("m", "2").tags[STATE_TAG].startswith("approved by ana@desk")
