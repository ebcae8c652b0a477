"""Errors raised by the training stage."""

from __future__ import annotations


class TrainingError(Exception):
    """The data cannot be trained on (no labels, one class only, too few rows)."""
