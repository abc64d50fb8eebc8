"""Run folder bookkeeping: the lock, per-chunk checkpoints, resume.

Layout of an output folder::

    DIR/run.lock                 held while a run writes here (pid + host)
    DIR/checkpoints/<stage>-<key>.parquet   one finished chunk each
    DIR/results.parquet, DIR/run.json, DIR/report.html

A chunk's key hashes the candidate ids in it and the run configuration, so a
resumed run reuses exactly the chunks that an identical run would compute.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from matscreen.core.errors import OutputLockedError
from matscreen.core.io import atomic_write_parquet

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RunLock:
    """An exclusive lock on an output folder (a ``run.lock`` file).

    A lock left by a process that died on this host is taken over; a lock
    held by a live process (or by another host) makes :meth:`acquire` raise.
    """

    folder: Path
    path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.path = Path(self.folder) / "run.lock"

    def acquire(self) -> None:
        """Take the lock or raise :class:`OutputLockedError`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        info = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._stale():
                    logger.warning("removing stale lock %s", self.path)
                    self.path.unlink(missing_ok=True)
                    continue
                holder = self.path.read_text(errors="replace").strip()
                raise OutputLockedError(
                    f"{self.folder} is in use by another matscreen run ({holder}); "
                    "wait for it to finish or choose another --out"
                ) from None
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh)
            return
        raise OutputLockedError(f"could not lock {self.folder}")

    def _stale(self) -> bool:
        try:
            info = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return True
        return info.get("host") == socket.gethostname() and not _pid_alive(int(info["pid"]))

    def release(self) -> None:
        """Remove the lock file."""
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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

    def stages_present(self) -> bool:
        """Whether any checkpoint exists (a run was started here)."""
        return self.root.is_dir() and any(self.root.glob("*.parquet"))
