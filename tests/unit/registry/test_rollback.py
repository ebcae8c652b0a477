from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from registries import local_registry

from delivery.errors import DispatchError
from registry.errors import RollbackError
from registry.history import read_history
from registry.release import (
    Aliases,
    Release,
    apply_promotion,
    close_release,
    mark_sending,
    pending_release,
)
from registry.rollback import (
    describe_history,
    resume_interrupted,
    roll_back,
    roll_back_and_dispatch,
)

ALIASES = Aliases()


@pytest.fixture
def client(tmp_path: Path):
    with local_registry(tmp_path, versions=3) as registry:
        yield registry


def release(client: MlflowClient, version: str, against: str | None) -> Release:
    action = apply_promotion(
        client,
        name="m",
        version=version,
        promote=True,
        reason="better",
        evaluated_against=against,
        actor="t",
        batch=None,
        aliases=ALIASES,
    )
    assert action.release is not None
    return action.release


def released_in_turn(client: MlflowClient, *versions: str) -> None:
    """Promote each version in turn, each release closed (CD told)."""
    before = None
    for version in versions:
        close_release(client, release(client, version, before), "dispatched")
        before = version


def rollback(client: MlflowClient, cd, to_version: str | None = None, reason: str = "r"):
    """`driftloop rollback` by the operator `op`, telling CD through `cd`."""
    return roll_back_and_dispatch(
        client,
        name="m",
        to_version=to_version,
        reason=reason,
        actor="op",
        aliases=ALIASES,
        dispatch=cd,
    )


def test_a_closed_release_leaves_nothing_to_resume(client) -> None:
    close_release(client, release(client, "1", None), "dispatched")
    assert pending_release(client, "m", "production") is None
    assert resume_interrupted(client, "m", ALIASES) is None


def test_an_open_release_is_resumed_until_it_is_closed(client) -> None:
    opened = release(client, "1", None)  # the run died before telling CD
    assert resume_interrupted(client, "m", ALIASES) == opened
    assert resume_interrupted(client, "m", ALIASES) == opened  # still open: CD not told yet
    close_release(client, opened, "dispatched")
    assert resume_interrupted(client, "m", ALIASES) is None


def test_rollback_goes_to_previous_and_records_it(client) -> None:
    released_in_turn(client, "1", "2")
    back = roll_back(
        client, name="m", to_version=None, reason="bad latency", actor="op", aliases=ALIASES
    )
    assert back.to_version == "1" and back.from_version == "2"
    aliases = {k: str(v) for k, v in client.get_registered_model("m").aliases.items()}
    assert aliases["production"] == "1" and aliases["previous"] == "2"
    last = read_history(client, "m")[-1]
    assert (last.action, last.alias, last.to_version) == ("rollback", "previous", "2")
    assert pending_release(client, "m", "production") == back  # open until CD is told
    assert any(
        "open: the rollback to v1" in line for line in describe_history(client, "m", "production")
    )


def test_rollback_refuses_what_it_cannot_do(client) -> None:
    def back(to: str | None) -> Release:
        return roll_back(client, name="m", to_version=to, reason="r", actor="op", aliases=ALIASES)

    with pytest.raises(RollbackError, match="no `production` version"):
        back(None)
    close_release(client, release(client, "1", None), "dispatched")
    with pytest.raises(RollbackError, match="no `previous` version"):
        back(None)
    with pytest.raises(RollbackError, match="already `production`"):
        back("1")
    with pytest.raises(RollbackError, match="no version 7"):
        back("7")


def test_history_of_an_unknown_model_is_empty(client) -> None:
    assert describe_history(client, "nosuch", "production") == []


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail

    def __call__(self, release, version) -> str:
        if self.fail:
            raise DispatchError("GitHub answered 503", status=503)
        self.sent.append(version.version)
        return "dispatched"


def test_a_rollback_wins_over_an_open_release_and_cd_hears_only_of_the_rollback(client) -> None:
    released_in_turn(client, "1", "2")
    opened = release(client, "3", "2")  # its run died before telling CD
    cd = Recorder()
    done = rollback(client, cd)
    assert done.superseded == opened and done.release.to_version == "2"
    assert cd.sent == ["2"] and done.note == "dispatched"
    assert pending_release(client, "m", "production") is None
    aliases = client.get_registered_model("m").aliases
    assert (aliases["production"], aliases["previous"]) == (2, 3)
    note = client.get_model_version("m", "3").tags["driftloop.release.dispatched"]
    assert "superseded by the rollback to v2 by op; CD was not told" in note


def test_an_open_release_whose_previous_alias_never_moved_is_completed_before_rolling_back(
    client,
) -> None:
    released_in_turn(client, "1", "2")
    opened = release(client, "3", "2")
    # The run died after `production` moved and before `previous` did.
    client.set_registered_model_alias("m", "previous", "1")
    done = rollback(
        client,
        Recorder(),
    )
    assert done.superseded == opened and done.release.to_version == "2"


def test_a_failed_dispatch_leaves_the_rollback_open_for_the_next_run(client) -> None:
    released_in_turn(client, "1", "2")
    with pytest.raises(DispatchError):
        rollback(
            client,
            Recorder(fail=True),
        )
    still = pending_release(client, "m", "production")
    assert still is not None and still.action == "rollback" and still.to_version == "1"
    assert resume_interrupted(client, "m", ALIASES) == still


def test_running_rollback_again_after_its_dispatch_failed_sends_it_and_rolls_back_no_further(
    client,
) -> None:
    released_in_turn(client, "1", "2")
    with pytest.raises(DispatchError):
        rollback(
            client,
            Recorder(fail=True),
        )
    cd = Recorder()
    done = rollback(client, cd)
    assert done.resent and done.release.to_version == "1" and cd.sent == ["1"]
    assert client.get_registered_model("m").aliases["production"] == 1
    assert pending_release(client, "m", "production") is None


def test_a_superseded_release_whose_dispatch_was_under_way_says_cd_may_have_heard(client) -> None:
    released_in_turn(client, "1", "2")
    opened = release(client, "3", "2")
    mark_sending(client, opened)  # the run died after asking CD
    rollback(
        client,
        Recorder(),
    )
    note = client.get_model_version("m", "3").tags["driftloop.release.dispatched"]
    assert "CD may have been told (its dispatch was under way)" in note


def test_a_rollback_to_another_version_supersedes_an_unsent_one(client) -> None:
    released_in_turn(client, "1", "2", "3")
    with pytest.raises(DispatchError):
        rollback(
            client,
            Recorder(fail=True),
        )
    cd = Recorder()
    done = rollback(client, cd, to_version="1", reason="further")
    assert not done.resent and done.release.to_version == "1" and cd.sent == ["1"]
    assert done.superseded is not None and done.superseded.to_version == "2"
    assert client.get_registered_model("m").aliases["production"] == 1
