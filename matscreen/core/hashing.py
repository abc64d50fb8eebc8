"""Stable content hashes for structures, compositions and configurations."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure


def structure_hash(structure: Structure, *, decimals: int = 4) -> str:
    """Return a hash of a structure that ignores site order.

    Parameters
    ----------
    structure
        An ordered or disordered pymatgen ``Structure``.
    decimals
        Rounding of lattice (Å) and fractional coordinates before hashing.

    Returns
    -------
    str
        A 20-character hexadecimal digest.
    """
    lattice = np.round(structure.lattice.matrix, decimals) + 0.0
    frac = np.mod(np.round(structure.frac_coords, decimals), 1.0)
    frac = np.round(frac, decimals) % 1.0 + 0.0
    sites = sorted(
        (site.species.formula, *(f"{x:.{decimals}f}" for x in coords))
        for site, coords in zip(structure, frac, strict=True)
    )
    payload = json.dumps({"lattice": lattice.tolist(), "sites": sites}, sort_keys=True)
    return hashlib.sha1(payload.encode()).hexdigest()[:20]


def config_hash(obj: Any) -> str:
    """Return a hash of a JSON-serializable configuration (key order ignored)."""
    payload = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:16]
