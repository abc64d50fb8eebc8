"""Reference structures found by an MLIP search over cation orderings on close-packed anions.

Some competing phases a hull needs have no structure we can build from
tabulated Wyckoff positions here (ZrCl4 and HfCl4: zig-zag chains of
edge-sharing octahedra in a close-packed chloride lattice). Most binary and
ternary halides and oxides are, to a good approximation, cations in the
octahedral holes of a cubic (ccp) or hexagonal (hcp) close-packed anion
lattice. :func:`search_cation_ordering` finds a low-energy ordering:

1. anion frameworks: ccp and hcp supercells of a few shapes with
   ``n_anions`` anions, at a volume per anion set from the anion's radius;
2. every placement of the cations on the octahedral holes, de-duplicated by
   Ewald energy of the point charges (symmetry-equivalent placements share it);
3. a batched MLIP single point on the ideal geometry of each distinct
   placement, then a full relaxation (cell + positions) of the ``top_k``
   lowest; the lowest relaxed energy per atom wins.

The result is an upper bound on the true ground state (the true structure
type may lie outside the search), i.e. a conservative competing phase:
``e_above_hull`` of a candidate against it can only be too low, never too
high. The found structures ship in ``data/ordered_references.json`` with the
settings and energies of the search; rebuild with
``python -m matscreen.physics.ordering_search``.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Composition, Lattice, Species, Structure

logger = logging.getLogger(__name__)

DATA_FILE = Path(__file__).resolve().parent / "data" / "ordered_references.json"

#: Formulas searched for the shipped file (Zr/Hf halides of the halide screening space).
SHIPPED_FORMULAS: tuple[str, ...] = ("ZrCl4", "HfCl4", "ZrBr4", "HfBr4")

#: Volume per anion (A^3) in close-packed halides and oxides, from the anion-anion
#: contact distance d as d^3 / sqrt(2) (LiCl 33.8, ZrCl4 34.5, LiBr 41.6, Li2O 24.7).
VOLUME_PER_ANION: dict[str, float] = {"F": 17.0, "O": 19.0, "Cl": 34.0, "Br": 41.0, "I": 52.0}

#: Supercells of the conventional ccp cell (4 anions) and the hcp cell (2 anions).
_CCP_SHAPES: dict[int, tuple[tuple[int, int, int], ...]] = {
    8: ((2, 1, 1),),
    16: ((2, 2, 1), (4, 1, 1)),
}
_HCP_SHAPES: dict[int, tuple[tuple[int, int, int], ...]] = {
    8: ((2, 2, 1), (4, 1, 1)),
    16: ((2, 2, 2), (4, 2, 1), (2, 4, 1)),
}


@dataclass(frozen=True)
class OrderingResult:
    """The best ordering found for one formula.

    Attributes
    ----------
    formula
        Reduced formula searched.
    structure
        Relaxed structure of the lowest-energy placement.
    energy_per_atom
        Its relaxed MLIP energy (eV/atom, the calculator's scale).
    framework
        Anion framework and supercell of the winner (``"ccp 2x2x1"``).
    n_placements, n_distinct, n_relaxed
        Placements enumerated, distinct by Ewald energy, relaxed.
    relaxed_energies
        Relaxed energy per atom of every relaxed candidate, best first.
    """

    formula: str
    structure: Structure
    energy_per_atom: float
    framework: str
    n_placements: int
    n_distinct: int
    n_relaxed: int
    relaxed_energies: tuple[float, ...]


def anion_frameworks(anion: str, n_anions: int) -> list[tuple[str, Structure]]:
    """Close-packed anion supercells with their octahedral holes as ``X0+`` dummy sites.

    Parameters
    ----------
    anion
        Anion symbol (its volume per anion is :data:`VOLUME_PER_ANION`).
    n_anions
        Anions per cell: 8 or 16.

    Returns
    -------
    list of (str, Structure)
        ``("ccp 2x2x1", structure)`` pairs; anions first, then the holes.
    """
    if n_anions not in _CCP_SHAPES:
        raise ValueError(f"n_anions must be one of {sorted(_CCP_SHAPES)}, got {n_anions}")
    if anion not in VOLUME_PER_ANION:
        raise ValueError(f"no close-packed volume for anion {anion}")
    d = (VOLUME_PER_ANION[anion] * np.sqrt(2.0)) ** (1.0 / 3.0)  # anion-anion distance
    a_ccp = d * np.sqrt(2.0)
    ccp = Structure(
        Lattice.cubic(a_ccp),
        [anion] * 4 + ["X0+"] * 4,
        [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
         [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]],
    )  # fmt: skip
    hcp = Structure(
        Lattice.hexagonal(d, d * np.sqrt(8.0 / 3.0)),
        [anion] * 2 + ["X0+"] * 2,
        [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75], [0, 0, 0], [0, 0, 0.5]],
    )
    out = []
    for name, cell, shapes in (("ccp", ccp, _CCP_SHAPES), ("hcp", hcp, _HCP_SHAPES)):
        for shape in shapes[n_anions]:
            sup = cell.copy()
            sup.make_supercell(list(shape))
            sup = Structure.from_sites(sorted(sup, key=lambda s: s.specie.symbol != anion))
            out.append((f"{name} {'x'.join(map(str, shape))}", sup))
    return out


def _distinct_placements(
    framework: Structure, anion: str, cation: str, n_cations: int, charges: dict[str, float]
) -> list[tuple[float, tuple[int, ...]]]:
    """Placements of ``n_cations`` on the holes, one per distinct Ewald energy, lowest first."""
    from pymatgen.analysis.ewald import EwaldSummation

    n_anion = sum(1 for s in framework if s.specie.symbol == anion)
    holes = list(range(n_anion, len(framework)))
    unit = Structure(
        framework.lattice,
        [Species(anion, 1)] * n_anion + [Species(cation, 1)] * len(holes),
        framework.frac_coords,
    )
    m = np.asarray(EwaldSummation(unit).total_energy_matrix)
    q = np.concatenate([np.full(n_anion, charges[anion]), np.zeros(len(holes))])
    seen: dict[float, tuple[int, ...]] = {}
    for chosen in itertools.combinations(holes, n_cations):
        q[n_anion:] = 0.0
        q[list(chosen)] = charges[cation]
        key = round(float(q @ m @ q), 4)
        seen.setdefault(key, chosen)
    return sorted(seen.items())


def search_cation_ordering(
    formula: str,
    calculator: Any = None,
    *,
    n_anions: int = 16,
    top_k: int = 4,
    fmax: float = 0.05,
    steps: int = 400,
) -> OrderingResult:
    """Find a low-energy ordering of a binary ``M_a X_b`` on close-packed ``X``.

    Parameters
    ----------
    formula
        Binary formula with the anion last in electronegativity (``"ZrCl4"``).
    calculator
        ASE calculator or registry name (None: the DEFAULT_CALCULATOR setting, CHGNet
        unless set).
    n_anions
        Anions per searched cell (8 or 16).
    top_k
        Placements relaxed (the lowest by single-point energy).
    fmax, steps
        Relaxation settings.

    Returns
    -------
    OrderingResult

    Raises
    ------
    ValueError
        If the formula is not a binary that fits the octahedral holes of
        ``n_anions`` anions (at most one cation per anion).
    """
    from matscreen.candidates.oxidation import nominal_oxidation_state
    from matscreen.physics.hull import static_energies
    from matscreen.physics.relax import relax_together

    comp = Composition(formula).reduced_composition
    if len(comp) != 2:
        raise ValueError(f"{formula}: only binary compounds are searched")
    cation, anion = sorted(
        (el.symbol for el in comp), key=lambda s: Composition(s).average_electroneg
    )
    ratio = comp[cation] / comp[anion]
    n_cations = ratio * n_anions
    if abs(n_cations - round(n_cations)) > 1e-6 or not 0 < round(n_cations) <= n_anions:
        raise ValueError(f"{formula}: cations do not fill the holes of {n_anions} anions")
    n_cations = round(n_cations)
    q_cation = float(nominal_oxidation_state(cation))
    charges = {cation: q_cation, anion: -q_cation * ratio}

    candidates: list[tuple[str, Structure]] = []
    n_placements = 0
    for name, framework in anion_frameworks(anion, n_anions):
        n_placements += math.comb(len(framework) - n_anions, n_cations)
        for _, chosen in _distinct_placements(framework, anion, cation, n_cations, charges):
            keep = list(range(n_anions)) + list(chosen)
            s = Structure.from_sites([framework[i] for i in keep])
            s.replace_species({"X0+": cation})
            candidates.append((name, s))
    logger.info("%s: %d distinct placements of %d", formula, len(candidates), n_placements)
    single = np.asarray(static_energies([s for _, s in candidates], calculator))
    order = np.argsort(single, kind="stable")[:top_k]
    relaxed: list[tuple[float, str, Structure]] = []
    recs = relax_together(
        [candidates[int(i)][1] for i in order], calculator or "chgnet", fmax=fmax, steps=steps
    )
    for i, rec in zip(order, recs, strict=True):
        name = candidates[int(i)][0]
        if rec.energy_per_atom is None or rec.structure is None:
            logger.warning("%s %s: relaxation failed: %s", formula, name, rec.error)
            continue
        relaxed.append((float(rec.energy_per_atom), name, rec.structure))
    if not relaxed:
        raise RuntimeError(f"{formula}: no placement could be relaxed")
    relaxed.sort(key=lambda r: r[0])
    best_e, best_name, relaxed_best = relaxed[0]
    best = Structure(relaxed_best.lattice, relaxed_best.species, relaxed_best.frac_coords)
    return OrderingResult(
        formula=comp.reduced_formula,
        structure=best,
        energy_per_atom=float(best_e),
        framework=best_name,
        n_placements=n_placements,
        n_distinct=len(candidates),
        n_relaxed=len(relaxed),
        relaxed_energies=tuple(float(r[0]) for r in relaxed),
    )


def load_ordered_reference(formula: str, path: Path = DATA_FILE) -> Structure:
    """Return the shipped searched structure of ``formula``.

    Raises
    ------
    KeyError
        If the formula was not searched.
    """
    data = json.loads(path.read_text())
    if formula not in data["structures"]:
        raise KeyError(f"no searched reference structure for {formula}")
    return Structure.from_dict(data["structures"][formula]["structure"])


def build_shipped(
    formulas: tuple[str, ...] = SHIPPED_FORMULAS, calculator: str = "chgnet", out: Path = DATA_FILE
) -> dict[str, OrderingResult]:
    """Search every formula and write the shipped file (atomically).

    Returns
    -------
    dict
        Formula -> result.
    """
    from matscreen.core.io import atomic_write_text
    from matscreen.physics.calculators import calculator_info, get_calculator

    calc = get_calculator(calculator)
    info = calculator_info(calc)
    results = {f: search_cation_ordering(f, calc) for f in formulas}
    blob = {
        "method": "matscreen.physics.ordering_search.search_cation_ordering "
        "(ccp/hcp anions, 16 per cell; Ewald-distinct placements; top 4 by single point relaxed)",
        "calculator": f"{info.name}@{info.version}",
        "structures": {
            f: {
                "structure": r.structure.as_dict(),
                "energy_per_atom": r.energy_per_atom,
                "framework": r.framework,
                "n_placements": r.n_placements,
                "n_distinct": r.n_distinct,
                "relaxed_energies": list(r.relaxed_energies),
            }
            for f, r in results.items()
        },
    }
    atomic_write_text(out, json.dumps(blob, indent=1))
    return results


if __name__ == "__main__":  # pragma: no cover - build step
    logging.basicConfig(level=logging.INFO)
    for f, r in build_shipped().items():
        logger.info("%s: %.4f eV/atom (%s; %d distinct of %d placements)",
                    f, r.energy_per_atom, r.framework, r.n_distinct, r.n_placements)  # fmt: skip
