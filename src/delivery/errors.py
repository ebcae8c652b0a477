"""Errors raised by the CD hand-off."""

from __future__ import annotations


class DispatchError(Exception):
    """GitHub rejected the dispatch; the message names the setting to fix."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        retry_at: float | None = None,
        transient: bool = False,
    ) -> None:
        """Keep what a caller needs to decide what to do next.

        Args:
            message: What went wrong and which setting to fix (never the token).
            status: GitHub's HTTP status, so a retry policy can tell transient from final;
                None when GitHub could not be reached.
            attempts: How many requests were sent before giving up.
            retry_at: When GitHub said it will take the request again (epoch seconds), if it
                asked for a wait too long to sleep through.
            transient: Whether another try may succeed and none was spent on it yet (a
                single attempt's 429, 5xx or rate limit), so a caller may retry it.
        """
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.retry_at = retry_at
        self.transient = transient
