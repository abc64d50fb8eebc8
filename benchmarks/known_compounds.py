"""The known-compound library on the hull: Li-Ti-O and Li-P-S against Alexandria's DFT hull.

Since 2026-11-29 the hull references include 751 known Li compounds (Materials Project
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

With ``--formula-only`` (minutes: trial cells relaxed; cached after), the compound is also
placed from its formula alone, as ``predict stability`` does for a formula that is no
reference phase (:mod:`matscreen.physics.templates`): trial cells of its stoichiometry
substituted, relaxed with the MLIP, the lowest kept, on the hull of its formula left out.
Every template of its own formula is left out too, so it is new to every structure here;
side by side, the templates of the seeds' prototypes and built-ins only (before the
library's cells were templates) and with the library's cells of other compounds.

Each is compared with Alexandria's e_above_hull of the formula (its lowest polymorph there;
e_above_hull does not change when a linear function of composition is added to formation
energies, so the O and S corrections Alexandria lacks do not enter). The MLIP energy of the
compound is its relaxed library entry, the same cell as the reference. Information for the
method, not a tuned figure: nothing here was fitted, and the library was not chosen by it.

Run:  python benchmarks/known_compounds.py [--calculator chgnet] [--formula-only]
(seconds with the shipped relaxations; --formula-only ~15 min on 2 cores the first time.)
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


def _formula_only(formula: str, refs: list, calculator: str, with_library: bool) -> float:
    """e_above_hull of a formula from template trial cells, none of its own formula."""
    from matscreen.physics.calculators import resolve_calculator
    from matscreen.physics.tables import _template_hull
    from matscreen.physics.templates import _is_library, _templates

    own = Composition(formula).reduced_formula
    leave_out = {
        name for name, comp, _ in _templates()
        if comp.reduced_formula == own or (not with_library and _is_library(name))
    }  # fmt: skip
    try:
        hull, note, *_ = _template_hull(
            Composition(formula), resolve_calculator(calculator), refs, leave_out=leave_out
        )
    except ValueError as exc:  # no structure type of its stoichiometry, or none placed
        print(f"  {formula} ({'with' if with_library else 'without'} library): {exc}")
        return float("nan")
    if "known structure:" in note:  # the fallback: the compound's own published cell
        print(f"  {formula} ({'with' if with_library else 'without'} library): only its own "
              "published cell (OBELiX) left; not counted")  # fmt: skip
        return float("nan")
    return float(hull.e_above_hull)


def system_rows(system: str, calculator: str, formula_only: bool = False) -> list[dict]:
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
    from_formula: dict[str, dict[str, float]] = {}  # one per formula, whatever its polymorphs
    for entry in sorted(filter(is_known, refs), key=lambda e: e.entry_id):
        formula = entry.composition.reduced_formula
        others = [e for e in refs if e.composition.reduced_formula != formula]
        left_out = PhaseDiagram(others)
        if formula not in from_formula:
            run = formula_only and np.isfinite(labels.get(formula, np.nan))
            from_formula[formula] = {
                f"formula_{k}": _formula_only(formula, others, calculator, k == "library")
                if run else np.nan
                for k in ("builtins", "library")
            }  # fmt: skip
        rows.append(
            {
                **from_formula[formula],
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
    parser.add_argument(
        "--formula-only", action="store_true",
        help="also place each labelled compound from its formula alone (template trial cells)",
    )  # fmt: skip
    args = parser.parse_args()
    rows = [r for s in SYSTEMS for r in system_rows(s, args.calculator, args.formula_only)]
    print(
        f"{'entry':34s} {'formula':10s} {'without':>8s} {'left out':>8s} {'library':>8s} "
        f"{'DFT':>7s}" + ("  formula only: builtins / +library" if args.formula_only else "")
    )
    for r in rows:
        line = (f"{r['entry']:34s} {r['formula']:10s} {r['without']:+8.3f} {r['left_out']:+8.3f} "
                f"{r['library']:+8.3f} {r['dft']:+7.3f}")  # fmt: skip
        if args.formula_only:
            line += f"  {r['formula_builtins']:+8.3f} / {r['formula_library']:+8.3f}"
        print(line)
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
    if args.formula_only:
        # one row per formula (the polymorphs of a formula share its formula-only figure)
        per = list({r["formula"]: r for r in have}.values())
        kinds = ("builtins", "library")
        placed = {k: sum(np.isfinite(r[f"formula_{k}"]) for r in per) for k in kinds}
        both = [r for r in per if all(np.isfinite(r[f"formula_{k}"]) for k in kinds)]
        err = {k: np.array([abs(r[f"formula_{k}"] - r["dft"]) for r in both]) for k in kinds}
        if not both:
            raise SystemExit("no formula was placed both ways")
        print(
            f"  from the formula alone, {len(per)} formulas: placed {placed['builtins']} with "
            f"the prototypes' and built-ins' templates, {placed['library']} with the library's "
            f"cells too; on the {len(both)} placed both ways: {err['builtins'].mean():.3f} | "
            f"{err['library'].mean():.3f}"
        )
        print(f"known_formula_builtins_mae_eV: {err['builtins'].mean():.4f}")
        print(f"known_formula_library_mae_eV: {err['library'].mean():.4f}")
    print(f"known_without_library_mae_eV: {mae['without']:.4f}")
    print(f"known_left_out_mae_eV: {mae['left_out']:.4f}")
    print(f"known_library_mae_eV: {mae['library']:.4f}")


if __name__ == "__main__":
    main()
