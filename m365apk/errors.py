"""Errors a user can act on. The CLI prints them as one line and maps them to exit codes."""

from __future__ import annotations


class M365ApkError(Exception):
    exit_code = 1


class ConfigError(M365ApkError):
    """Bad arguments or configuration: exit 2."""

    exit_code = 2


class AuthError(M365ApkError):
    """Could not authenticate, or the app has no consent in the tenant: exit 3."""

    exit_code = 3
