"""Structure featurizers: density, symmetry and local coordination.

:class:`DensityFeaturesFast` and :class:`SymmetryFeatures` give the same
values as matminer's ``DensityFeatures`` and ``GlobalSymmetryFeatures``
(numeric features only), computed with less overhead: one spglib call per
structure and array arithmetic for densities.
:class:`CoordinationStatistics` is matscreen's own cheap local-environment
descriptor (cut-off neighbour counts), used instead of CrystalNN site
fingerprints, which cost ~0.1 s per structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core import Element

from matscreen.featurize.base import BatchFeaturizer

if TYPE_CHECKING:
    from pymatgen.core import Structure

CRYSTAL_SYSTEM_INT = {
    "triclinic": 7,
    "monoclinic": 6,
    "orthorhombic": 5,
    "tetragonal": 4,
    "trigonal": 3,
    "hexagonal": 2,
    "cubic": 1,
}  # fmt: skip  (matminer's numbering)
LAUE_GROUPS = {"-1", "2/m", "mmm", "4/m", "4/mmm", "-3", "-3m", "6/m", "6/mmm", "m-3", "m-3m"}


#: Last space-group number of each crystal system, in order.
_CRYSTAL_SYSTEM_BOUNDS = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"),
                          (142, "tetragonal"), (167, "trigonal"), (194, "hexagonal"),
                          (230, "cubic"))  # fmt: skip
#: Crystal systems from triclinic (0) to cubic (6).
CRYSTAL_SYSTEMS = tuple(name for _, name in _CRYSTAL_SYSTEM_BOUNDS)


def crystal_system(number: int) -> str:
    """Return the crystal system of a space-group number (1-230)."""
    for upper, name in _CRYSTAL_SYSTEM_BOUNDS:
        if number <= upper:
            return name
    raise ValueError(f"space-group number {number} outside 1-230")


def require_ordered(structure: Structure) -> Structure:
    """Return the structure to featurize: an ASE ``Atoms`` converted, the rest checked.

    Raises ``ValueError`` for a disordered or empty structure (``TypeError``
    for no structure).
    """
    from matscreen.core.io import is_ase_atoms, to_structure

    if is_ase_atoms(structure):
        structure = to_structure(structure)
    if not (hasattr(structure, "lattice") and hasattr(structure, "is_ordered")):
        raise TypeError(
            f"a structure featurizer needs a pymatgen Structure, not {type(structure).__name__}"
        )
    if len(structure) == 0:
        raise ValueError("structure has no sites")
    if not structure.is_ordered:
        raise ValueError("structure has partial occupancies; order it first")
    if not np.isfinite(structure.lattice.matrix).all() or structure.volume <= 1e-6:
        raise ValueError("lattice is not finite or has zero volume")
    return structure


@lru_cache(maxsize=1)
def _element_column(name: str) -> np.ndarray:
    import warnings

    out = np.full(119, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, 119):
            value = getattr(Element.from_Z(z), name)
            out[z] = float(value) if value is not None else np.nan
    return out


#: A cation whose nearest anion lies beyond the radius-sum cut-off (the 12-coordinate A-site Li
#: of a perovskite: Li-O 2.74 A against 1.25 x (0.76 + 1.40) = 2.70 A) still bonds to its first
#: shell: the anions within this factor of the nearest one.
FIRST_SHELL_FACTOR = 1.1


def bonded_pairs(
    centers: np.ndarray, dists: np.ndarray, candidate: np.ndarray, cutoff: np.ndarray
) -> np.ndarray:
    """Mask of neighbour pairs that are bonds: within the radius cut-off, or the first shell.

    Parameters
    ----------
    centers, dists
        Centre index and distance of each neighbour pair (``get_neighbor_list``).
    candidate
        Pairs that may bond (cation centre, anion neighbour).
    cutoff
        Radius-sum cut-off of each pair (A).

    Returns
    -------
    numpy.ndarray
        Boolean mask: candidate pairs within ``cutoff``; for a centre with
        none there, those within :data:`FIRST_SHELL_FACTOR` of its nearest
        candidate.
    """
    n = int(centers.max()) + 1 if centers.size else 0
    within = candidate & (dists <= cutoff)
    bonded_somewhere = np.zeros(n, dtype=bool)
    bonded_somewhere[centers[within]] = True
    nearest = np.full(n, np.inf)
    np.minimum.at(nearest, centers[candidate], dists[candidate])
    shell = (
        candidate & ~bonded_somewhere[centers] & (dists <= FIRST_SHELL_FACTOR * nearest[centers])
    )
    return within | shell


def atomic_numbers(structure: Structure) -> np.ndarray:
    """Return the atomic number of each site of an ordered structure."""
    return np.array([site.specie.Z for site in structure], dtype=np.int64)


class DensityFeaturesFast(BatchFeaturizer):
    """Density (g/cm³), volume per atom (Å³) and packing fraction (atomic radii).

    Same values and labels as matminer ``DensityFeatures``.
    """

    input_kind = "structure"

    def __init__(self, desired_features: Sequence[str] | None = None) -> None:
        self.desired_features = desired_features
        self.features = list(desired_features or ("density", "vpa", "packing fraction"))

    def feature_labels(self) -> list[str]:
        """Return the feature names."""
        return list(self.features)

    def featurize(self, s: Structure) -> list[float]:
        """Featurize one ordered structure."""
        s = require_ordered(s)
        z = atomic_numbers(s)
        volume = s.volume
        values = {
            "density": s.density,
            "vpa": volume / len(s),
            "packing fraction": 4
            * np.pi
            * np.sum(_element_column("atomic_radius")[z] ** 3)
            / (3 * volume),
        }
        return [float(values[f]) for f in self.features]


class SymmetryFeatures(BatchFeaturizer):
    """Space-group number, crystal system, centrosymmetry and number of operations.

    Numeric subset of matminer ``GlobalSymmetryFeatures`` with the same
    tolerances (``symprec=0.01``, ``angle_tolerance=5``) and labels.
    """

    input_kind = "structure"
    all_features = ("spacegroup_num", "crystal_system_int", "is_centrosymmetric", "n_symmetry_ops")

    def __init__(self, symprec: float = 0.01, angle_tolerance: float = 5.0) -> None:
        self.symprec = symprec
        self.angle_tolerance = angle_tolerance

    def feature_labels(self) -> list[str]:
        """Return the feature names."""
        return list(self.all_features)

    def featurize(self, s: Structure) -> list[float]:
        """Featurize one ordered structure."""
        import spglib

        s = require_ordered(s)
        cell = (s.lattice.matrix, s.frac_coords, atomic_numbers(s))
        data = spglib.get_symmetry_dataset(
            cell, symprec=self.symprec, angle_tolerance=self.angle_tolerance
        )
        if data is None:
            raise ValueError("spglib found no symmetry dataset")
        number = int(data.number)
        return [
            float(number),
            float(CRYSTAL_SYSTEM_INT[crystal_system(number)]),
            float(data.pointgroup.strip() in LAUE_GROUPS),
            float(len(data.rotations)),
        ]


class CoordinationStatistics(BatchFeaturizer):
    """Cut-off coordination numbers and bond lengths, cation-anion.

    A neighbour of a cation is an anion within ``tolerance`` times the sum of
    the two ions' Shannon-like radii (pymatgen ``average_ionic_radius``,
    falling back to atomic radii). Reports the mean, min and max cation
    coordination number, the mean cation-anion bond length (Å) and the mean
    bond-length distortion (std/mean within each polyhedron).

    A cation whose nearest anion lies beyond that cut-off bonds to its first
    shell instead (:func:`bonded_pairs`).

    Parameters
    ----------
    tolerance
        Multiplier on the sum of radii that defines a bond.
    """

    input_kind = "structure"
    #: Bumped when the values change for the same parameters (the feature cache key).
    version = 2

    def __init__(self, tolerance: float = 1.25) -> None:
        self.tolerance = tolerance

    def feature_labels(self) -> list[str]:
        """Return the feature names."""
        return ["cn_mean", "cn_min", "cn_max", "bond_length_mean", "bond_distortion_mean"]

    def featurize(self, s: Structure) -> list[float]:
        """Featurize one ordered structure."""
        s = require_ordered(s)
        z = atomic_numbers(s)
        anion = is_anion(z)
        if not anion.any() or anion.all():
            raise ValueError("needs both cations and anions (O, S, Se, N, F, Cl, Br, I, ...)")
        radius = ionic_radius_table()[z]
        r_cut = self.tolerance * (radius.max() * 2)
        centers, neighbors, _, dists = s.get_neighbor_list(r_cut)
        keep = bonded_pairs(
            centers, dists, (~anion[centers]) & anion[neighbors],
            self.tolerance * (radius[centers] + radius[neighbors]),
        )  # fmt: skip
        centers, dists = centers[keep], dists[keep]
        cation_idx = np.flatnonzero(~anion)
        cn = np.bincount(centers, minlength=len(s))[cation_idx]
        if dists.size == 0:
            raise ValueError("no cation-anion bonds found within the cut-off")
        sums = np.bincount(centers, weights=dists, minlength=len(s))
        sq = np.bincount(centers, weights=dists**2, minlength=len(s))
        counts = np.bincount(centers, minlength=len(s))
        ok = counts > 0
        mean_b = sums[ok] / counts[ok]
        std_b = np.sqrt(np.maximum(sq[ok] / counts[ok] - mean_b**2, 0.0))
        return [
            float(cn.mean()), float(cn.min()), float(cn.max()),
            float(dists.mean()), float(np.mean(std_b / mean_b)),
        ]  # fmt: skip


ANIONS = frozenset({"N", "O", "S", "Se", "Te", "F", "Cl", "Br", "I", "P", "H"})


@lru_cache(maxsize=1)
def _symbols_by_z() -> np.ndarray:
    """Element symbols indexed by atomic number minus one (built once, not per structure)."""
    return np.array([Element.from_Z(z).symbol for z in range(1, 119)])


def is_anion(z: np.ndarray) -> np.ndarray:
    """Return a mask of sites whose element is treated as an anion.

    P counts as an anion only in phosphides; in phosphates it is a cation.
    The caller passes atomic numbers; the rule is: an anion element is an
    anion unless oxygen (or another more electronegative anion) is present
    and the element is P, S, Se, N or H (then it is the centre of a
    polyanion, a cation in bond-valence terms).
    """
    symbols = _symbols_by_z()[z - 1]
    mask = np.isin(symbols, list(ANIONS))
    if np.isin(symbols, ["O", "F"]).any():
        mask &= ~np.isin(symbols, ["P", "S", "Se", "N", "H", "Te"])
    return mask


@lru_cache(maxsize=1)
def ionic_radius_table() -> np.ndarray:
    """Return a typical ionic radius (Å) per atomic number (index = Z).

    Anion-forming elements get the radius of their most negative state
    (Cl- 1.67 Å, O2- 1.26 Å); other elements the mean over their positive
    common oxidation states (pymatgen's Shannon data), falling back to the
    atomic radius where no ionic radius is tabulated.
    """
    import warnings

    out = np.full(119, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, 119):
            el = Element.from_Z(z)
            radii = {int(k): float(v) for k, v in el.ionic_radii.items() if float(k).is_integer()}
            neg = [k for k in radii if k < 0]
            pos = [radii[k] for k in el.common_oxidation_states if k > 0 and k in radii]
            if el.symbol in ANIONS and neg:
                r = radii[min(neg)]
            elif pos:
                r = float(np.mean(pos))
            elif radii:
                r = float(np.mean(list(radii.values())))
            else:
                r = float(el.atomic_radius or 1.0)
            out[z] = r
    return out
