"""Errors raised by the monitor."""

from __future__ import annotations


class ReportLayoutError(Exception):
    """The Evidently HTML page is not laid out as expected, so its inline data can't be escaped."""
