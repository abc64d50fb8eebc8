"""Order partial occupancies: smallest supercell, then the lowest-Ewald random ordering.

The approach follows pymatgen's ``OrderDisorderedStructureTransformation`` in
spirit (Ewald energy as the ranking criterion) but is much cheaper: the Ewald
sum of a cell is a quadratic form of the site charges, so the unit-charge
Ewald matrix ``M`` of a supercell is computed once (and cached) and every
trial ordering costs one ``q @ M @ q``. Trial orderings are random
permutations drawn from a seeded generator, so the result is reproducible.
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from matscreen.candidates.oxidation import VACANCY

if TYPE_CHECKING:
    from pymatgen.core import Structure

LOG = logging.getLogger(__name__)

#: Label of the Li interstitial sublattice in an occupancy map.
INTERSTITIAL = "Li_interstitial"

__all__ = [
    "INTERSTITIAL",
    "OrderingError",
    "choose_supercell",
    "host_cell",
    "order_occupancy",
    "supercell_multiplier",
]


class OrderingError(ValueError):
    """A partial occupancy that cannot be ordered within the limits."""


@functools.lru_cache(maxsize=32)
def host_cell(prototype: str) -> tuple[Structure, tuple[str, ...]]:
    """Return the primitive cell of a prototype with its interstitial sites, and site labels.

    Interstitial positions are carried as dummy ``X`` sites so that the
    primitive reduction keeps them; the labels are the host element of each
    site, or :data:`INTERSTITIAL`.
    """
    from pymatgen.core import DummySpecies

    from matscreen.candidates.prototypes import load_prototype, prototype_interstitials

    structure = load_prototype(prototype)
    for frac in prototype_interstitials(prototype):
        structure.append(DummySpecies("X"), frac)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prim = structure.get_primitive_structure(tolerance=0.05)
    labels = tuple(
        INTERSTITIAL if site.specie.symbol.startswith("X") else site.specie.symbol for site in prim
    )
    return prim, labels


def supercell_multiplier(counts: dict[str, int], occupancy: dict[str, dict[str, Fraction]]) -> int:
    """Smallest k such that every sublattice gets an integral number of each species.

    Parameters
    ----------
    counts
        Number of sites of each sublattice in the primitive cell.
    occupancy
        Site fractions per sublattice (exact ``Fraction`` values).
    """
    k = 1
    for label, fractions in occupancy.items():
        for frac in fractions.values():
            amount = Fraction(frac) * counts[label]
            k = math.lcm(k, amount.denominator)
    return k


def choose_supercell(lattice_abc: tuple[float, float, float], k: int) -> tuple[int, int, int]:
    """Choose diagonal multipliers with product ``k`` giving the most isotropic supercell."""
    best: tuple[float, tuple[int, int, int]] | None = None
    for k1 in range(1, k + 1):
        if k % k1:
            continue
        for k2 in range(1, k // k1 + 1):
            if (k // k1) % k2:
                continue
            k3 = k // (k1 * k2)
            lengths = [lattice_abc[0] * k1, lattice_abc[1] * k2, lattice_abc[2] * k3]
            score = max(lengths) / min(lengths)
            if best is None or score < best[0] - 1e-9:
                best = (score, (k1, k2, k3))
    assert best is not None
    return best[1]


@functools.lru_cache(maxsize=64)
def _ewald_matrix(prototype: str, scaling: tuple[int, int, int]) -> np.ndarray:
    """Unit-charge Ewald matrix of the supercell of a prototype host cell (eV)."""
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.core import Species, Structure

    prim, _ = host_cell(prototype)
    sup = Structure(prim.lattice, [Species("Li", 1)] * len(prim), prim.frac_coords)
    sup.make_supercell(list(scaling))  # same site order as in order_occupancy
    return np.asarray(EwaldSummation(sup).total_energy_matrix)


def order_occupancy(
    prototype: str,
    occupancy: dict[str, dict[str, Fraction]],
    charges: dict[str, float],
    *,
    max_atoms: int,
    n_orderings: int,
    rng: np.random.Generator,
) -> tuple[Structure, tuple[int, int, int], float | None]:
    """Build an ordered supercell realising the site fractions of ``occupancy``.

    Parameters
    ----------
    prototype
        Prototype name; its primitive host cell is used.
    occupancy
        ``{sublattice label: {species: site fraction}}`` for every label of the
        host cell (vacancies as ``"Vac"``).
    charges
        Oxidation state per species, for the Ewald ranking.
    max_atoms
        Largest allowed number of atoms in the ordered cell.
    n_orderings
        Random orderings tried; the lowest Ewald energy wins.
    rng
        Seeded generator.

    Returns
    -------
    structure, scaling, ewald_energy
        The ordered structure (unscaled prototype geometry), the diagonal
        supercell multipliers, and the Ewald energy in eV (None when nothing
        needed ordering).

    Raises
    ------
    OrderingError
        If the occupancy needs a supercell beyond ``max_atoms``.
    """
    from pymatgen.core import Structure

    prim, labels = host_cell(prototype)
    counts = {label: labels.count(label) for label in dict.fromkeys(labels)}
    k = supercell_multiplier(counts, occupancy)
    n_atoms = k * sum(
        float(sum(f for sp, f in occupancy[label].items() if sp != VACANCY)) * counts[label]
        for label in counts
    )
    if n_atoms > max_atoms + 1e-9:
        raise OrderingError(
            f"site fractions need a {k}x supercell of the {len(prim)}-site primitive cell "
            f"({n_atoms:.0f} atoms), above max_atoms={max_atoms}"
        )
    scaling = choose_supercell(prim.lattice.abc, k)
    sup = Structure(
        prim.lattice, ["H"] * len(prim), prim.frac_coords, site_properties={"label": list(labels)}
    )
    sup.make_supercell(list(scaling))
    sup_labels = list(sup.site_properties["label"])
    # species pools per sublattice
    pools: dict[str, list[str]] = {}
    indices: dict[str, np.ndarray] = {}
    for label in counts:
        idx = np.array([i for i, lab in enumerate(sup_labels) if lab == label])
        pool: list[str] = []
        for species, frac in sorted(occupancy[label].items()):
            pool += [species] * int(Fraction(frac) * len(idx))
        if len(pool) != len(idx):
            raise OrderingError(f"sublattice {label}: fractions {occupancy[label]} do not sum to 1")
        pools[label] = pool
        indices[label] = idx
    mixed = [label for label in pools if len(set(pools[label])) > 1]
    assignment = np.empty(len(sup), dtype=object)
    for label, idx in indices.items():
        assignment[idx] = pools[label]
    energy: float | None = None
    if mixed:
        matrix = _ewald_matrix(prototype, scaling)
        best_q: float | None = None
        best_assign = assignment.copy()
        for _ in range(n_orderings):
            trial = assignment.copy()
            for label in mixed:
                trial[indices[label]] = rng.permutation(np.array(pools[label], dtype=object))
            q = np.array([charges.get(sp, 0.0) for sp in trial])
            e = float(q @ matrix @ q)
            if best_q is None or e < best_q - 1e-9:
                best_q, best_assign = e, trial
        assignment, energy = best_assign, best_q
    keep = [i for i, sp in enumerate(assignment) if sp != VACANCY]
    ordered = Structure(sup.lattice, [assignment[i] for i in keep], sup.frac_coords[keep])
    return ordered.get_sorted_structure(), scaling, energy
