"""Loader for the literature DFT-NEB migration barriers shipped in ``datasets/migration_barriers``.

The dataset (the 5-image set of github.com/sai-mat-group/predicting-migration-barriers,
MIT; compiled from many original papers by Devi, Balasubramanian, Butler and Sai
Gautam, arXiv:2508.06459) holds nudged-elastic-band migration barriers of Li, Na,
Mg, ... ions: 559 entries in its TRAIN file and 60 in its TEST file. Each entry is
one hop in one host: a supercell whose first five sites are the migrating ion's
path, linearly interpolated from its start site (image 1) to its end site (image 5),
superimposed on the rest of the (NEB) cell.

The loader rebuilds a host cell per entry: the other sites plus the migrating ion
on both ends of its path. For a single-vacancy hop (N-2 stationary ions and the
migrating one) that restores the N ions of the perfect crystal; a divacancy or
multi-hop entry rebuilds to N-1, and a single ion in an empty host (the dilute
limit) to two ions where the calculation had one, so ``path_start`` (the ion on its
start site only) is returned too. The framework is the NEB cell's, relaxed around
the defect.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: The dataset's files by split: entries with the path images superimposed (JARVIS format).
STRUCTURES_FILES = {
    "train": "RAW-Em-5-images-TRAIN.json.gz",
    "test": "RAW-Em-5-images-TEST.json.gz",
}
#: Number of path images at the start of each entry's site list.
N_IMAGES = 5


def migration_barriers_dir() -> Path:
    """Return the folder holding the migration-barrier files."""
    from matscreen.core.paths import datasets_dir

    path = datasets_dir() / "migration_barriers"
    if not all((path / name).is_file() for name in STRUCTURES_FILES.values()):
        raise FileNotFoundError(f"migration-barrier files not found in {path}")
    return path


def load_migration_barriers(
    ion: str = "Li", split: Literal["train", "test", "all"] = "all"
) -> pd.DataFrame:
    """Return the DFT-NEB barriers of one migrating ion with their host structures.

    Parameters
    ----------
    ion
        Chemical symbol of the migrating ion ("Li": 154 hops in the train file,
        21 in the test file).
    split
        The upstream file(s) to read; nothing here is trained on them, so a
        comparison uses ``"all"``.

    Returns
    -------
    pandas.DataFrame
        One row per hop: ``sys_name`` (the dataset's name for the hop),
        ``host_name`` (``sys_name`` without its path number: the hops of one
        host share it), ``family`` (its structural class: OLIVINE, LAYERED, ELECTROLYTES, ...),
        ``barrier`` (eV), ``hop_length`` (A, start to end site), ``host``
        (pymatgen ``Structure``: the supercell with the ion on both ends of the
        path), ``path_start`` (the ion on its start site only), ``formula``
        (the reduced formula of ``host``) and ``split`` (the file it came from).

    Raises
    ------
    ValueError
        If no entry has ``ion`` as its migrating species, or ``split`` is unknown.
    """
    import pandas as pd
    from pymatgen.core import Lattice, Structure

    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    raw = []
    for name, filename in STRUCTURES_FILES.items():
        if split in (name, "all"):
            with gzip.open(migration_barriers_dir() / filename, "rt") as fh:
                raw += [{**entry, "split": name} for entry in json.load(fh)]
    rows = []
    for entry in raw:
        atoms = entry["atoms"]
        if atoms["elements"][0] != ion:
            continue
        cell = Structure(
            Lattice(atoms["lattice_mat"]),
            atoms["elements"],
            atoms["coords"],
            coords_are_cartesian=bool(atoms["cartesian"]),
        )
        rest = [cell[i] for i in range(N_IMAGES, len(cell))]
        host = Structure.from_sites([cell[0], cell[N_IMAGES - 1], *rest])
        rows.append(
            {
                "sys_name": entry["sys_name"],
                "host_name": re.sub(r"_\d+$", "", entry["sys_name"]),
                "family": entry["class"],
                "barrier": float(entry["target"]),
                "hop_length": float(sum(cell.get_distance(i, i + 1) for i in range(N_IMAGES - 1))),
                "host": host,
                "path_start": Structure.from_sites([cell[0], *rest]),
                "formula": host.composition.reduced_formula,
                "split": entry["split"],
            }
        )
    if not rows:
        raise ValueError(f"no migration barrier of {ion!r} in the dataset")
    out = pd.DataFrame(rows)
    out["barrier"] = out["barrier"].astype(np.float64)
    return out
