"""Errors raised by the registry stage."""

from __future__ import annotations


class RegistryError(Exception):
    """The registry is unreachable or in a state driftloop cannot act on."""


class RollbackError(RegistryError):
    """A rollback cannot be done as asked (no production, unknown or same version)."""


class ApprovalError(RegistryError):
    """An approval or rejection cannot be done as asked (nothing pending, stale evidence)."""
