from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from email.utils import formatdate

import httpx
import pytest

from delivery.dispatch import dispatch_with_retries, is_transient_dispatch_error
from delivery.errors import DispatchError
from delivery.request import DispatchRequest, build_dispatch_request
from fakes import Answer, GitHubState, fake_github

TOKEN = "ghp_retry_secret_token_value"
START = 1_700_000_000.0


class Clock:
    """A fake clock: `sleep` records the wait and moves `now` forward, without waiting."""

    def __init__(self) -> None:
        self.time = START
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds


@pytest.fixture
def github() -> Iterator[GitHubState]:
    with fake_github(TOKEN) as state:
        yield state


@pytest.fixture
def clock() -> Clock:
    return Clock()


def request_for(api_url: str, repo: str = "acme/model", event_type: str = "model-promoted"):
    return build_dispatch_request(
        api_url=api_url,
        repo=repo,
        event_type=event_type,
        model_name="rainfall",
        model_version="7",
        run_id="abc123",
        metrics={"roc_auc": 0.85},
        alias="production",
        release="toy-v7-0123456789ab",
    )


def deliver(request: DispatchRequest, clock: Clock, token: str = TOKEN, **options):
    options = {"sleep": clock.sleep, "now": clock.now, "jitter": lambda: 1.0} | options
    with httpx.Client(timeout=options.pop("timeout", 5.0)) as client:
        return dispatch_with_retries(client, request, token, **options)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_server_errors_are_retried_with_growing_backoff(github: GitHubState, clock: Clock) -> None:
    github.status_queue += [503, 503]
    result = deliver(request_for(github.url), clock)
    assert result.sent and result.status == 204 and result.attempts == 3
    assert clock.sleeps == [2.0, 4.0]
    assert len(github.received) == 3


def test_backoff_is_capped_at_max_delay_and_spread_by_jitter(
    github: GitHubState, clock: Clock
) -> None:
    github.status_queue += [500, 502, 504]
    result = deliver(
        request_for(github.url), clock, base_delay=100.0, max_delay=150.0, jitter=lambda: 0.0
    )
    assert result.attempts == 4
    assert clock.sleeps == [50.0, 75.0, 75.0]


def test_every_attempt_failing_raises_with_the_last_status(
    github: GitHubState, clock: Clock
) -> None:
    github.status_queue += [503] * 3
    with pytest.raises(DispatchError) as caught:
        deliver(request_for(github.url), clock, attempts=3)
    assert caught.value.status == 503 and caught.value.attempts == 3
    assert "all 3 attempts" in str(caught.value)
    assert clock.sleeps == [2.0, 4.0]


def test_retry_after_seconds_is_slept_as_given(github: GitHubState, clock: Clock) -> None:
    github.status_queue.append((429, {"Retry-After": "7"}))
    result = deliver(request_for(github.url), clock)
    assert result.attempts == 2 and clock.sleeps == [7.0]


def test_retry_after_http_date_is_slept_until_that_time(github: GitHubState, clock: Clock) -> None:
    github.status_queue.append((503, {"Retry-After": formatdate(START + 12, usegmt=True)}))
    result = deliver(request_for(github.url), clock)
    assert result.attempts == 2 and clock.sleeps == [12.0]


def test_primary_rate_limit_waits_until_the_reset(github: GitHubState, clock: Clock) -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(START) + 30)}
    github.status_queue.append((403, headers))
    result = deliver(request_for(github.url), clock)
    assert result.sent and result.attempts == 2
    assert clock.sleeps == [30.0]


def test_secondary_rate_limit_without_a_wait_waits_a_minute(
    github: GitHubState, clock: Clock
) -> None:
    message = "You have exceeded a secondary rate limit. Please wait a few minutes."
    github.status_queue.append(Answer(403, message=message))
    result = deliver(request_for(github.url), clock)
    assert result.attempts == 2 and clock.sleeps == [60.0]


def test_rate_limit_reset_too_far_away_fails_fast_naming_the_time(
    github: GitHubState, clock: Clock
) -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(START) + 3600)}
    github.status_queue.append((403, headers))
    with pytest.raises(DispatchError) as caught:
        deliver(request_for(github.url), clock)
    assert clock.sleeps == [] and len(github.received) == 1
    assert caught.value.retry_at == START + 3600
    assert "2023-11-14T23:13:20Z" in str(caught.value)
    assert "max_delay" in str(caught.value)


def test_retry_after_longer_than_max_delay_fails_fast(github: GitHubState, clock: Clock) -> None:
    github.status_queue.append((429, {"Retry-After": "900"}))
    with pytest.raises(DispatchError) as caught:
        deliver(request_for(github.url), clock)
    assert clock.sleeps == [] and caught.value.status == 429
    assert caught.value.retry_at == START + 900


def test_waits_past_the_total_budget_fail_naming_the_time_to_retry(
    github: GitHubState, clock: Clock
) -> None:
    github.status_queue += [(503, {"Retry-After": "250"})] * 3
    with pytest.raises(DispatchError) as caught:
        deliver(request_for(github.url), clock)
    assert clock.sleeps == [250.0, 250.0] and caught.value.attempts == 3
    assert caught.value.retry_at == START + 750
    assert "after 500 s of waiting already, past max_total_wait (600 s)" in str(caught.value)
    assert not is_transient_dispatch_error(caught.value)


def test_an_error_after_spent_retries_is_not_transient_so_retry_layers_never_multiply(
    github: GitHubState, clock: Clock
) -> None:
    github.status_queue += [503] * 3
    with pytest.raises(DispatchError) as retried:
        deliver(request_for(github.url), clock, attempts=3)
    assert retried.value.attempts == 3 and not is_transient_dispatch_error(retried.value)
    github.status_queue.append(Answer(403, message="You have exceeded a secondary rate limit."))
    with pytest.raises(DispatchError) as once:
        deliver(request_for(github.url), clock, attempts=1)
    assert once.value.status == 403 and is_transient_dispatch_error(once.value)


def test_plain_403_is_a_permission_problem_and_not_retried(
    github: GitHubState, clock: Clock
) -> None:
    github.status_queue.append(403)
    with pytest.raises(DispatchError) as caught:
        deliver(request_for(github.url), clock)
    assert caught.value.status == 403 and "DRIFTLOOP_GITHUB__TOKEN" in str(caught.value)
    assert clock.sleeps == [] and len(github.received) == 1


@pytest.mark.parametrize(
    ("case", "status", "setting"),
    [
        ({"token": "wrong"}, 401, "DRIFTLOOP_GITHUB__TOKEN"),
        ({"repo": "acme/missing"}, 404, "DRIFTLOOP_GITHUB__REPO"),
        ({"event_type": ""}, 422, "DRIFTLOOP_GITHUB__EVENT_TYPE"),
    ],
)
def test_client_errors_fail_at_once_naming_the_setting(
    github: GitHubState, clock: Clock, case: dict[str, str], status: int, setting: str
) -> None:
    request = request_for(
        github.url, case.get("repo", "acme/model"), case.get("event_type", "model-promoted")
    )
    with pytest.raises(DispatchError) as caught:
        deliver(request, clock, token=case.get("token", TOKEN))
    assert caught.value.status == status and caught.value.attempts == 1
    assert setting in str(caught.value)
    assert clock.sleeps == [] and len(github.received) == 1


def test_a_timeout_is_retried(github: GitHubState, clock: Clock) -> None:
    github.status_queue.append(Answer(204, stall=True))
    result = deliver(request_for(github.url), clock, timeout=0.05)
    assert result.sent and result.attempts == 2
    assert clock.sleeps == [2.0]


def test_an_unreachable_api_is_retried_then_reported(clock: Clock) -> None:
    request = request_for(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(DispatchError) as caught:
        deliver(request, clock, attempts=3)
    assert caught.value.status is None and caught.value.attempts == 3
    assert "ConnectError" in str(caught.value)
    assert clock.sleeps == [2.0, 4.0]


def test_attempts_must_be_positive(github: GitHubState, clock: Clock) -> None:
    with pytest.raises(ValueError, match="attempts"):
        deliver(request_for(github.url), clock, attempts=0)


def test_waits_are_logged_with_their_numbers_and_the_token_never_appears(
    github: GitHubState, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    github.status_queue += [503, (429, {"Retry-After": "7"}), Answer(204, stall=True)]
    result = deliver(request_for(github.url), clock, timeout=0.05)
    github.status_queue.append(401)
    with pytest.raises(DispatchError) as caught:
        deliver(request_for(github.url), clock)
    assert "GitHub answered 503 (Service unavailable); attempt 2 of 5 in 2.0 s" in caplog.text
    assert "attempt 3 of 5 in 7.0 s (Retry-After: 7)" in caplog.text
    assert "ReadTimeout" in caplog.text
    assert result.attempts == 4
    seen = [caplog.text, str(caught.value), repr(caught.value), repr(result), repr(result.request)]
    seen += [str(record.args) for record in caplog.records]
    assert all(TOKEN not in text for text in seen)
    assert github.received[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
