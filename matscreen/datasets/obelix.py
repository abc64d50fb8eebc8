"""Loader for OBELiX, the experimental Li-ion conductivity dataset shipped in ``datasets/obelix``.

OBELiX (Therrien et al., arXiv:2502.14234, CC BY 4.0) gives the measured
room-temperature ionic conductivity of 599 synthesized solid electrolytes with
composition, space group and lattice parameters, split by its authors into 478
training and 121 test entries. 321 entries (254 train, 67 test) have a CIF in
``all_cifs.tar.gz``. Everything is read from the local copy; nothing is
downloaded.

Censored values
---------------
37 entries give the conductivity only as an upper bound (``"<1E-10"``: 36,
``"<1E-8"``: 1): the true conductivity is *at most* the bound. They are
flagged ``censored=True``, the bound is kept in ``log10_sigma_bound``
(-10 or -8), and ``log10_sigma`` is set to :data:`CENSORED_LOG10_SIGMA`
(-15), the placeholder the OBELiX authors use in their preprocessing and in
every benchmark they publish. Keeping their convention is what makes MAE
figures comparable with the paper (e.g. the median predictor scores 2.16 on
the test split with it, 1.83 with the bound instead). ``log10_sigma`` is
therefore exact for uncensored rows and a conventional value below the bound
for censored ones; a censoring-aware error for a prediction ``p`` of a
censored row is ``max(0, p - log10_sigma_bound)``.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import tarfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pymatgen.core import Structure

logger = logging.getLogger(__name__)

#: ``log10_sigma`` given to censored rows (OBELiX's own convention).
CENSORED_LOG10_SIGMA: float = -15.0
#: Number of rows per split.
SPLIT_SIZES: dict[str, int] = {"train": 478, "test": 121, "all": 599}
LATTICE_COLUMNS: tuple[str, ...] = ("a", "b", "c", "alpha", "beta", "gamma")
_CONDUCTIVITY_COLUMN = "Ionic conductivity (S cm-1)"
_CACHE_VERSION = 1


def obelix_dir() -> Path:
    """Return the folder holding the OBELiX files (``datasets/obelix``)."""
    from matscreen.core.paths import datasets_dir

    path = datasets_dir() / "obelix"
    if not (path / "all.csv").is_file():
        raise FileNotFoundError(f"OBELiX files not found in {path}")
    return path


def parse_conductivity(value: object) -> tuple[float, bool, float]:
    """Parse one OBELiX conductivity cell.

    Parameters
    ----------
    value
        A number (S/cm) or a string such as ``"1.2e-4"`` or ``"<1E-10"``.

    Returns
    -------
    log10_sigma, censored, log10_bound
        ``log10_sigma`` is the log10 conductivity, or
        :data:`CENSORED_LOG10_SIGMA` for an upper bound; ``log10_bound`` is
        the bound (NaN when not censored).

    Raises
    ------
    ValueError
        If the cell is neither a positive number nor ``"<number"``.

    Examples
    --------
    >>> parse_conductivity("<1E-10")
    (-15.0, True, -10.0)
    >>> parse_conductivity("1e-3")
    (-3.0, False, nan)
    """
    text = str(value).strip()
    if text.startswith("<"):
        bound = float(text[1:])
        if bound <= 0:
            raise ValueError(f"non-positive conductivity bound {value!r}")
        return CENSORED_LOG10_SIGMA, True, float(np.log10(bound))
    sigma = float(text)
    if not sigma > 0:
        raise ValueError(f"non-positive conductivity {value!r}")
    return float(np.log10(sigma)), False, float("nan")


def load_obelix(
    split: Literal["train", "test", "all"] = "train", *, structures: bool = True
) -> pd.DataFrame:
    """Load an OBELiX split as a tidy table.

    Parameters
    ----------
    split
        ``"train"`` (478 rows), ``"test"`` (121) or ``"all"`` (599), the
        authors' official split.
    structures
        Parse the CIFs into pymatgen ``Structure`` objects (about 5 s the
        first time, then cached in memory and on disk under the matscreen
        cache folder). With ``False`` the ``structure`` column is all None.

    Returns
    -------
    pandas.DataFrame
        One row per entry, in file order, with columns

        - ``id``: the OBELiX ID (3 characters).
        - ``formula``: the formula unit, the cell content (``True
          Composition``) divided by ``Z``, as a pymatgen formula string
          without spaces (``"Li7Bi1O6"``). The ``Reduced Composition`` column
          is not used for it: one of its strings does not parse and one
          disagrees with the cell content.
        - ``reduced_composition``: the authors' reduced formula, as given.
        - ``cell_formula``: the content of the unit cell (``True Composition``).
        - ``Z``: formula units per cell.
        - ``log10_sigma``: log10 of the room-temperature ionic conductivity in
          S/cm; :data:`CENSORED_LOG10_SIGMA` (-15) for censored rows.
        - ``censored``: True where the paper reports only an upper bound
          (``"<1E-10"``): the true value is at most ``10**log10_sigma_bound``.
        - ``log10_sigma_bound``: that bound in log10 S/cm (NaN otherwise).
        - ``space_group_number``, ``space_group`` (Hermann-Mauguin symbol).
        - ``a``, ``b``, ``c`` (Angstrom), ``alpha``, ``beta``, ``gamma``
          (degrees): the reported cell.
        - ``family``: the structural family as labelled by the authors
          (``"garnet"``, ``"NASICON"``, ...).
        - ``doi``: the source publication.
        - ``has_cif``: whether ``all_cifs.tar.gz`` holds ``<id>.cif``.
        - ``structure``: the parsed CIF (possibly partially occupied) or None.

    Examples
    --------
    >>> df = load_obelix("test", structures=False)
    >>> len(df), int(df["has_cif"].sum())
    (121, 67)
    """
    import pandas as pd

    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be one of {sorted(SPLIT_SIZES)}, got {split!r}")
    raw = pd.read_csv(obelix_dir() / f"{split}.csv", dtype={"ID": str})
    df = tidy_obelix_table(raw)
    if structures:
        parsed_structures = obelix_structures()
        df["structure"] = [parsed_structures.get(i) for i in df["id"]]
    return df


#: Columns of the OBELiX CSV files that :func:`tidy_obelix_table` reads.
OBELIX_COLUMNS: tuple[str, ...] = (
    "ID", "Reduced Composition", "True Composition", "Z", "Ionic conductivity (S cm-1)",
    "Space group", "Space group #", "a", "b", "c", "alpha", "beta", "gamma", "Family", "DOI",
)  # fmt: skip


def tidy_obelix_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Turn a table in the OBELiX CSV layout into the tidy columns of :func:`load_obelix`.

    ``structure`` is None for every row (the CIFs are looked up by
    :func:`load_obelix`, not here).
    """
    import pandas as pd
    from pymatgen.core import Composition

    parsed = [parse_conductivity(v) for v in raw[_CONDUCTIVITY_COLUMN]]
    formulas, cells = [], []
    for true_comp, z in zip(raw["True Composition"], raw["Z"], strict=True):
        cell = Composition(true_comp)
        cells.append(cell.formula.replace(" ", ""))
        formulas.append((cell / float(z)).formula.replace(" ", ""))
    cif_ids = cif_members()
    df = pd.DataFrame(
        {
            "id": raw["ID"].astype(str),
            "formula": formulas,
            "reduced_composition": raw["Reduced Composition"],
            "cell_formula": cells,
            "Z": raw["Z"].astype(int),
            "log10_sigma": [p[0] for p in parsed],
            "censored": [p[1] for p in parsed],
            "log10_sigma_bound": [p[2] for p in parsed],
            "space_group_number": raw["Space group #"].astype(int),
            "space_group": raw["Space group"],
            **{col: raw[col].astype(float) for col in LATTICE_COLUMNS},
            "family": raw["Family"],
            "doi": raw["DOI"],
        }
    )
    df["has_cif"] = df["id"].isin(cif_ids)
    df["structure"] = None
    return df


@lru_cache(maxsize=1)
def cif_members() -> frozenset[str]:
    """Return the IDs that have a CIF in ``all_cifs.tar.gz``."""
    with tarfile.open(obelix_dir() / "all_cifs.tar.gz") as tar:
        return frozenset(
            Path(m.name).stem for m in tar.getmembers() if m.isfile() and m.name.endswith(".cif")
        )


def obelix_structures() -> dict[str, Structure]:
    """Return ``{id: Structure}`` for every CIF in ``all_cifs.tar.gz``.

    The tarball is read directly (never unpacked to disk). Parsed structures
    are cached in memory for the process and pickled under the matscreen cache
    folder, keyed by the tarball's SHA-256 and the pymatgen version, so later
    processes load them in well under a second. A CIF that pymatgen cannot
    parse is logged and left out.
    """
    path = obelix_dir() / "all_cifs.tar.gz"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return _structures_for(str(path), digest)


@lru_cache(maxsize=2)
def _structures_for(path: str, digest: str) -> dict[str, Structure]:
    import pymatgen.core

    cache_file = _cache_file(f"obelix_structures_{digest}_pmg{pymatgen.core.__version__}.pkl")
    if cache_file is not None and cache_file.is_file():
        try:
            with cache_file.open("rb") as fh:
                payload = pickle.load(fh)  # noqa: S301 - our own cache file
            if payload.get("version") == _CACHE_VERSION:
                return payload["structures"]
        except Exception as exc:  # noqa: BLE001 - a bad cache is rebuilt
            logger.warning("ignoring unreadable structure cache %s: %s", cache_file, exc)
    structures = _parse_tarball(Path(path))
    if cache_file is not None:
        try:
            from matscreen.core.io import atomic_write_bytes

            atomic_write_bytes(
                cache_file, pickle.dumps({"version": _CACHE_VERSION, "structures": structures})
            )
        except Exception as exc:  # noqa: BLE001 - caching is best effort
            logger.info("could not write structure cache %s: %s", cache_file, exc)
    return structures


def _parse_tarball(path: Path) -> dict[str, Structure]:
    from pymatgen.io.cif import CifParser

    structures: dict[str, Structure] = {}
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if not (member.isfile() and member.name.endswith(".cif")):
                continue
            entry_id = Path(member.name).stem
            handle = tar.extractfile(member)
            if handle is None:  # pragma: no cover - isfile() above
                continue
            text = handle.read().decode("utf-8", errors="replace")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    structures[entry_id] = CifParser.from_str(text).parse_structures(
                        primitive=False
                    )[0]
            except Exception as exc:  # noqa: BLE001 - one bad CIF costs one entry
                logger.warning("OBELiX CIF %s could not be parsed: %s", entry_id, exc)
    logger.info("parsed %d OBELiX CIFs from %s", len(structures), path.name)
    return structures


def _cache_file(name: str) -> Path | None:
    try:
        from matscreen.core.settings import get_settings

        return get_settings().cache_dir() / "datasets" / name
    except Exception as exc:  # noqa: BLE001 - no writable cache: parse every time
        logger.info("no matscreen cache folder (%s); structures are not cached on disk", exc)
        return None
