"""Errors raised by the CD hand-off."""

from __future__ import annotations


class DispatchError(Exception):
    """GitHub rejected the dispatch; the message names the setting to fix."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        """Keep GitHub's HTTP status so a retry policy can tell transient from final."""
        super().__init__(message)
        self.status = status
