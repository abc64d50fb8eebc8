"""An exclusive lock on an output folder, shared by screen, design and predict."""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from matscreen.core.errors import OutputLockedError

logger = logging.getLogger(__name__)

__all__ = ["RunLock"]


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
