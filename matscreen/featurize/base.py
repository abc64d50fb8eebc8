"""The featurizer contract: matminer's ``BaseFeaturizer`` plus a batched fast path.

Every matscreen featurizer is a matminer ``BaseFeaturizer`` (so it works in a
``MultipleFeaturizer`` and with ``featurize_dataframe``). On top of that it may
implement :meth:`BatchFeaturizer.featurize_batch`, which the chunked engine
(:mod:`matscreen.featurize.engine`) calls on a whole chunk at once. The default
``featurize_batch`` loops over ``featurize`` and records each entry's error
instead of raising, so one bad entry never stops a chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matminer.featurizers.base import BaseFeaturizer


class BatchFeaturizer(BaseFeaturizer):
    """A matminer featurizer with a batched, error-isolating entry point."""

    #: What the featurizer consumes: ``"composition"`` or ``"structure"``.
    input_kind: str = "composition"

    def featurize_batch(self, entries: Sequence[Any]) -> tuple[np.ndarray, list[str | None]]:
        """Featurize many entries at once.

        Parameters
        ----------
        entries
            Compositions or structures (see :attr:`input_kind`).

        Returns
        -------
        values
            Array of shape ``(len(entries), len(self.feature_labels()))``; rows
            that failed are NaN.
        errors
            One entry per input: ``None`` on success, else the reason it failed.
        """
        n_labels = len(self.feature_labels())
        values = np.full((len(entries), n_labels), np.nan)
        errors: list[str | None] = [None] * len(entries)
        for i, entry in enumerate(entries):
            try:
                values[i] = self.featurize(entry)
            except Exception as exc:  # noqa: BLE001 - reported per row
                errors[i] = f"{type(self).__name__}: {type(exc).__name__}: {exc}"
        return values, errors

    def implementors(self) -> list[str]:
        """Return the people who wrote this featurizer."""
        return ["matscreen developers"]

    def citations(self) -> list[str]:
        """Return BibTeX citations for the method (none by default)."""
        return []
