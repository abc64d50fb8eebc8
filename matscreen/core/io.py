"""Atomic file output and structure (de)serialization for result tables.

Every file matscreen writes goes through :func:`atomic_write_bytes`: the data
is written to a temporary file in the same folder, flushed to disk and then
renamed over the target, so a killed process leaves either the old file or the
new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from pymatgen.core import Structure

logger = logging.getLogger(__name__)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask at import: new files get ``0o666 & ~umask`` as ``open()`` gives them.
UMASK = _current_umask()


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
        try:  # mkstemp makes 0600: keep the target's mode, else what open() would give
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o666 & ~UMASK
        os.fchmod(fd, mode)
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


def to_builtin(value: Any) -> Any:
    """Return ``value`` as plain Python, as JSON or YAML would give it back.

    Mappings and sequences are converted item by item (tuples become lists),
    ``Path`` becomes ``str``, numpy scalars and arrays become Python numbers
    and lists; anything else is returned as it is.
    """
    if isinstance(value, dict):
        return {k: to_builtin(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_builtin(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and hasattr(value, "shape"):  # numpy scalar or array
        return value.tolist()
    return value


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write a JSON document atomically, pretty-printed."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_versioned_cache(
    path: Path, version: str, field: str, *, strict: bool = False
) -> dict[str, Any]:
    """Return ``blob[field]`` of a JSON cache file written for ``version`` ({} if none).

    A file that cannot be parsed (cut off by a full disk, edited) is ignored
    with a warning: what it held is computed again. One that cannot be read
    (permissions, an I/O error) is ignored too, unless ``strict``: then the
    ``OSError`` is raised (a writer must not replace a file it could not read).
    """
    try:
        blob = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        logger.warning("cache file %s is corrupt (%s); ignoring it", path, exc)
        return {}
    except OSError as exc:
        if strict:
            raise
        logger.warning("cache file %s is unreadable (%s); ignoring it", path, exc)
        return {}
    if not isinstance(blob, dict) or blob.get("version") != version:
        return {}
    values = blob.get(field, {})
    return values if isinstance(values, dict) else {}


_UNLOCKED_WARNED: list[bool] = []  # the no-lock warning is given once per process


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<path>.lock`` (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, writes stay atomic
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX)
            locked = True
        except OSError as exc:  # a shared filesystem without flock (ENOLCK): go on unlocked
            if not _UNLOCKED_WARNED:
                logger.warning(
                    "no file lock on %s (%s): cache writes go on unlocked (atomic, but entries "
                    "that concurrent jobs add at the same moment may be recomputed)",
                    path,
                    exc,
                )
                _UNLOCKED_WARNED.append(True)
            locked = False
        try:
            yield
        finally:
            if locked:
                fcntl.flock(fh, fcntl.LOCK_UN)


def add_to_versioned_cache(
    path: Path, header: dict[str, Any], field: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Add ``values`` to ``blob[field]`` of a JSON cache file, safe for concurrent writers.

    Under :func:`exclusive_lock` the file is re-read (what other processes added
    since this one read it is kept), ``values`` are added and the file is
    replaced atomically. ``header`` holds ``version`` (a file of another version
    is started afresh, as is a corrupt one) and any other top-level fields.
    Caching is best effort: a folder that cannot be written (a read-only home
    on a compute node) or a file that cannot be read (it is then left as it
    is) logs a warning and returns ``values`` alone.

    Returns
    -------
    dict
        The file's ``blob[field]`` after the write.
    """
    try:
        with exclusive_lock(path):
            merged = read_versioned_cache(path, header["version"], field, strict=True) | values
            atomic_write_text(path, json.dumps({**header, field: merged}))
    except OSError as exc:
        logger.warning("could not write cache file %s (%s); results are not cached", path, exc)
        return dict(values)
    return merged


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


def is_ase_atoms(obj: object) -> bool:
    """Return whether ``obj`` is an ASE ``Atoms`` (subclasses too: pymatgen's ``MSONAtoms``)."""
    from ase import Atoms

    return isinstance(obj, Atoms)


def to_structure(obj: Any, base_dir: str | Path | None = None) -> Structure:
    """Return a pymatgen ``Structure`` from what a user may hold for one.

    Parameters
    ----------
    obj
        A ``Structure``, an ASE ``Atoms``, a structure dict, its JSON text (as
        ``results.parquet`` stores it), or the path of a structure file (CIF,
        POSCAR, extended XYZ, ... as ``Structure.from_file`` reads them).
    base_dir
        Folder a relative path is read from.

    Raises
    ------
    ValueError
        If a path does not exist, or a text is neither JSON nor a path.
    TypeError
        For any other type.
    """
    from pymatgen.core import Structure

    if isinstance(obj, Structure):
        return obj
    if isinstance(obj, dict):
        return Structure.from_dict(obj)
    if isinstance(obj, Path | str) and not str(obj).lstrip().startswith("{"):
        path = Path(obj)
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        if not path.is_file():
            raise ValueError(
                f"structure file {obj} not found (a structure is a Structure, ASE Atoms, a "
                "dict, its JSON text or a structure file)"
            )
        return Structure.from_file(str(path))
    if isinstance(obj, str):
        return Structure.from_dict(json.loads(obj))
    if is_ase_atoms(obj):
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(obj)
    raise TypeError(f"cannot read a structure from {type(obj).__name__}")


def structure_from_json(text: str | None) -> Structure | None:
    """Inverse of :func:`structure_to_json`."""
    if text is None or (isinstance(text, float) and text != text):
        return None
    from pymatgen.core import Structure

    return Structure.from_dict(json.loads(text))


def is_missing(value: Any) -> bool:
    """Return whether a table cell holds nothing: None, NaN or blank text.

    pandas gives NaN for a missing cell where a row holds text (``iterrows`` on pandas 3,
    a CSV's empty field), None where it holds objects.
    """
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and not value.strip()


def keep_none(values: Any, index: Any = None) -> pd.Series:
    """Return ``values`` as a column whose missing text stays ``None``.

    pandas 3 infers its ``str`` dtype from strings and ``None`` and stores ``None`` as NaN;
    such a column is kept as ``object`` instead (pandas 2 never infers ``str``: unchanged).
    Numeric and other columns keep their inferred dtype.

    Parameters
    ----------
    values
        The column's values, in row order.
    index
        The index of the table the column goes into.

    Returns
    -------
    pandas.Series
    """
    import pandas as pd

    values = list(values)
    column = pd.Series(values, index=index)
    if isinstance(column.dtype, pd.StringDtype):
        column = pd.Series(values, index=index, dtype=object)
    return column


def none_for_missing(column: pd.Series) -> pd.Series:
    """Return ``column`` as ``object`` with ``None`` for each missing value (text columns)."""
    return column.astype(object).where(column.notna(), None)
