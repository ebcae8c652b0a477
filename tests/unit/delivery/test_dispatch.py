from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from delivery.dispatch import is_transient_dispatch_error, send_dispatch
from delivery.errors import DispatchError
from delivery.request import DispatchRequest, build_dispatch_request, record_dry_run
from fakes import GitHubState, fake_github

TOKEN = "ghp_test_token_value"


@pytest.fixture
def github() -> Iterator[GitHubState]:
    with fake_github(TOKEN) as state:
        yield state


def request_for(api_url: str, repo: str = "acme/model") -> DispatchRequest:
    return build_dispatch_request(
        api_url=api_url,
        repo=repo,
        event_type="model-promoted",
        model_name="rainfall",
        model_version="7",
        run_id="abc123",
        metrics={"roc_auc": 0.8512345678},
        alias="production",
        release="toy-v7-0123456789ab",
    )


def test_dispatch_sends_githubs_contract(github: GitHubState) -> None:
    with httpx.Client() as client:
        result = send_dispatch(client, request_for(github.url), TOKEN)
    assert result.sent and result.status == 204
    [call] = github.received
    assert call["path"] == "/repos/acme/model/dispatches"
    assert call["headers"]["Accept"] == "application/vnd.github+json"
    assert call["headers"]["X-GitHub-Api-Version"] == "2022-11-28"
    assert call["body"] == {
        "event_type": "model-promoted",
        "client_payload": {
            "model_name": "rainfall",
            "model_version": "7",
            "run_id": "abc123",
            "alias": "production",
            "release": "toy-v7-0123456789ab",
            "metrics": {"roc_auc": 0.851235},
        },
    }


@pytest.mark.parametrize(
    ("repo", "token", "status", "setting"),
    [
        ("acme/model", "wrong", 401, "DRIFTLOOP_GITHUB__TOKEN"),
        ("acme/missing", TOKEN, 404, "DRIFTLOOP_GITHUB__REPO"),
    ],
)
def test_rejected_dispatch_names_the_setting_to_fix(github, repo, token, status, setting) -> None:
    with httpx.Client() as client, pytest.raises(DispatchError) as caught:
        send_dispatch(client, request_for(github.url, repo), token)
    assert caught.value.status == status and setting in str(caught.value)
    assert not is_transient_dispatch_error(caught.value)


def test_server_errors_are_transient(github: GitHubState) -> None:
    github.status_queue.append(503)
    with httpx.Client() as client, pytest.raises(DispatchError) as caught:
        send_dispatch(client, request_for(github.url), TOKEN)
    assert is_transient_dispatch_error(caught.value)
    assert is_transient_dispatch_error(httpx.ConnectError("refused"))


def test_token_is_sent_only_in_the_header_never_recorded(
    github: GitHubState, tmp_path: Path
) -> None:
    request = request_for(github.url)
    with httpx.Client() as client:
        send_dispatch(client, request, TOKEN)
    result = record_dry_run(request, tmp_path / "dispatch.json")
    written = (tmp_path / "dispatch.json").read_text()
    assert TOKEN not in written and TOKEN not in repr(request)
    assert json.loads(written)["body"]["event_type"] == "model-promoted"
    assert not result.sent and "DRIFTLOOP_GITHUB__TOKEN" in result.note
