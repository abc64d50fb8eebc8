"""Exceptions that carry a message meant for the user.

A :class:`MatscreenInputError` is a usage or input problem (a bad file, a
misspelled workflow field): the CLI prints its message on one line and exits
with code 2, without a traceback.

Row tables keep two kinds of text apart: ``error`` says why a row failed
(set only when ``status`` is not ``ok``); ``result_note`` (``physics_note``
and ``md_note`` in a screening run) says what the reader of an ``ok`` row
should know (a template was used, a value is an extrapolation, a check was
skipped). :func:`join_notes` joins such pieces.
"""

from __future__ import annotations


class MatscreenInputError(ValueError):
    """A usage or input error whose message names the file/field and the problem."""


class OutputLockedError(RuntimeError):
    """Another matscreen run holds the output directory."""


class ClusterStartError(RuntimeError):
    """The batch system took no worker job (bad partition, no ``sbatch``...): nothing can run."""


def join_notes(*parts: object) -> str | None:
    """Join the non-empty text parts with ``"; "``; None when there are none.

    Parts that are not text (None, a table's NaN) are left out.

    Examples
    --------
    >>> join_notes("template used", None, "", float("nan"))
    'template used'
    >>> join_notes(None) is None
    True
    """
    text = "; ".join(p for p in parts if isinstance(p, str) and p)
    return text or None
