"""Send GitHub `repository_dispatch` events for released models, retrying as GitHub asks."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
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

logger = logging.getLogger(__name__)

ACCEPTED = 204  # GitHub answers a dispatch with 204 No Content
TRANSIENT_STATUS = {429, 500, 502, 503, 504}
# GitHub's advice when a secondary rate limit names no wait: wait at least a minute.
RATE_LIMIT_FIX = "GitHub is rate limiting the token; retry later"
FIX_FOR_STATUS = {
    401: "the token is invalid or expired: set DRIFTLOOP_GITHUB__TOKEN",
    403: "the token lacks permission (needs 'contents: write' on the repository): check "
    "DRIFTLOOP_GITHUB__TOKEN",
    404: "repository not found or not visible to the token: check DRIFTLOOP_GITHUB__REPO",
    422: "GitHub rejected the payload: check DRIFTLOOP_GITHUB__EVENT_TYPE",
}


@dataclass(frozen=True)
class _Failure:
    """An attempt GitHub did not accept: what to log, whether to retry, what GitHub asked for."""

    label: str
    status: int | None
    retryable: bool
    fix: str
    wait: float | None = None
    why: str = ""


def send_dispatch(client: httpx.Client, request: DispatchRequest, token: str) -> DispatchResult:
    """Send the dispatch once. GitHub answers 204 No Content on success.

    Raises:
        DispatchError: GitHub refused it (status and the setting to fix in the message);
            transient answers (429, 5xx) are raised too, for the caller's retry policy.
        httpx.TransportError: the API could not be reached (transient).
    """
    failure = _judge(_post(client, request, token), time.time())
    if failure is not None:
        raise _final_error(request, failure, attempts=1)
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
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    jitter: Callable[[], float] = random.random,
) -> DispatchResult:
    """Send the dispatch, retrying what GitHub says is worth retrying.

    Timeouts and other transport errors, 5xx and rate limits (429, or a 403 whose headers or
    message say rate limit) are retried; any other answer is final. A wait GitHub names
    (`Retry-After`, or `x-ratelimit-reset` once `x-ratelimit-remaining` is 0) is slept as given;
    otherwise the wait is `base_delay` doubled per attempt, capped at `max_delay`, spread by
    `jitter`.

    Args:
        client: The HTTP client (its timeout bounds each attempt).
        request: What to send, from `build_dispatch_request`.
        token: The GitHub token; it goes into the `Authorization` header and nowhere else.
        attempts: Most requests to send, the first included.
        base_delay: Seconds before the first retry.
        max_delay: Longest wait to sleep through; a longer wait GitHub asks for fails at once.
        sleep: Sleeps that many seconds (injected in tests).
        now: The current time in epoch seconds (injected in tests).
        jitter: Returns a number in [0, 1]; a backoff is scaled to between half and all of it.

    Returns:
        The accepted dispatch, with the number of attempts it took.

    Raises:
        DispatchError: GitHub refused it for good (the setting to fix in the message), asked
            for a wait longer than `max_delay` (`retry_at` says until when), or every attempt
            failed.
        ValueError: `attempts` is less than 1.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        logger.debug("dispatch attempt %d of %d to %s", attempt, attempts, request.url)
        failure = _attempt(client, request, token, now())
        if failure is None:
            logger.info(
                "dispatched %s to %s on attempt %d of %d",
                request.body["event_type"],
                request.url,
                attempt,
                attempts,
            )
            note = "dispatched" if attempt == 1 else f"dispatched on attempt {attempt}"
            return DispatchResult(True, ACCEPTED, request, note, attempts=attempt)
        if not failure.retryable or attempt == attempts:
            raise _final_error(request, failure, attempts=attempt)
        delay = failure.wait
        if delay is None:
            delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * (0.5 + 0.5 * jitter())
        if delay > max_delay:
            raise _wait_too_long(
                request, failure, delay, now=now(), limit=max_delay, attempt=attempt
            )
        logger.warning(
            "%s; attempt %d of %d in %.1f s%s",
            failure.label,
            attempt + 1,
            attempts,
            delay,
            failure.why,
        )
        sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def is_transient_dispatch_error(exc: BaseException) -> bool:
    """Whether a dispatch failure is worth retrying (network trouble, 429, 5xx)."""
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, DispatchError) and exc.status in TRANSIENT_STATUS


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
) -> _Failure | None:
    try:
        response = _post(client, request, token)
    except httpx.TransportError as exc:
        label = f"GitHub could not be reached ({type(exc).__name__}: {exc})"
        return _Failure(label, None, True, "check DRIFTLOOP_GITHUB__API_URL and the network")
    return _judge(response, now)


def _judge(response: httpx.Response, now: float) -> _Failure | None:
    """None for an accepted dispatch; otherwise what GitHub's answer means for a retry."""
    status = response.status_code
    if status == ACCEPTED:
        return None
    label = f"GitHub answered {status} ({github_message(response)})"
    if is_rate_limited(response):
        return _Failure(label, status, True, RATE_LIMIT_FIX, *rate_limit_wait(response, now))
    if status >= 500:  # noqa: PLR2004 - every 5xx is trouble on GitHub's side
        wait, why = retry_after_wait(response, now) or (None, "")
        return _Failure(label, status, True, "GitHub had a problem; retry later", wait, why)
    fix = FIX_FOR_STATUS.get(status, "GitHub refused the request")
    return _Failure(label, status, False, fix)


def _final_error(request: DispatchRequest, failure: _Failure, *, attempts: int) -> DispatchError:
    tries = "" if attempts == 1 else f" on all {attempts} attempts"
    return DispatchError(
        f"{failure.label}{tries} to {request.url}; {failure.fix}",
        status=failure.status,
        attempts=attempts,
    )


def _wait_too_long(
    request: DispatchRequest,
    failure: _Failure,
    delay: float,
    *,
    now: float,
    limit: float,
    attempt: int,
) -> DispatchError:
    retry_at = now + delay
    return DispatchError(
        f"{failure.label} to {request.url} and asks to wait {delay:.0f} s{failure.why}, "
        f"longer than max_delay ({limit:.0f} s): retry after {iso_time(retry_at)}",
        status=failure.status,
        attempts=attempt,
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
        DispatchError: GitHub refused it, or kept failing for `github.attempts` tries.
        httpx.TransportError: the API stayed unreachable.
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
