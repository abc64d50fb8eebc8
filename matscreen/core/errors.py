"""Exceptions that carry a message meant for the user.

A :class:`MatscreenInputError` is a usage or input problem (a bad file, a
misspelled workflow field): the CLI prints its message on one line and exits
with code 2, without a traceback.
"""

from __future__ import annotations


class MatscreenInputError(ValueError):
    """A usage or input error whose message names the file/field and the problem."""


class OutputLockedError(RuntimeError):
    """Another matscreen run holds the output directory."""
