"""Progress for logs: batch jobs write to files, where tqdm bars are off."""

from __future__ import annotations


def time_left(elapsed: float, finished: int, remaining: int) -> str:
    """Return ``"; about N min left"`` at the pace so far, or ``""`` without one.

    Also ``"; under 1 min left"`` and, from 90 min, ``"; about H.H h left"``. The
    pace is units finished per second since the start; on several workers the first
    estimates are too long (the units in flight on the other workers do not count
    yet) until each worker has finished some.

    Parameters
    ----------
    elapsed
        Seconds since this run's work started.
    finished
        Units (rows, chunks) finished by this run in that time; units read back
        from checkpoints do not count, they took no time.
    remaining
        Units still to do.

    Returns
    -------
    str
        ``""`` when nothing remains or nothing has finished yet, else the
        estimate, to append inside a log line's parentheses.
    """
    if remaining <= 0 or finished <= 0:
        return ""
    minutes = elapsed / finished * remaining / 60
    if minutes < 1:
        return "; under 1 min left"
    if minutes < 90:
        return f"; about {minutes:.0f} min left"
    return f"; about {minutes / 60:.1f} h left"
