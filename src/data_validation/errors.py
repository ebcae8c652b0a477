"""Errors raised by the validation gate."""

from __future__ import annotations


class DataValidationError(Exception):
    """A batch broke its expectation suite; the message lists every failed expectation."""

    def __init__(self, message: str, *, failures: tuple[str, ...], quarantined_to: str) -> None:
        """Keep the failures and the quarantine path for callers that report them."""
        super().__init__(message)
        self.failures = failures
        self.quarantined_to = quarantined_to


class UnreadableBatchError(DataValidationError):
    """A batch could not be read as a table at all (wrong format, encoding, size, truncated)."""
