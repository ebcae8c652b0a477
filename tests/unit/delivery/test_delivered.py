"""CD hears of a release once, even when the run that sent it died before closing it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from config.settings import GitHubSettings
from delivery.delivered import tell_cd_once
from delivery.errors import DispatchError
from delivery.request import DispatchRequest, build_dispatch_request
from fakes import GitHubState, fake_github
from registry.release import Aliases, Release, apply_promotion, pending_release, sending_since

TOKEN = "ghp_delivered_0123456789"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    registry = MlflowClient(tracking_uri=uri, registry_uri=uri)
    registry.create_registered_model("m")
    registry.create_model_version("m", source=(tmp_path / "model").as_uri(), run_id=None)
    yield registry
    mlflow.set_tracking_uri(None)


@pytest.fixture
def github() -> Iterator[GitHubState]:
    with fake_github(TOKEN) as state:
        yield state


def released(client: MlflowClient) -> Release:
    action = apply_promotion(
        client,
        name="m",
        version="1",
        promote=True,
        reason="better",
        evaluated_against=None,
        actor="t",
        batch=None,
        aliases=Aliases(),
    )
    assert action.release is not None
    return action.release


def settings(github: GitHubState) -> GitHubSettings:
    return GitHubSettings(
        token=TOKEN, repo=github.repo, api_url=github.url, base_delay_seconds=0.01
    )


def request(github: GitHubState, release: Release) -> DispatchRequest:
    return build_dispatch_request(
        api_url=github.url,
        repo=github.repo,
        event_type="model-promoted",
        model_name="m",
        model_version="1",
        run_id="abc",
        metrics={},
        alias="production",
        release=release.release_id,
    )


def tell(client: MlflowClient, github: GitHubState, release: Release, tmp_path: Path) -> str:
    result = tell_cd_once(
        client, release, request(github, release), settings(github), dry_run_path=tmp_path / "d"
    )
    return result.note


def test_a_release_sent_by_a_run_that_died_before_closing_it_is_not_sent_again(
    client: MlflowClient, github: GitHubState, tmp_path: Path
) -> None:
    release = released(client)
    assert tell(client, github, release, tmp_path) == "dispatched"
    # The run dies here: the release stays open, as a SIGKILL before `close_release` leaves it.
    assert pending_release(client, "m", "production") == release

    note = tell(client, github, release, tmp_path)

    assert len(github.received) == 1
    assert note.startswith("CD already had this release (workflow run 1,")
    assert github.runs[0]["display_title"] == f"ship m v1 (release {release.release_id})"


def test_a_release_github_never_got_is_sent_again(
    client: MlflowClient, github: GitHubState, tmp_path: Path
) -> None:
    release = released(client)
    github.status_queue.append(500)  # the one attempt allowed fails: GitHub has no run for it
    with pytest.raises(DispatchError, match="500"):
        tell_cd_once(
            client,
            release,
            request(github, release),
            settings(github).model_copy(update={"attempts": 1}),
            dry_run_path=tmp_path / "d",
        )

    assert tell(client, github, release, tmp_path) == "dispatched"
    assert len(github.received) == 2 and len(github.runs) == 1


def test_when_github_cannot_list_runs_the_release_is_sent_again(
    client: MlflowClient, github: GitHubState, tmp_path: Path
) -> None:
    release = released(client)
    tell(client, github, release, tmp_path)
    github.list_queue.append(403)  # a token without `actions: read`

    assert tell(client, github, release, tmp_path) == "dispatched"
    assert len(github.received) == 2  # at least once; CD builds a version's image once


def test_a_mark_another_release_left_does_not_count_for_this_one(
    client: MlflowClient, github: GitHubState, tmp_path: Path
) -> None:
    first = released(client)
    tell(client, github, first, tmp_path)  # CD has this one; the run died before closing it
    again = Release(**{**first.__dict__, "at": "2026-12-01T15:00:00.000000+00:00"})
    assert again.release_id != first.release_id

    listed = github.listings
    assert tell(client, github, again, tmp_path) == "dispatched"
    assert len(github.received) == 2 and github.listings == listed  # never looked up


def test_a_cd_run_a_few_minutes_older_than_the_mark_is_found_but_not_an_older_one(
    client: MlflowClient, github: GitHubState, tmp_path: Path
) -> None:
    release = released(client)
    tell(client, github, release, tmp_path)
    since = datetime.fromisoformat(str(sending_since(client, release)))
    github.runs[0]["created_at"] = (since - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tell(client, github, release, tmp_path).startswith("CD already had this release")

    github.runs[0]["created_at"] = (since - timedelta(minutes=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tell(client, github, release, tmp_path) == "dispatched"  # outside the clock slack
    assert sending_since(client, release) == since.isoformat()  # the first send's time kept


def test_the_run_is_found_past_the_first_page_of_newer_runs(
    client: MlflowClient, github: GitHubState, tmp_path: Path
) -> None:
    release = released(client)
    tell(client, github, release, tmp_path)
    for n in range(150):  # other releases' runs since, newest first
        github.add_run(f"ship other v{n} (release other-v{n}-000000000000)")

    assert tell(client, github, release, tmp_path).startswith("CD already had this release")
    assert len(github.received) == 1
