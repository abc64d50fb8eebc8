"""Atomic file output and structure (de)serialization for result tables.

Every file matscreen writes goes through :func:`atomic_write_bytes`: the data
is written to a temporary file in the same folder, flushed to disk and then
renamed over the target, so a killed process leaves either the old file or the
new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from pymatgen.core import Structure


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename).

    Raises
    ------
    OSError
        If the folder is not writable or the disk is full; the previous
        content of ``path`` (if any) is left intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write text (UTF-8) atomically; see :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write a JSON document atomically, pretty-printed."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_parquet(path: str | os.PathLike[str], table: pd.DataFrame) -> Path:
    """Write a DataFrame as Parquet (pyarrow) atomically."""
    import io

    buf = io.BytesIO()
    table.to_parquet(buf, engine="pyarrow", index=False)
    return atomic_write_bytes(path, buf.getvalue())


def structure_to_json(structure: Structure | None) -> str | None:
    """Serialize a structure to a JSON string (pymatgen ``as_dict``), or None."""
    if structure is None:
        return None
    return json.dumps(structure.as_dict())


def structure_from_json(text: str | None) -> Structure | None:
    """Inverse of :func:`structure_to_json`."""
    if text is None or (isinstance(text, float) and text != text):
        return None
    from pymatgen.core import Structure

    return Structure.from_dict(json.loads(text))
