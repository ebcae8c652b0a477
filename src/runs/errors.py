"""Errors raised by run bookkeeping."""

from __future__ import annotations


class BatchReadError(Exception):
    """A batch file cannot be read as a table (missing, wrong format, corrupt)."""


class LedgerError(Exception):
    """The run ledger is unreadable, or the data it names has changed since."""


class DataVersionError(Exception):
    """DVC could not record, find or restore a data file (the message says which and why)."""
