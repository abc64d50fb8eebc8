"""Run folder bookkeeping: per-chunk checkpoints, resume.

Layout of an output folder::

    DIR/run.lock                 held while a run writes here (pid + host; core.locks.RunLock)
    DIR/checkpoints/<stage>-<key>.parquet   one finished chunk each
    DIR/results.parquet, DIR/run.json, DIR/report.html

A chunk's key hashes the candidate ids in it and the run configuration, so a
resumed run reuses exactly the chunks that an identical run would compute.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from matscreen.core.io import atomic_write_parquet

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


@dataclass
class CheckpointStore:
    """Per-chunk Parquet checkpoints in ``<folder>/checkpoints``."""

    folder: Path
    #: Chunks per stage that this process loaded instead of computing (a resumed run).
    reused: dict[str, int] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The checkpoint folder."""
        return Path(self.folder) / "checkpoints"

    def path(self, stage: str, key: str) -> Path:
        """Return the file of one chunk."""
        return self.root / f"{stage}-{key}.parquet"

    def has(self, stage: str, key: str) -> bool:
        """Whether a chunk is finished."""
        return self.path(stage, key).is_file()

    def save(self, stage: str, key: str, table: pd.DataFrame) -> None:
        """Write one finished chunk atomically."""
        atomic_write_parquet(self.path(stage, key), table)

    def load(self, stage: str, key: str) -> pd.DataFrame:
        """Read one finished chunk."""
        import pandas as pd

        return pd.read_parquet(self.path(stage, key))

    def stages_present(self, ignore: tuple[str, ...] = ()) -> bool:
        """Whether any checkpoint exists (a run was started here), other than ``ignore`` stages."""
        if not self.root.is_dir():
            return False
        return any(not p.name.startswith(tuple(f"{s}-" for s in ignore)) for p in
                   self.root.glob("*.parquet"))  # fmt: skip
