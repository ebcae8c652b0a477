"""Errors raised while reading settings and dataset specs."""

from __future__ import annotations


class ConfigError(Exception):
    """A setting or a dataset spec is wrong; the message names the field and the fix."""


class SpecError(ConfigError):
    """A dataset spec file is missing, unreadable or inconsistent."""


class SettingsError(ConfigError):
    """An environment variable or `.env` entry has an invalid value."""
