"""Order partial occupancies: smallest supercell, then the lowest-Ewald random ordering.

The approach follows pymatgen's ``OrderDisorderedStructureTransformation`` in
spirit (Ewald energy as the ranking criterion) but is much cheaper: the Ewald
sum of a cell is a quadratic form of the site charges, so the unit-charge
Ewald matrix ``M`` of a supercell is computed once (and cached) and every
trial ordering costs one ``q @ M @ q``. Trial orderings are random
permutations drawn from a seeded generator, so the result is reproducible.

Two entry points: :func:`order_occupancy` for the prototype cells of a
candidate space (exact fractions, best of random orderings), and
:func:`order_structure` for any structure with partial occupancies, e.g. a
CIF of a real electrolyte (sublattices found from the sites, near-integral
counts, random starts refined by greedy pairwise swaps on the same
quadratic form).
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.candidates.oxidation import VACANCY

if TYPE_CHECKING:
    from pymatgen.core import Lattice, Structure

LOG = logging.getLogger(__name__)

#: Label of the Li interstitial sublattice in an occupancy map.
INTERSTITIAL = "Li_interstitial"

__all__ = [
    "INTERSTITIAL",
    "OrderedStructure",
    "OrderingError",
    "choose_supercell",
    "host_cell",
    "order_occupancy",
    "order_structure",
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


def _unit_charge_ewald_matrix(structure: Structure) -> np.ndarray:
    """Ewald matrix (eV) of a cell's sites, each carrying charge +1: ``E = q @ M @ q``."""
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.core import Species, Structure

    unit = Structure(structure.lattice, [Species("Li", 1)] * len(structure), structure.frac_coords)
    return np.asarray(EwaldSummation(unit).total_energy_matrix)


@functools.lru_cache(maxsize=64)
def _ewald_matrix(prototype: str, scaling: tuple[int, int, int]) -> np.ndarray:
    """Unit-charge Ewald matrix of the supercell of a prototype host cell (eV)."""
    prim, _ = host_cell(prototype)
    sup = prim.copy()
    sup.make_supercell(list(scaling))  # same site order as in order_occupancy
    return _unit_charge_ewald_matrix(sup)


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


# -- ordering arbitrary structures (CIFs with partial occupancies) -------------------------
#: Site occupancies closer than this are treated as equal when grouping sublattices.
OCCUPANCY_DECIMALS = 3
#: Largest composition error (fraction of the atoms) accepted for the smallest supercell;
#: refined occupancies are rarely exact (Li3InCl6: In 2.03 per cell for 2).
COMPOSITION_TOLERANCE = 0.01
#: A contact shorter than this fraction of the two atomic radii summed (Li-O 1.43 A, Li-S
#: 1.71 A, Li-Li 2.03 A, H-N 0.63 A) that involves an atom placed on a partly vacant site
#: makes the ordering note warn: split positions filled together, or a position the CIF only
#: partly fills next to a neighbour. Contacts among sites without vacancies are the CIF's own
#: geometry (LiTa2PO8's P-O 1.45 A) and are not reported.
SHORT_CONTACT_FRACTION = 0.7
#: Longest-to-shortest edge ratio of an ordering supercell (or the input cell's own, if
#: larger) that the smallest supercell on the composition may have; a needle (a 1 %
#: dopant's 51-fold cell as 1 x 3 x 17) gives way to the next multiplier that is not one.
MAX_SUPERCELL_ASPECT = 2.5
#: Partially occupied sites closer than this (A) are not filled together where the counts
#: allow it: split positions of one atom, or a site and the nearby split position of the
#: next one (garnet Li 24d and 96h, 1.6-1.7 A apart; ordered garnets keep Li-Li >= 2.3 A).
EXCLUSION_DISTANCE = 1.9
#: Energy (eV per e^2 of the two charges) added to the Ewald form for each such pair filled
#: together; large enough that the swaps empty one of the two first (the point-charge Ewald
#: term alone, ~9 eV for two Li+ at 1.6 A, loses to the long-range terms of big cells).
EXCLUSION_PENALTY = 100.0


@dataclass(frozen=True)
class OrderedStructure:
    """An ordered approximant of a structure with partial occupancies.

    Attributes
    ----------
    structure
        The ordered cell (elements, no oxidation states), sorted by element.
    scaling
        Diagonal supercell multipliers applied to the input cell.
    composition_error
        Sum over elements of |ordered - exact| atoms per input cell (0 when the
        occupancies are exactly realised).
    ewald_energy
        Ewald energy of the chosen ordering (eV; None when the charges are unknown).
    note
        One line saying what was done, for result tables.
    """

    structure: Structure
    scaling: tuple[int, int, int]
    composition_error: float
    ewald_energy: float | None
    note: str


def _sublattices(structure: Structure) -> tuple[list[tuple[tuple[str, float], ...]], np.ndarray]:
    """Group sites by their (element, occupancy) set; return the sets and each site's index."""
    keys: list[tuple[tuple[str, float], ...]] = []
    site_key = np.empty(len(structure), dtype=int)
    for i, site in enumerate(structure):
        amounts: dict[str, float] = {}
        for sp, occ in site.species.items():
            symbol = sp.symbol if hasattr(sp, "symbol") else str(sp)
            amounts[symbol] = amounts.get(symbol, 0.0) + float(occ)
        vac = 1.0 - sum(amounts.values())
        if vac > 10 ** (-OCCUPANCY_DECIMALS):
            amounts[VACANCY] = vac
        key = tuple(sorted((s, round(a, OCCUPANCY_DECIMALS)) for s, a in amounts.items()))
        if key not in keys:
            keys.append(key)
        site_key[i] = keys.index(key)
    return keys, site_key


def _round_counts(fractions: tuple[tuple[str, float], ...], n_sites: int) -> dict[str, int]:
    """Largest-remainder rounding of ``fraction * n_sites``; the counts sum to ``n_sites``."""
    total = sum(f for _, f in fractions)
    exact = {s: f / total * n_sites for s, f in fractions}
    counts = {s: math.floor(x + 1e-9) for s, x in exact.items()}
    order = sorted(exact, key=lambda s: (-(exact[s] - counts[s]), s))
    for s in order[: n_sites - sum(counts.values())]:
        counts[s] += 1
    return counts


def _aspect(lattice: Lattice, scaling: tuple[int, int, int] = (1, 1, 1)) -> float:
    """Return the longest-to-shortest edge ratio of a diagonal supercell's Niggli cell.

    The reduced cell's shortest edge is the shortest repeat of the supercell,
    whatever basis the input cell was written in (a skewed basis hides a
    needle behind long edges).
    """
    from pymatgen.core import Lattice as PmgLattice  # at run time; typing-only above

    supercell = PmgLattice(lattice.matrix * np.asarray(scaling, dtype=float)[:, None])
    lengths = supercell.get_niggli_reduced_lattice().abc
    return max(lengths) / min(lengths)


def _plan(
    keys: list[tuple[tuple[str, float], ...]],
    sizes: list[int],
    charges: dict[str, float],
    max_sites: int,
    lattice: Lattice | None = None,
) -> tuple[int, list[dict[str, int]], float, float]:
    """Choose the supercell multiplier and the species counts of every sublattice.

    With integral ``charges`` the charge of a k-fold supercell should be the
    CIF's charge per cell times k, rounded: 0 for a CIF that is neutral up to
    refinement noise, the dopant's uncompensated charge for a doped CIF
    written without its compensating defects (its composition is kept). A
    rounding charge off that target is taken up by Li on a sublattice with
    vacancies. The smallest multiplier whose counts are on target and within
    :data:`COMPOSITION_TOLERANCE` of the exact composition wins, provided
    (with ``lattice``, the input cell's) its most isotropic diagonal
    supercell is not a needle or a plate (:func:`_aspect` above
    :data:`MAX_SUPERCELL_ASPECT`; if every such multiplier up to
    ``max_sites`` is one, the smallest); otherwise the on-target plan with
    the smallest composition error, else the plan with the smallest error
    (the shape is not checked for these fallbacks). With an averaged (non-integral) mixed
    valence the charge is not a property of the counts and only the error
    counts.

    Returns
    -------
    k, counts, error, net_charge
        Multiplier, ``{species: count}`` per sublattice, composition error in
        atoms per input cell (summed over elements) and the supercell's charge.
    """
    exact: dict[str, float] = {}
    for key, size in zip(keys, sizes, strict=True):
        for s, f in key:
            if s != VACANCY:
                exact[s] = exact.get(s, 0.0) + f * size
    n_atoms = sum(exact.values())
    integral = all(float(charges.get(s, 0.0)).is_integer() for s in exact)
    cell_charge = sum(charges.get(s, 0.0) * x for s, x in exact.items())

    def charge(counts: list[dict[str, int]]) -> float:
        return sum(charges.get(s, 0.0) * n for c in counts for s, n in c.items() if s != VACANCY)

    best: tuple[tuple[bool, float], int, list[dict[str, int]], float, float] | None = None
    needle: tuple[int, list[dict[str, int]], float, float] | None = None
    max_aspect = MAX_SUPERCELL_ASPECT
    if lattice is not None:
        max_aspect = max(max_aspect, _aspect(lattice))
    for k in range(1, max(1, max_sites // sum(sizes)) + 1):
        counts = [_round_counts(key, size * k) for key, size in zip(keys, sizes, strict=True)]
        target = round(k * cell_charge)
        if integral and abs(charge(counts) - target) > 1e-6 and charges.get("Li", 0.0) == 1.0:
            _balance_with_li(counts, charge(counts) - target)
        net = charge(counts)
        totals: dict[str, int] = {}
        for c in counts:
            for s, n in c.items():
                totals[s] = totals.get(s, 0) + n
        error = sum(abs(totals.get(s, 0) / k - x) for s, x in exact.items())
        on_target = not integral or abs(net - target) <= 1e-6
        if on_target and error <= COMPOSITION_TOLERANCE * n_atoms:
            if lattice is None:
                return k, counts, error, net
            if _aspect(lattice, choose_supercell(lattice.abc, k)) <= max_aspect + 1e-9:
                return k, counts, error, net
            needle = needle or (k, counts, error, net)
        score = (not on_target, error)
        if best is None or score < best[0]:
            best = (score, k, counts, error, net)
    if needle is not None:
        return needle
    assert best is not None
    return best[1], best[2], best[3], best[4]


def _balance_with_li(counts: list[dict[str, int]], net: float) -> None:
    """Add (net < 0) or remove (net > 0) Li on Li/vacancy sublattices to cancel ``net``."""
    n = round(-net)
    if abs(n + net) > 1e-6:
        return
    for c in counts:
        if "Li" not in c or VACANCY not in c:
            continue
        move = min(n, c[VACANCY]) if n > 0 else max(n, -c["Li"])
        c["Li"] += move
        c[VACANCY] -= move
        n -= move
        if n == 0:
            return


def _structure_charges(structure: Structure) -> dict[str, float]:
    """Oxidation state per element: from the CIF's species when given, else balanced guesses."""
    from matscreen.candidates.oxidation import average_oxidation_states, nominal_oxidation_state

    given: dict[str, float] = {}
    for site in structure:
        for sp in site.species:
            state = getattr(sp, "oxi_state", None)
            if state is not None and hasattr(sp, "symbol"):
                given[sp.symbol] = float(state)
    amounts = {el.symbol: float(a) for el, a in structure.composition.element_composition.items()}
    if set(given) >= set(amounts):
        return given
    try:
        return average_oxidation_states(amounts)
    except ValueError:
        charges: dict[str, float] = {}
        for symbol in amounts:
            try:
                charges[symbol] = float(nominal_oxidation_state(symbol))
            except ValueError:
                charges[symbol] = 0.0
        return charges


def _exclusion_matrix(
    structure: Structure,
    site_key: np.ndarray,
    keys: list[tuple[tuple[str, float], ...]],
    charges: dict[str, float],
) -> np.ndarray:
    """Return the penalty form of pairs of partial sites closer than ``EXCLUSION_DISTANCE``.

    Only pairs of sites on sublattices with vacancies whose species all carry
    charges of one sign take part, so that ``q_i q_j > 0`` exactly when both
    sites are filled; the matrix holds ``EXCLUSION_PENALTY / 2`` at ``[i, j]``
    and ``[j, i]``, so ``q @ P @ q`` adds the penalty times ``q_i q_j`` per pair.
    """
    sign = np.zeros(len(keys))
    for k, key in enumerate(keys):
        qs = [charges.get(s, 0.0) for s, _ in key if s != VACANCY]
        if any(s == VACANCY for s, _ in key) and qs:
            if all(q > 0 for q in qs):
                sign[k] = 1.0
            elif all(q < 0 for q in qs):
                sign[k] = -1.0
    penalty = np.zeros((len(structure), len(structure)))
    site_sign = sign[site_key]
    candidates = np.flatnonzero(site_sign != 0)
    if len(candidates) < 2:
        return penalty
    centres, neighbours, _, _ = structure.get_neighbor_list(
        EXCLUSION_DISTANCE, sites=[structure[i] for i in candidates]
    )
    for c, j in zip(candidates[centres], neighbours, strict=True):
        if c != j and site_sign[c] == site_sign[j]:
            penalty[c, j] = penalty[j, c] = EXCLUSION_PENALTY / 2
    return penalty


def _descend(
    q: np.ndarray, matrix: np.ndarray, groups: list[np.ndarray], max_sweeps: int
) -> np.ndarray:
    """Pairwise swaps within each group while they lower ``q @ matrix @ q`` (greedy)."""
    q = q.copy()
    field = matrix @ q
    diag = np.diag(matrix)
    for _ in range(max_sweeps):
        improved = False
        for idx in groups:
            for i in idx:
                d = q[idx] - q[i]  # charge change at i when swapped with each j
                mask = np.abs(d) > 1e-12
                if not mask.any():
                    continue
                j = idx[mask]
                dj = d[mask]
                delta = 2 * dj * (field[i] - field[j]) + dj**2 * (
                    diag[i] + diag[j] - 2 * matrix[i, j]
                )
                best = int(np.argmin(delta))
                if delta[best] < -1e-9:
                    jj, dd = j[best], dj[best]
                    q[i], q[jj] = q[jj], q[i]
                    field += dd * (matrix[:, i] - matrix[:, jj])
                    improved = True
        if not improved:
            break
    return q


def order_structure(
    structure: Structure,
    *,
    max_sites: int = 480,
    n_starts: int = 8,
    max_sweeps: int = 20,
    seed: int = 0,
) -> OrderedStructure:
    """Turn a structure with partial occupancies into an ordered supercell.

    Sites with the same set of (element, occupancy) form a sublattice. The
    smallest diagonal supercell whose per-sublattice counts, rounded by
    largest remainder, reproduce the composition within
    :data:`COMPOSITION_TOLERANCE` (summed over elements; a minor dopant can
    be off by more) and carry the input's charge is chosen (up to
    ``max_sites`` sites, vacancies included; else the closest plan, and the
    error is reported; see :func:`_plan` for the charge and the needle
    rule, :data:`MAX_SUPERCELL_ASPECT`). Within each
    sublattice the elements and vacancies are placed to minimise the
    point-charge Ewald energy, plus a large penalty for two partial sites
    closer than :data:`EXCLUSION_DISTANCE` filled together (split positions):
    ``n_starts`` random placements, each followed
    by greedy pairwise swaps; the lowest wins. Charges are the
    CIF's oxidation states when it has them, else balanced average states
    (:func:`~matscreen.candidates.oxidation.average_oxidation_states`). This
    is the usual Ewald-ranked approximant (as pymatgen's
    ``OrderDisorderedStructureTransformation`` ranks orderings), built from
    a local search instead of an enumeration, so it scales to garnet cells.

    Parameters
    ----------
    structure
        Any pymatgen ``Structure``; an ordered one is returned unchanged.
    max_sites
        Largest supercell, counted in sites (occupied and vacant).
    n_starts, max_sweeps
        Random starts and swap sweeps per start.
    seed
        Seed of the random starts.

    Returns
    -------
    OrderedStructure

    Raises
    ------
    OrderingError
        If the input cell alone has more than ``max_sites`` sites.
    """
    from pymatgen.core import Structure as PmgStructure

    if structure.is_ordered:
        return OrderedStructure(structure.copy(), (1, 1, 1), 0.0, None, "")
    n_sites = len(structure)
    if n_sites > max_sites:
        raise OrderingError(
            f"the disordered cell has {n_sites} sites, above max_sites={max_sites}; "
            "order it before (e.g. with a supercell tool) or raise the limit"
        )
    keys, site_key = _sublattices(structure)
    sizes = [int((site_key == k).sum()) for k in range(len(keys))]
    charges = _structure_charges(structure)
    k, plan, error, net = _plan(keys, sizes, charges, max_sites, structure.lattice)
    scaling = choose_supercell(structure.lattice.abc, k)
    base = PmgStructure(
        structure.lattice, ["H"] * n_sites, structure.frac_coords,
        site_properties={"sublattice": list(site_key)},
    )  # fmt: skip
    base.make_supercell(list(scaling))
    sub = np.asarray(base.site_properties["sublattice"])
    assignment = np.empty(len(base), dtype=object)
    groups: list[np.ndarray] = []
    for key_index, key in enumerate(keys):
        idx = np.flatnonzero(sub == key_index)
        counts = plan[key_index]
        pool = [s for s, _ in key for _ in range(counts[s])]
        assignment[idx] = pool
        if len(counts) > 1 and sum(c > 0 for c in counts.values()) > 1:
            groups.append(idx)

    def site_charges(species: np.ndarray) -> np.ndarray:
        return np.array([charges.get(s, 0.0) if s != VACANCY else 0.0 for s in species])

    rng = np.random.default_rng(seed)
    energy: float | None = None
    if groups and np.abs(site_charges(assignment)).sum() > 0:
        ewald = _unit_charge_ewald_matrix(base)
        matrix = ewald + _exclusion_matrix(base, sub, keys, charges)
        best: tuple[float, float, np.ndarray] | None = None
        for _ in range(n_starts):
            trial = assignment.copy()
            for idx in groups:
                trial[idx] = rng.permutation(trial[idx])
            q = site_charges(trial)
            q_opt = _descend(q, matrix, groups, max_sweeps)
            # map the optimised charges back to species within each group
            for idx in groups:
                trial[idx] = _species_for_charges(trial[idx], q[idx], q_opt[idx])
            e = float(q_opt @ matrix @ q_opt)
            if best is None or e < best[0] - 1e-9:
                best = (e, float(q_opt @ ewald @ q_opt), trial)
        assert best is not None
        _, energy, assignment = best
    elif groups:
        for idx in groups:
            assignment[idx] = rng.permutation(assignment[idx])
    keep = [i for i, s in enumerate(assignment) if s != VACANCY]
    ordered = PmgStructure(
        base.lattice, [assignment[i] for i in keep], base.frac_coords[keep]
    ).get_sorted_structure()
    note = (
        f"ordered from partial occupancies: {'x'.join(map(str, scaling))} supercell, "
        f"{len(ordered)} atoms, {ordered.composition.reduced_formula}"
        + (", lowest Ewald energy" if energy is not None else "")
        + (f"; composition off by {error:.3f} atoms per input cell" if error > 1e-6 else "")
        + (f"; not neutral ({net:+.2f} e per supercell)" if abs(net) > 1e-6 else "")
    )
    vacant = {i for i, key in enumerate(keys) if any(s == VACANCY for s, _ in key)}
    note += _short_contact(
        PmgStructure(base.lattice, [assignment[i] for i in keep], base.frac_coords[keep]),
        np.array([sub[i] in vacant for i in keep]),
    )
    LOG.debug("%s (input %s)", note, structure.composition.reduced_formula)
    return OrderedStructure(ordered, scaling, error, energy, note)


def atomic_radius(species: Any) -> float:
    """Return the atomic radius (A) of an element, species or symbol (1.5 if pymatgen has none)."""
    from pymatgen.core import Element

    if isinstance(species, str):
        species = Element(species)
    return float(getattr(species, "atomic_radius", None) or 1.5)


def _short_contact(structure: Structure, on_vacant: np.ndarray) -> str:
    """Return the ordering note's warning about the closest too-short contact, or ``""``.

    Only contacts with at least one atom placed on a partly vacant site
    (``on_vacant``) count, judged against :data:`SHORT_CONTACT_FRACTION` of
    the two atomic radii (:func:`atomic_radius`).
    """
    if not on_vacant.any() or len(structure) < 2:
        return ""
    radii = np.array([atomic_radius(site.specie) for site in structure])
    cutoff = SHORT_CONTACT_FRACTION * 2.0 * float(radii.max())
    centre, neighbour, _, distance = structure.get_neighbor_list(cutoff)
    limit = SHORT_CONTACT_FRACTION * (radii[centre] + radii[neighbour])
    close = (on_vacant[centre] | on_vacant[neighbour]) & (distance < limit) & (distance > 1e-6)
    if not close.any():
        return ""
    worst = int(np.argmin(np.where(close, distance / limit, np.inf)))
    a, b = structure[int(centre[worst])].specie, structure[int(neighbour[worst])].specie
    return (
        f"; {a}-{b} {distance[worst]:.2f} A at a partly occupied site "
        "(split sites filled together?)"
    )


def _species_for_charges(
    species: np.ndarray, q_before: np.ndarray, q_after: np.ndarray
) -> np.ndarray:
    """Reassign species to sites after swaps: each charge value keeps its own species pool."""
    out = species.copy()
    for value in np.unique(np.round(q_before, 9)):
        pool = list(species[np.isclose(q_before, value)])
        targets = np.flatnonzero(np.isclose(q_after, value))
        out[targets] = pool
    return out
