"""Errors of the compute engine."""

from __future__ import annotations


class EngineError(RuntimeError):
    """The Dask cluster could not be reached or started; the message says what to check."""


class PartitionError(ValueError):
    """A partitioned dataset cannot be read: an empty folder, or a partition that is no table."""
