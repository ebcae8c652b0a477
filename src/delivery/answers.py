"""Reading GitHub's answers: its message, whether it is a rate limit, how long it asks to wait."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

# GitHub's advice for a secondary rate limit that names no time: wait at least a minute.
SECONDARY_RATE_LIMIT_WAIT = 60.0


def is_rate_limited(response: httpx.Response) -> bool:
    """Whether GitHub is rate limiting the token (429, or a 403 that says so)."""
    if response.status_code == 429:  # noqa: PLR2004 - Too Many Requests
        return True
    if response.status_code != 403:  # noqa: PLR2004 - GitHub also answers a rate limit with 403
        return False
    return (
        response.headers.get("x-ratelimit-remaining") == "0"
        or "retry-after" in response.headers
        or "rate limit" in github_message(response).lower()
    )


def rate_limit_wait(response: httpx.Response, now: float) -> tuple[float, str]:
    """How long a rate-limited answer asks to wait, and why, as GitHub documents it."""
    retry_after = retry_after_wait(response, now)
    if retry_after is not None:
        return retry_after
    reset = _number(response.headers.get("x-ratelimit-reset", ""))
    if response.headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        # The reset is in whole seconds by GitHub's clock; a second's margin absorbs skew.
        return max(1.0, reset - now), f" (rate limit resets at {iso_time(reset)})"
    return SECONDARY_RATE_LIMIT_WAIT, " (rate limited; GitHub asks for at least a minute)"


def retry_after_wait(response: httpx.Response, now: float) -> tuple[float, str] | None:
    """The wait a `Retry-After` header asks for, and the words for the log (None: no header)."""
    value = response.headers.get("retry-after", "")
    seconds = _seconds_until(value, now)
    return None if seconds is None else (seconds, f" (Retry-After: {value})")


def _seconds_until(retry_after: str, now: float) -> float | None:
    """Seconds from `now` named by a `Retry-After` value: delta seconds or an HTTP-date."""
    seconds = _number(retry_after)
    if seconds is None:
        try:
            when = parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            return None
        seconds = when.replace(tzinfo=when.tzinfo or UTC).timestamp() - now
    return max(0.0, seconds)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def iso_time(epoch: float) -> str:
    """An epoch time as UTC ISO 8601 (for messages)."""
    try:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"epoch {epoch:.0f}"


def github_message(response: httpx.Response) -> str:
    """GitHub's `message` from an error answer (or the start of the body)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(body)[:200]
