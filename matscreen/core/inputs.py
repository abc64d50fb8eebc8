"""Read the inputs of ``matscreen predict``: a CSV, a CIF file, or a folder of CIFs.

A CSV has a ``formula`` column and optionally ``cif`` (a path relative to the
CSV's folder); for voltages ``formula_charge``/``formula_discharge`` and
optionally ``cif_charge``/``cif_discharge``. Extra columns pass through.
Structures are read per row: a missing, unreadable or escaping CIF marks that
row failed with the reason and never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from matscreen.core.errors import MatscreenInputError

if TYPE_CHECKING:
    import pandas as pd
    from pymatgen.core import Structure

logger = logging.getLogger(__name__)

MAX_CIF_BYTES = 20_000_000
MAX_SITES = 2000


def _decode_cif_text(name: str, raw: bytes) -> str:
    """Decode CIF bytes as UTF-8 (Latin-1 fallback); refuse UTF-16/32 and binary data."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"{name}: UTF-16/32 encoded text; save the CIF as ASCII or UTF-8")
    if b"\x00" in raw:
        raise ValueError(f"{name}: binary data, not a CIF text file")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _precheck_cif_block(name: str, text: str) -> None:
    """Cheap checks on the raw CIF data before pymatgen builds the structure.

    Rejects a lattice that is not finite or has no volume, and a cell listing
    more atom sites than :data:`MAX_SITES`, with a clear message and without
    the (slow, for large cells) full structure parse.
    """
    import math
    import warnings

    from pymatgen.io.cif import CifFile, str2float

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            blocks = list(CifFile.from_str(text).data.values())
    except ZeroDivisionError:
        raise ValueError(
            f"{name}: not a readable CIF (a loop has missing values; truncated file?)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - pymatgen raises many types
        raise ValueError(f"{name}: not a readable CIF ({type(exc).__name__}: {exc})") from None
    for block in blocks:
        data = block.data
        n_rows = max(
            (len(v) for k in ("_atom_site_fract_x", "_atom_site_cartn_x")
             if isinstance(v := data.get(k), list)),
            default=0,
        )  # fmt: skip
        if n_rows > MAX_SITES:
            raise ValueError(
                f"{name}: {n_rows} atom sites listed, more than the {MAX_SITES} supported"
            )
        keys = [f"_cell_length_{x}" for x in "abc"] + [f"_cell_angle_{x}" for x in
                                                         ("alpha", "beta", "gamma")]  # fmt: skip
        if not all(k in data for k in keys):
            continue
        try:
            values = [str2float(data[k]) for k in keys]
        except (ValueError, TypeError):
            raise ValueError(f"{name}: lattice parameters are not numbers") from None
        bad = [f"{k}={data[k]}" for k, v in zip(keys, values, strict=True)
               if not math.isfinite(v) or v <= 0]  # fmt: skip
        if bad:
            raise ValueError(f"{name}: lattice is not finite or has zero volume ({', '.join(bad)})")


def read_cif(path: str | Path, label: str | None = None) -> Structure:
    """Read one ordered-or-disordered structure from a CIF file with clear errors.

    Parameters
    ----------
    path
        The CIF file.
    label
        How messages name the file (default: its file name).

    Raises
    ------
    ValueError
        Naming the file and the problem (empty, not text, UTF-16, no
        structure, zero-volume or non-finite lattice, overlapping atoms,
        unknown element, too many sites).
    """
    import warnings

    import numpy as np
    from pymatgen.core import DummySpecies
    from pymatgen.io.cif import CifParser

    path = Path(path)
    name = label or path.name
    if not path.is_file():
        if path.exists():
            raise ValueError(f"{name}: not a regular file")
        raise ValueError(f"{name}: file not found")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{name}: empty file")
    if size > MAX_CIF_BYTES:
        raise ValueError(f"{name}: {size} bytes is larger than the {MAX_CIF_BYTES} limit")
    text = _decode_cif_text(name, path.read_bytes())
    _precheck_cif_block(name, text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structures = CifParser.from_str(text).parse_structures(primitive=False)
    except Exception as exc:  # noqa: BLE001 - pymatgen raises many types
        raise ValueError(f"{name}: not a readable CIF ({type(exc).__name__}: {exc})") from None
    if not structures:
        raise ValueError(f"{name}: no structure found in the CIF")
    s = structures[0]
    if not np.isfinite(s.lattice.matrix).all() or s.volume < 1e-3:
        raise ValueError(f"{name}: lattice is not finite or has zero volume")
    unknown = sorted({sp.symbol for sp in s.composition if isinstance(sp, DummySpecies)})
    if unknown:
        raise ValueError(f"{name}: unknown element(s) {', '.join(unknown)}")
    if len(s) > MAX_SITES:
        raise ValueError(f"{name}: {len(s)} sites is more than the {MAX_SITES} supported")
    if len(s) > 1:
        # split positions of a disordered site sit closer than this by design: a pair
        # clashes only when its occupancies add up to more than one atom
        i, j = np.triu_indices(len(s), 1)
        occupancy = np.array([site.species.num_atoms for site in s])
        d = s.distance_matrix[i, j]
        clash = (d < 0.5) & (occupancy[i] + occupancy[j] > 1.0 + 1e-3)
        if clash.any():
            gap = float(d[clash].min())
            shown = f"{gap:.2f}" if gap >= 0.01 else f"{gap:.1g}"  # not "0.00" for 0.004
            raise ValueError(f"{name}: overlapping atoms ({shown} Å apart)")
    return s


def _resolve_inside(base: Path, relative: str) -> Path:
    """Resolve a CIF path of a CSV; refuse one that leaves the CSV's folder.

    A table from elsewhere must not make the reader open files outside its
    folder (``../../etc/passwd``, absolute paths, symlinks leading out).
    """
    target = (base / relative).resolve()
    if not target.is_relative_to(base.resolve()):
        raise ValueError(
            f"cif path {relative!r} points outside the input folder (CIFs are read from the "
            "CSV's folder and below it: put them, or the CSV, there)"
        )
    return target


@dataclass
class PredictInput:
    """What :func:`read_predict_input` read.

    Attributes
    ----------
    table
        The rows as given, every column as text (for a CIF or a folder of
        CIFs: ``file`` and ``formula``, the reduced formula of the structure).
    structures
        Structures read from the CIF path columns, one list per model input
        column: ``structure`` (from ``cif``) or ``structure_<suffix>`` (from
        ``cif_<suffix>``); None where a row has no CIF or it could not be read.
    errors
        Per row, None or why the row cannot be predicted (an unreadable CIF).
    """

    table: pd.DataFrame
    structures: dict[str, list[Structure | None]]
    errors: list[str | None]


def read_predict_input(
    path: str | Path, *, structure_columns: tuple[str, ...] = ("cif",)
) -> PredictInput:
    """Read a CSV, a CIF, or a folder of CIFs for prediction.

    Parameters
    ----------
    path
        The input.
    structure_columns
        CSV columns holding CIF paths (relative to the CSV's folder and
        inside it; spaces around them are ignored); each ``<col>`` gives the
        structures named ``structure`` (for ``cif``) or ``structure_<suffix>``
        (for ``cif_<suffix>``).

    Returns
    -------
    PredictInput
        The rows as given, the structures and the per-row read errors.

    Raises
    ------
    MatscreenInputError
        If the path does not exist, the file type is unsupported, or a CSV
        lacks the needed column.
    """
    path = Path(path)
    if not path.exists():
        raise MatscreenInputError(f"{path}: no such file or folder")
    if path.is_dir():
        cifs = sorted(p for p in path.iterdir() if p.suffix.lower() == ".cif")
        below = [p.name for p in path.iterdir() if p.is_dir() and any(p.rglob("*.[cC][iI][fF]"))]
        if below:
            logger.warning(
                "%s: CIFs in its subfolder(s) %s are not read (only the folder's own .cif files)",
                path, ", ".join(sorted(below)),
            )  # fmt: skip
        if not cifs:
            raise MatscreenInputError(
                f"{path}: folder holds no .cif files"
                + (f" (subfolders with CIFs: {', '.join(sorted(below))})" if below else "")
            )
        return _cif_input([_cif_row(p, inside=path) for p in cifs])
    suffix = path.suffix.lower()
    if suffix == ".cif":
        return _cif_input([_cif_row(path)])
    if suffix != ".csv":
        raise MatscreenInputError(
            f"{path}: unsupported file type {suffix or '(none)'}; "
            "use .csv, .cif or a folder of CIFs"
        )
    table = _read_csv(path)
    errors: list[str | None] = [None] * len(table)
    structures: dict[str, list[Structure | None]] = {}
    for col in structure_columns:
        if col not in table.columns:
            continue
        name = "structure" if col == "cif" else "structure_" + col.removeprefix("cif_")
        values: list[Structure | None] = []
        for i, given in enumerate(table[col]):
            rel = given.strip()
            if not rel:
                values.append(None)
                continue
            try:
                values.append(read_cif(_resolve_inside(path.parent, rel), label=rel))
            except ValueError as exc:
                values.append(None)
                errors[i] = errors[i] or f"{col}: {exc}"
        structures[name] = values
    return PredictInput(table, structures, errors)


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV as text cells; refuse a row with more fields than the header."""
    import warnings

    import pandas as pd

    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise MatscreenInputError(f"{path}: UTF-16/32 encoded text; save the CSV as UTF-8")
    try:
        with warnings.catch_warnings():
            # index_col=False: pandas would otherwise turn the first column into the index
            # when the first data row has one field more than the header
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False
            )
    except pd.errors.EmptyDataError:
        raise MatscreenInputError(f"{path}: empty file, expected a CSV with a header") from None
    except pd.errors.ParserWarning:
        raise MatscreenInputError(
            f"{path}: a data row has more fields than the header "
            "(a comma inside a value? put such values in double quotes)"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MatscreenInputError(f"{path}: not a readable CSV ({exc})") from None
    if table.empty:
        raise MatscreenInputError(f"{path}: no data rows (only a header)")
    return table


def _cif_row(path: Path, inside: Path | None = None) -> tuple[str, Structure | None, str | None]:
    """Return ``(file name, structure, error)`` for one CIF of a folder or a CIF input."""
    try:
        if inside is not None and not path.resolve().is_relative_to(inside.resolve()):
            raise ValueError(f"{path.name}: symlink points outside the input folder")
        return path.name, read_cif(path), None
    except ValueError as exc:
        return path.name, None, str(exc)


def _cif_input(rows: list[tuple[str, Structure | None, str | None]]) -> PredictInput:
    import pandas as pd

    table = pd.DataFrame(
        {
            "file": [name for name, _, _ in rows],
            "formula": [s.composition.reduced_formula if s else "" for _, s, _ in rows],
        }
    )
    return PredictInput(table, {"structure": [s for _, s, _ in rows]}, [e for _, _, e in rows])
