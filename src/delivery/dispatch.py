"""Send GitHub `repository_dispatch` events for released models, retrying as GitHub asks."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from config.settings import GitHubSettings
from delivery.answers import (
    github_message,
    is_rate_limited,
    iso_time,
    rate_limit_wait,
    retry_after_wait,
)
from delivery.errors import DispatchError
from delivery.request import DispatchRequest, DispatchResult, record_dry_run
from delivery.retries import Backoff, Failure, Tried, keep_trying

logger = logging.getLogger(__name__)

ACCEPTED = 204  # GitHub answers a dispatch with 204 No Content
RATE_LIMIT_FIX = "GitHub is rate limiting the token; retry later"
FIX_FOR_STATUS = {
    401: "the token is invalid or expired: set DRIFTLOOP_GITHUB__TOKEN",
    403: "the token lacks permission (needs 'contents: write' on the repository): check "
    "DRIFTLOOP_GITHUB__TOKEN",
    404: "repository not found or not visible to the token: check DRIFTLOOP_GITHUB__REPO",
    422: "GitHub rejected the payload: check DRIFTLOOP_GITHUB__EVENT_TYPE",
}
# The run holds its dataset's locks while it waits: past ten minutes of waiting in all, it
# fails with the time GitHub named instead, and the next run sends the release again.
MAX_TOTAL_WAIT = 600.0


def send_dispatch(client: httpx.Client, request: DispatchRequest, token: str) -> DispatchResult:
    """Send the dispatch once. GitHub answers 204 No Content on success.

    Raises:
        DispatchError: GitHub refused it (status and the setting to fix in the message);
            transient answers (429, 5xx, a rate-limit 403) are raised too, marked `transient`
            for the caller's retry policy.
        httpx.TransportError: the API could not be reached (transient).
    """
    failure = _judge(_post(client, request, token), time.time())
    if failure is not None:
        raise _final_error(request, Tried(1, failure))
    logger.info("dispatched %s to %s", request.body["event_type"], request.url)
    return DispatchResult(sent=True, status=ACCEPTED, request=request, note="dispatched")


def dispatch_with_retries(
    client: httpx.Client,
    request: DispatchRequest,
    token: str,
    *,
    attempts: int = 5,
    base_delay: float = 2.0,
    max_delay: float = 300.0,
    max_total_wait: float = MAX_TOTAL_WAIT,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    jitter: Callable[[], float] = random.random,
) -> DispatchResult:
    """Send the dispatch, retrying what GitHub says is worth retrying (`delivery.retries`).

    Timeouts and other transport errors, 5xx and rate limits (429, or a 403 whose headers or
    message say rate limit) are retried; any other answer is final. A wait GitHub names
    (`Retry-After`, or `x-ratelimit-reset` once `x-ratelimit-remaining` is 0) is slept as given;
    otherwise the wait is `base_delay` doubled per attempt, capped at `max_delay`, spread by
    `jitter`. With the defaults that is at most 5 requests and 2 + 4 + 8 + 16 = 30 s of
    back-off, or up to `max_total_wait` (600 s) when GitHub names its waits.

    Args:
        client: The HTTP client (its timeout bounds each attempt).
        request: What to send, from `build_dispatch_request`.
        token: The GitHub token; it goes into the `Authorization` header and nowhere else.
        attempts: Most requests to send, the first included.
        base_delay: Seconds before the first retry.
        max_delay: Longest wait to sleep through; a longer wait GitHub asks for fails at once.
        max_total_wait: Longest time to spend waiting in all; a wait that would pass it fails.
        sleep: Sleeps that many seconds (injected in tests).
        now: The current time in epoch seconds (injected in tests).
        jitter: Returns a number in [0, 1]; a backoff is scaled to between half and all of it.

    Returns:
        The accepted dispatch, with the number of attempts it took.

    Raises:
        DispatchError: GitHub refused it for good (the setting to fix in the message), asked
            for a wait too long to sleep through (`retry_at` says until when), or every attempt
            failed. It is never `transient` once retried: the retries are spent here.
        ValueError: `attempts` is less than 1.
    """
    backoff = Backoff(attempts, base_delay, max_delay, max_total_wait)

    def send() -> Failure | None:
        return _attempt(client, request, token, now())

    tried = keep_trying(send, backoff, sleep=sleep, spread=jitter, on_wait=_waiting(attempts))
    if tried.failure is not None and tried.next_wait is not None:
        raise _wait_too_long(request, tried, backoff, now=now())
    if tried.failure is not None:
        raise _final_error(request, tried)
    logger.info(
        "dispatched %s to %s on attempt %d of %d",
        request.body["event_type"],
        request.url,
        tried.attempts,
        attempts,
    )
    note = "dispatched" if tried.attempts == 1 else f"dispatched on attempt {tried.attempts}"
    return DispatchResult(True, ACCEPTED, request, note, attempts=tried.attempts)


def is_transient_dispatch_error(exc: BaseException) -> bool:
    """Whether a dispatch failure is worth another try elsewhere (a task's retry).

    Network trouble is; so is a 429, 5xx or rate-limit answer to a single attempt. An error
    raised after retries were spent on it is not, so that retry layers never multiply.
    """
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, DispatchError) and exc.transient


def is_transient_error(exc: BaseException) -> bool:
    """Whether a failed call to a server is worth retrying: network trouble, 429 or 5xx."""
    return isinstance(exc, ConnectionError | TimeoutError) or is_transient_dispatch_error(exc)


def _post(client: httpx.Client, request: DispatchRequest, token: str) -> httpx.Response:
    return client.request(
        request.method,
        request.url,
        json=request.body,
        headers={**request.headers, "Authorization": f"Bearer {token}"},
    )


def _attempt(
    client: httpx.Client, request: DispatchRequest, token: str, now: float
) -> Failure | None:
    try:
        response = _post(client, request, token)
    except httpx.TransportError as exc:
        label = f"GitHub could not be reached ({type(exc).__name__}: {exc})"
        return Failure(label, True, fix="check DRIFTLOOP_GITHUB__API_URL and the network")
    return _judge(response, now)


def _judge(response: httpx.Response, now: float) -> Failure | None:
    """None for an accepted dispatch; otherwise what GitHub's answer means for a retry."""
    status = response.status_code
    if status == ACCEPTED:
        return None
    label = f"GitHub answered {status} ({github_message(response)})"
    if is_rate_limited(response):
        return Failure(label, True, status, RATE_LIMIT_FIX, *rate_limit_wait(response, now))
    if status >= 500:  # noqa: PLR2004 - every 5xx is trouble on GitHub's side
        asked = retry_after_wait(response, now) or (None, "")
        return Failure(label, True, status, "GitHub had a problem; retry later", *asked)
    return Failure(label, False, status, FIX_FOR_STATUS.get(status, "GitHub refused the request"))


def _waiting(attempts: int) -> Callable[[Failure, int, float], None]:
    def log(failure: Failure, attempt: int, delay: float) -> None:
        logger.warning(
            "%s; attempt %d of %d in %.1f s%s", failure.label, attempt, attempts, delay, failure.why
        )

    return log


def _final_error(request: DispatchRequest, tried: Tried) -> DispatchError:
    assert tried.failure is not None  # only a failure ends in an error
    failure, attempts = tried.failure, tried.attempts
    tries = "" if attempts == 1 else f" on all {attempts} attempts"
    return DispatchError(
        f"{failure.label}{tries} to {request.url}; {failure.fix}",
        status=failure.status,
        attempts=attempts,
        # One more try elsewhere (a task's retry) only where none was spent here.
        transient=failure.retryable and attempts == 1,
    )


def _wait_too_long(
    request: DispatchRequest, tried: Tried, backoff: Backoff, *, now: float
) -> DispatchError:
    assert tried.failure is not None and tried.next_wait is not None  # ended by a long wait
    failure, delay = tried.failure, tried.next_wait
    retry_at = now + delay
    if delay > backoff.max_delay:
        limit = f"longer than max_delay ({backoff.max_delay:.0f} s)"
    else:
        limit = (
            f"after {tried.waited:.0f} s of waiting already, past max_total_wait "
            f"({backoff.max_total:.0f} s)"
        )
    return DispatchError(
        f"{failure.label} to {request.url} and asks to wait {delay:.0f} s{failure.why}, "
        f"{limit}: retry after {iso_time(retry_at)}",
        status=failure.status,
        attempts=tried.attempts,
        retry_at=retry_at,
    )


def dispatch(
    request: DispatchRequest,
    github: GitHubSettings,
    *,
    dry_run_path: Path,
    transport: httpx.BaseTransport | None = None,
) -> DispatchResult:
    """Tell CD: send the dispatch with retries, or record it at `dry_run_path` without a token.

    Raises:
        DispatchError: GitHub refused it, or kept failing (or stayed unreachable: status None)
            for `github.attempts` tries.
    """
    if github.token is None:
        return record_dry_run(request, dry_run_path)
    with httpx.Client(timeout=github.timeout_seconds, transport=transport) as client:
        return dispatch_with_retries(
            client,
            request,
            github.token.get_secret_value(),
            attempts=github.attempts,
            base_delay=github.base_delay_seconds,
        )
