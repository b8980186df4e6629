"""Exceptions that the CLI turns into one-line messages and exit codes.

A `DataError` means the user's data is unusable (exit code 1); a `UsageError`
means the command or its options are wrong (exit code 2).  Both carry a message
that names the offending file or value and says what to do about it.
"""
from __future__ import annotations


class GanevalError(Exception):
    """Base class of every error ganeval raises on purpose."""

    exit_code = 1


class DataError(GanevalError, ValueError):
    """The input data cannot be used: missing, corrupt, wrong shape or dtype."""

    exit_code = 1


class UsageError(GanevalError, ValueError):
    """An option or argument is invalid."""

    exit_code = 2


class Interrupted(GanevalError):
    """The user stopped the command (Ctrl-C); the message says what was kept and how to go on."""

    exit_code = 130


class WeightsError(DataError):
    """Inception weights are missing, corrupt, of the wrong format or fail their hash check."""
