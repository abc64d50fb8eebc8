"""Export the structures of a results table as CIF files or one extended-XYZ file.

``results.parquet`` (``screen``) and ``proposals.parquet`` (``design``) keep
each candidate's structure as a JSON string (pymatgen ``as_dict``) in the
``structure`` column. :func:`export_structures` writes them out for other
tools: one CIF per row, or one multi-frame extended XYZ file whose frames
carry the row's scalar columns (``id``, ``formula``, ``e_above_hull``, ...) in
their info line, which ASE (``ase.io.read(path, index=":")``) reads back.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

logger = logging.getLogger(__name__)

ExportFormat = Literal["cif", "extxyz"]
#: Name of the extended-XYZ file written in the output folder.
EXTXYZ_NAME = "structures.extxyz"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Info keys that ASE's extxyz reader and writer take as calculator results or
#: frame metadata; a result column of that name is written as ``result_<name>``.
_ASE_RESERVED = frozenset(
    {"energy", "free_energy", "forces", "stress", "virial", "magmom", "magmoms", "charges",
     "dipole", "energies", "stresses", "pbc", "Lattice", "Properties", "Time"}
)  # fmt: skip


def _file_stem(value: Any, taken: set[str]) -> str:
    """Return a file-name-safe, unique stem for a row label."""
    stem = _UNSAFE.sub("_", str(value)).strip("._") or "row"
    name, k = stem, 1
    while name in taken:
        k += 1
        name = f"{stem}_{k}"
    taken.add(name)
    return name


def _scalar(value: Any) -> Any:
    """Return ``value`` as a plain finite scalar for an extxyz info line, or None."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        value = value.item()
    if isinstance(value, str):
        # one frame header is one line of key=value pairs: line breaks or tabs would cut it
        value = " ".join(value.split()) if any(c in value for c in "\r\n\t") else value
        # ASE writes an empty string as a bare "key=", which its reader pairs with the next
        # key's text (hull_missing= swallowed window_low_V): left out, like None
        return value if value.strip() else None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and math.isfinite(float(value)):
        return value
    return None


def _info(row: pd.Series) -> dict[str, Any]:
    """Return the row's scalar columns (numbers, strings, booleans) for an extxyz info line.

    Column names that ASE reserves (:data:`_ASE_RESERVED`) are prefixed
    ``result_``; NaN, None and non-scalar values are left out.
    """
    info: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("structure", "relaxed_structure"):  # the frame itself, not a label
            continue
        item = _scalar(value)
        if item is not None:
            name = str(key)
            info[f"result_{name}" if name in _ASE_RESERVED else name] = item
    return info


def _label(row: pd.Series, position: int) -> Any:
    """Return the row's ``id`` when it has one, else its position in the table."""
    import pandas as pd

    value = row.get("id")
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return position
    return value


def export_structures(
    results: pd.DataFrame | str | Path,
    out: str | Path,
    *,
    fmt: ExportFormat = "cif",
    statuses: Sequence[str] | None = ("ok",),
    relaxed: bool = False,
    relaxed_only: bool = False,
) -> list[Path]:
    """Write the structures of a results table to ``out``.

    Parameters
    ----------
    results
        A table with a ``structure`` column of JSON strings (or pymatgen
        ``Structure`` objects), or the path of a Parquet file such as
        ``DIR/results.parquet``.
    out
        Folder to write to (created if needed).
    fmt
        ``"cif"``: one ``<id>.cif`` per row (``id`` column, else the row
        number; unsafe characters replaced); ``"extxyz"``: one
        :data:`EXTXYZ_NAME` with a frame per row and its scalar columns
        (line breaks in strings become spaces, empty strings are left out;
        columns named like ASE's own keys, such as ``energy`` or ``stress``,
        become ``result_<name>``).
    statuses
        Rows whose ``status`` is one of these are written (default ``ok``);
        None writes every row with a structure.
    relaxed
        Write the MLIP-relaxed cell (``relaxed_structure``, the one its
        energies, hull and window refer to) of rows that have one, and the
        ``structure`` of the others; in extxyz the frame says which in
        ``structure_source`` (``relaxed`` / ``input``), in a CIF a comment
        line ``# structure_source: relaxed`` (or ``input``) above the data
        block, and the log counts each.
    relaxed_only
        Write only the rows that have an MLIP-relaxed cell (the candidates of
        the physics stage), and that cell; implies ``relaxed``.

    Returns
    -------
    list of pathlib.Path
        The files written. A row whose structure cannot be read is skipped
        with a logged warning; the other rows are still written.

    Raises
    ------
    ValueError
        If the table has no ``structure`` column or ``fmt`` is unknown.
    """
    import pandas as pd
    from pymatgen.core import Structure

    from matscreen.core.io import atomic_write_text, structure_from_json

    if fmt not in ("cif", "extxyz"):
        raise ValueError(f"unknown export format {fmt!r}; use cif or extxyz")
    if isinstance(results, str | Path):
        try:
            table = pd.read_parquet(results)
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors name a buffer, not the file
            raise ValueError(
                f"{results}: not a readable Parquet table ({type(exc).__name__}); export reads "
                "the results.parquet of screen or the proposals.parquet of design"
            ) from exc
    else:
        table = results
    if "structure" not in table.columns:
        raise ValueError("the results have no 'structure' column")
    if statuses is not None and "status" in table.columns:
        table = table[table["status"].isin(list(statuses))]
    relaxed = relaxed or relaxed_only
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sources = {"relaxed": 0, "input": 0}
    frames: list[Any] = []
    taken: set[str] = set()
    skipped = 0
    for position, (_, row) in enumerate(table.iterrows()):
        label = _label(row, position)
        value, source = row["structure"], "input"
        cell = row.get("relaxed_structure")
        if relaxed and (isinstance(cell, Structure) or (isinstance(cell, str) and cell)):
            value, source = cell, "relaxed"
        elif relaxed_only:
            continue
        try:
            structure = value if isinstance(value, Structure) else structure_from_json(value)
        except (ValueError, TypeError, KeyError) as exc:  # one bad row never stops the export
            logger.warning("row %s: unreadable structure (%s); skipped", label, exc)
            skipped += 1
            continue
        if structure is None:
            continue
        if fmt == "cif":
            from pymatgen.io.cif import CifWriter

            path = folder / f"{_file_stem(label, taken)}.cif"
            header = f"# structure_source: {source}\n" if relaxed else ""
            written.append(atomic_write_text(path, header + str(CifWriter(structure))))
            sources[source] += 1
        else:
            from pymatgen.io.ase import AseAtomsAdaptor

            if not structure.is_ordered:
                logger.warning("row %s: a disordered structure has no XYZ frame; skipped", label)
                continue
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.info.update(_info(row))
            if relaxed:
                atoms.info["structure_source"] = source
            frames.append(atoms)
            sources[source] += 1
    if fmt == "extxyz" and frames:
        from ase.io import write

        buf = io.StringIO()
        write(buf, frames, format="extxyz")
        written.append(atomic_write_text(folder / EXTXYZ_NAME, buf.getvalue()))
    if skipped:
        logger.warning("%d row(s) with an unreadable structure were not exported", skipped)
    if relaxed:
        logger.info(
            "%d MLIP-relaxed cell(s) and %d input cell(s) (rows without a relaxation) exported",
            sources["relaxed"], sources["input"],
        )  # fmt: skip
    logger.info("exported %d structure file(s) to %s", len(written), folder)
    return written
