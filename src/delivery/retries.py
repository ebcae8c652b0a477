"""Retrying a request as its server asks: the wait its answer names, else exponential back-off.

tenacity runs the attempts; what an answer means (accepted, worth another try, a wait it names)
is the caller's to say, as a `Failure`, so one policy serves GitHub and the chat webhook.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential


@dataclass(frozen=True)
class Failure:
    """One attempt the server did not accept: what to log, whether to retry, the wait it named.

    Attributes:
        label: What happened ("GitHub answered 503 (Service unavailable)").
        retryable: Whether another attempt may succeed (timeouts, 5xx, rate limits).
        status: The HTTP status; None when the server could not be reached.
        fix: What to change or do about it, for the error message.
        wait: Seconds the server asked to wait (`Retry-After`, a rate limit's reset); None: back
            off.
        why: Where `wait` came from, for the log (" (Retry-After: 7)").
    """

    label: str
    retryable: bool
    status: int | None = None
    fix: str = ""
    wait: float | None = None
    why: str = ""


@dataclass(frozen=True)
class Backoff:
    """How patiently to retry.

    Attributes:
        attempts: Most requests to send, the first included.
        base_delay: Seconds before the first retry; it doubles per retry.
        max_delay: Longest single wait; the back-off is capped there, and a longer wait the
            server asks for ends the retries.
        max_total: Longest total wait over all retries; a wait that would pass it ends them.
    """

    attempts: int
    base_delay: float
    max_delay: float
    max_total: float


@dataclass(frozen=True)
class Tried:
    """How the attempts ended.

    Attributes:
        attempts: Requests sent.
        failure: The last attempt's failure; None when it was accepted.
        waited: Seconds slept between attempts.
        next_wait: The wait that ended the retries for being too long (over `max_delay`, or
            past `max_total` in all); None when they ended otherwise.
    """

    attempts: int
    failure: Failure | None = None
    waited: float = 0.0
    next_wait: float | None = None


class _UnacceptedError(Exception):
    """One attempt's failure, raised so that tenacity judges it."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.label)
        self.failure = failure


def keep_trying(
    send: Callable[[], Failure | None],
    backoff: Backoff,
    *,
    sleep: Callable[[float], None] = time.sleep,
    spread: Callable[[], float] | None = None,
    on_wait: Callable[[Failure, int, float], None] | None = None,
) -> Tried:
    """Call `send` until it is accepted, fails for good, or the back-off gives up.

    A retryable failure that names a wait is retried after exactly that wait; otherwise after
    `base_delay` doubled per retry and capped at `max_delay`, scaled to between half and all
    of it by `spread` (None: not spread).

    Args:
        send: Sends once; returns None when accepted, else the failure.
        backoff: Attempts and waits.
        sleep: Sleeps that many seconds (injected in tests).
        spread: Returns a number in [0, 1] (e.g. `random.random`).
        on_wait: Told the failure, the attempt about to be made and the wait before it.

    Returns:
        The attempts sent, the last failure (None: accepted) and why the retries ended.

    Raises:
        ValueError: `backoff.attempts` is less than 1.
    """
    if backoff.attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {backoff.attempts}")
    attempts = _Attempts(send, sleep)
    retrying = Retrying(
        retry=retry_if_exception(_is_retryable),
        wait=_AskedOrBackoff(backoff, spread),
        stop=stop_after_attempt(backoff.attempts) | _WaitTooLong(backoff),
        sleep=attempts.sleep,
        before_sleep=partial(_tell, on_wait) if on_wait else None,
        retry_error_callback=partial(_given_up, backoff),
    )
    try:
        ended = retrying(attempts.attempt)
    except _UnacceptedError as final:  # an answer no retry would change
        return Tried(attempts.sent, final.failure, attempts.waited)
    return ended or Tried(attempts.sent, waited=attempts.waited)


class _Attempts:
    """Sends once per call, counting the attempts and the time slept between them."""

    def __init__(self, send: Callable[[], Failure | None], sleep: Callable[[float], None]) -> None:
        self.send, self.sleep_for = send, sleep
        self.sent, self.waited = 0, 0.0

    def attempt(self) -> Tried | None:
        self.sent += 1
        failure = self.send()
        if failure is not None:
            raise _UnacceptedError(failure)
        return None

    def sleep(self, seconds: float) -> None:
        self.waited += seconds
        self.sleep_for(seconds)


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, _UnacceptedError) and error.failure.retryable


def _failure(state: RetryCallState) -> Failure:
    assert state.outcome is not None  # judged after an attempt
    error = state.outcome.exception()
    assert isinstance(error, _UnacceptedError)  # only these are retried
    return error.failure


def _tell(on_wait: Callable[[Failure, int, float], None], state: RetryCallState) -> None:
    on_wait(_failure(state), state.attempt_number + 1, state.upcoming_sleep)


def _given_up(backoff: Backoff, state: RetryCallState) -> Tried:
    too_long = state.attempt_number < backoff.attempts  # stopped by the wait, not the count
    next_wait = state.upcoming_sleep if too_long else None
    return Tried(state.attempt_number, _failure(state), state.idle_for, next_wait)


class _AskedOrBackoff(wait_base):
    """The wait the server named, else tenacity's exponential back-off, spread."""

    def __init__(self, backoff: Backoff, spread: Callable[[], float] | None) -> None:
        self.backoff = wait_exponential(multiplier=backoff.base_delay, max=backoff.max_delay)
        self.spread = spread

    def __call__(self, retry_state: RetryCallState) -> float:
        asked = _failure(retry_state).wait
        if asked is not None:
            return asked
        delay = self.backoff(retry_state)
        # Half to all of the back-off: retries of many clients spread out, none comes early.
        return delay if self.spread is None else delay * (0.5 + 0.5 * self.spread())


class _WaitTooLong(stop_base):
    """Stop rather than sleep through a wait over `max_delay`, or past `max_total` in all."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> bool:
        wait = retry_state.upcoming_sleep
        over_total = retry_state.idle_for + wait > self.backoff.max_total
        return wait > self.backoff.max_delay or over_total
