"""The known-compound library on the hull: Li-Ti-O and Li-P-S against Alexandria's DFT hull.

Since 2026-11-29 the hull references include 655 known Li compounds (Materials Project
cells via phonondb, ``matscreen.physics.references.known_compound_references``). What
does that do to e_above_hull of a compound no model here has seen? For the two shipped
systems with DFT labels and non-magnetic compounds in the library (Li-Ti-O, Li-P-S:
``datasets/alexandria_ternaries``, PBE, the hull of Alexandria's own database), each
library compound of the system is placed, with the MLIP, on three hulls:

- ``without library``: built-ins and prototype binaries only (the hull before the library);
- ``library, its formula left out``: every other known compound too, and no entry of its
  own formula, built-in or known (what a compound new to every reference gets when its
  neighbours are known);
- ``library``: all of them (what a user gets for a known compound: its own phase included).

Each is compared with Alexandria's e_above_hull of the formula (its lowest polymorph there;
e_above_hull does not change when a linear function of composition is added to formation
energies, so the O and S corrections Alexandria lacks do not enter). The MLIP energy of the
compound is its relaxed library entry, the same cell as the reference. Information for the
method, not a tuned figure: nothing here was fitted, and the library was not chosen by it.

Run:  python benchmarks/known_compounds.py [--calculator chgnet]
(seconds with the shipped relaxations.)
"""

from __future__ import annotations

import argparse
import gzip
import json

import numpy as np
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition

from matscreen.core.paths import datasets_dir
from matscreen.physics.hull import cached_reference_entries
from matscreen.physics.references import known_compound_references

SYSTEMS = ("Li-Ti-O", "Li-P-S")


def _alexandria(system: str) -> dict[str, float]:
    """Lowest e_above_hull per reduced formula in Alexandria's entries of ``system``."""
    path = datasets_dir() / "alexandria_ternaries" / f"{system}.json.gz"
    with gzip.open(path, "rt") as fh:
        rows = json.load(fh)
    out: dict[str, float] = {}
    for row in rows:
        f = Composition(row["composition"]).reduced_formula
        out[f] = min(out.get(f, np.inf), float(row["e_above_hull"]))
    return out


def system_rows(system: str, calculator: str) -> list[dict]:
    """e_above_hull of each known compound of ``system`` on the three hulls, with the label."""
    elements = tuple(sorted(system.split("-")))
    refs = list(cached_reference_entries(calculator, elements, prototype_binaries=True))
    known = set(known_compound_references(elements))

    def is_known(entry) -> bool:  # noqa: ANN001
        return entry.entry_id.split("-", 1)[1] in known

    without = PhaseDiagram([e for e in refs if not is_known(e)])
    full = PhaseDiagram(refs)
    labels = _alexandria(system)
    rows = []
    for entry in sorted(filter(is_known, refs), key=lambda e: e.entry_id):
        formula = entry.composition.reduced_formula
        left_out = PhaseDiagram([e for e in refs if e.composition.reduced_formula != formula])
        rows.append(
            {
                "entry": entry.entry_id,
                "formula": formula,
                "without": without.get_decomp_and_e_above_hull(entry, allow_negative=True)[1],
                "left_out": left_out.get_decomp_and_e_above_hull(entry, allow_negative=True)[1],
                "library": full.get_e_above_hull(entry),
                "dft": labels.get(formula, np.nan),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calculator", default="chgnet")
    args = parser.parse_args()
    rows = [r for s in SYSTEMS for r in system_rows(s, args.calculator)]
    print(f"{'entry':34s} {'formula':10s} {'without':>8s} {'left out':>8s} {'library':>8s} "
          f"{'DFT':>7s}")  # fmt: skip
    for r in rows:
        print(f"{r['entry']:34s} {r['formula']:10s} {r['without']:+8.3f} {r['left_out']:+8.3f} "
              f"{r['library']:+8.3f} {r['dft']:+7.3f}")  # fmt: skip
    have = [r for r in rows if np.isfinite(r["dft"])]
    dft = np.array([r["dft"] for r in have])
    mae = {k: float(np.mean(np.abs(np.array([r[k] for r in have]) - dft))) for k in
           ("without", "left_out", "library")}  # fmt: skip
    print(
        f"\n{len(have)} of {len(rows)} library compounds have an Alexandria label "
        f"({', '.join(SYSTEMS)}; {args.calculator}); MAE against it (eV/atom), side by side:"
    )
    print(
        f"  without library {mae['without']:.3f} | its formula left out {mae['left_out']:.3f} "
        f"| library {mae['library']:.3f}; ratio without / library "
        f"{mae['without'] / max(mae['library'], 1e-9):.1f}"
    )
    print(f"known_without_library_mae_eV: {mae['without']:.4f}")
    print(f"known_left_out_mae_eV: {mae['left_out']:.4f}")
    print(f"known_library_mae_eV: {mae['library']:.4f}")


if __name__ == "__main__":
    main()
