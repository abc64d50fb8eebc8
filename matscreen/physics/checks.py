"""Physics checks of one candidate structure: MLIP relaxation, hull, window, reactivity.

:func:`physics_checks` is what the screening run's physics stage calls for
each survivor (:func:`matscreen.screening.stages.physics_stage`): relax cell
and positions with the MLIP, place the relaxed energy on the convex hull of
the reference phases (:func:`matscreen.physics.hull.reference_entries`, same
MLIP, per-element MLIP->DFT shift), and for electrolytes the Li stability
window, the reaction energy with water and with a LiMn2O4 cathode.

The hull is only as complete as its references. When an element of the
candidate appears in no reference compound (only as the element), or the
candidate's decomposition leaves a cation-forming element as the element
(an oxide "decomposing" to elemental P or Mg: the compounds it would really
form are missing), competing phases are missing, the hull is too high and
``e_above_hull`` is a lower bound: the row then says ``hull_complete =
False`` and names the elements in ``hull_missing``, and the window and
reaction energies (which would come out of the same incomplete phase
diagram, e.g. an 11 V oxidation limit for a garnet without La/Zr/Ta
references) are left empty. A candidate more than 0.1 eV/atom below the hull
(:func:`below_hull_note`) keeps its columns with a note: its references most
likely lack compounds of its chemistry, so the window is too wide.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pymatgen.core import Structure

from matscreen.core.errors import join_notes

logger = logging.getLogger(__name__)

#: Columns returned by :func:`physics_checks`, in order.
PHYSICS_COLUMNS: tuple[str, ...] = (
    "physics_status", "physics_error", "physics_note", "mlip", "mlip_version", "relax_converged",
    "relax_steps", "relaxed_energy_per_atom", "relax_volume_change", "e_form_per_atom",
    "e_above_hull", "decomposition", "hull_complete", "hull_missing", "window_low_V",
    "window_high_V", "moisture_reaction_eV_atom", "cathode_reaction_eV_atom",
    "relaxed_structure",
)  # fmt: skip
#: The numeric ones among them (float columns, NaN where not computed).
PHYSICS_NUMERIC: tuple[str, ...] = (
    "relax_steps", "relaxed_energy_per_atom", "relax_volume_change", "e_form_per_atom",
    "e_above_hull", "window_low_V", "window_high_V", "moisture_reaction_eV_atom",
    "cathode_reaction_eV_atom",
)  # fmt: skip
#: Cathode the electrolyte's interfacial reaction energy is computed against.
COMPATIBILITY_CATHODE = "LiMn2O4"


def missing_reference_elements(elements: set[str], references: list[Any]) -> list[str]:
    """Elements of ``elements`` that appear in no reference compound (only as the element).

    Parameters
    ----------
    elements
        Symbols of the candidate.
    references
        Reference entries of its chemical system.

    Returns
    -------
    list[str]
        Sorted symbols; empty when every element is in at least one compound.
    """
    covered: set[str] = set()
    for ref in references:
        symbols = {el.symbol for el in ref.composition}
        if len(symbols) > 1:
            covered |= symbols
    return sorted(elements - covered)


#: Halide anions: a halide's reaction with water goes to phases the references lack.
HALOGENS: frozenset[str] = frozenset({"F", "Cl", "Br", "I"})
#: Elements that may be left as the element when an ionic compound decomposes (gases,
#: chalcogens, halogens); any other element in a decomposition marks missing references.
ANION_FORMERS: frozenset[str] = frozenset({"O", "N", "F", "Cl", "Br", "I", "S", "Se", "Te", "H"})


def incomplete_hull_mask(values: Any) -> np.ndarray:
    """Rows whose ``hull_complete`` is explicitly False (their e_above_hull is a lower bound).

    None/NaN (a failed row, or an evaluator that does not say) is not flagged.
    One policy for every consumer of the column (verdicts, training data,
    rankings, plots).
    """
    import pandas as pd

    return np.array([not pd.isna(v) and not bool(v) for v in values], dtype=bool)


def hull_gap_elements(
    elements: set[str], references: list[Any], decomposition: list[str] | tuple[str, ...] = ()
) -> list[str]:
    """Elements whose competing phases are missing from a hull.

    Those of :func:`missing_reference_elements`, plus every element outside
    :data:`ANION_FORMERS` (and other than Li, whose metal a Li-excess
    composition really releases) that the decomposition leaves as the element
    (before P2O5 was built in, a Li-excess olivine on a hull whose only
    phosphates were Li3PO4 and the olivines "decomposed" partly to elemental
    P and O2, and its ``e_above_hull`` was far too low; Li7P3S11 without
    P2S5 and Li3PS4 went to Li2S + S + P).

    Parameters
    ----------
    elements
        Symbols of the candidate.
    references
        Reference entries of its chemical system.
    decomposition
        Formulas of the candidate's decomposition products (hull record).

    Returns
    -------
    list[str]
        Sorted symbols; empty when the hull looks complete.
    """
    from pymatgen.core import Composition

    if len(elements) == 1:  # an element is its own reference (the MP elemental entries)
        return []
    gaps = set(missing_reference_elements(elements, references))
    for formula in decomposition:
        try:
            comp = Composition(formula)
        except (ValueError, KeyError):
            continue
        symbol = comp.elements[0].symbol if len(comp.elements) == 1 else None
        # Li metal is a real product (Li2Cl -> LiCl + Li): the Li-anion binaries are built in
        if symbol is not None and symbol not in ANION_FORMERS and symbol != "Li":
            gaps.add(symbol)
    return sorted(gaps & set(elements))


def hull_gap_record(
    elements: set[str], references: list[Any], decomposition: list[str] | tuple[str, ...] = ()
) -> tuple[dict[str, Any], str]:
    """Return the ``hull_complete`` / ``hull_missing`` columns of a hull, and its caveat.

    Parameters
    ----------
    elements, references, decomposition
        As :func:`hull_gap_elements`.

    Returns
    -------
    tuple[dict, str]
        ``{"hull_complete": bool, "hull_missing": "El1,El2"}`` and the note
        for the row's error column (``""`` when the hull is complete).
    """
    gaps = hull_gap_elements(elements, references, decomposition)
    note = (
        f"competing phases of {','.join(gaps)} missing from the references: "
        "e_above_hull is a lower bound"
        if gaps
        else ""
    )
    return {"hull_complete": not gaps, "hull_missing": ",".join(gaps)}, note


#: A candidate more than this far below the hull of its references (eV/atom) is taken to
#: meet competing compounds the references lack (or an MLIP that overbinds it) rather
#: than to be that stable: known compounds sit within a few tens of meV/atom of a
#: complete hull, and the OBELiX test CIFs that land 100-250 meV/atom below theirs are
#: the ternary oxides (Sm silicate, La niobates, Li molybdates) whose systems have no
#: ternary references here.
DEEP_BELOW_HULL_EV = 0.1


def deep_below_hull_mask(values: Any) -> np.ndarray:
    """Rows more than :data:`DEEP_BELOW_HULL_EV` below their references' hull.

    Their ``e_above_hull`` is too low (see :func:`below_hull_note`): like a
    lower bound, it confirms no stability. None/NaN is not flagged.
    """
    import pandas as pd

    return np.array([not pd.isna(v) and float(v) < -DEEP_BELOW_HULL_EV for v in values], dtype=bool)


def below_hull_note(e_above_hull: float | None, also: str = "") -> str:
    """Return the caveat for a candidate deep below its reference hull (``""`` otherwise).

    Such a candidate's ``e_above_hull`` is too low, and what comes out of the
    same phase diagram is off the same way: its Li window too wide (the
    oxidation limit of a Li-poor phase carries the whole stabilisation per Li
    released: 10-30 V for OBELiX's Li0.285Sm4.51Si3O12.91 and Na-rich La
    niobates), its reaction energies too weak. The columns are kept; the note
    says how far below (:data:`DEEP_BELOW_HULL_EV`).

    Parameters
    ----------
    e_above_hull
        eV/atom; None or NaN gives no note.
    also
        What else the row reports from that phase diagram, as the note should
        name it (``"the window too wide"``); nothing when empty.
    """
    if e_above_hull is None or not np.isfinite(e_above_hull):
        return ""
    if e_above_hull >= -DEEP_BELOW_HULL_EV:
        return ""
    return (
        f"{-1000.0 * e_above_hull:.0f} meV/atom below the hull of its references: compounds "
        "of its chemistry are probably missing from them (or the MLIP overbinds it), so "
        "e_above_hull is too low" + (f" and {also}" if also else "")
    )


def physics_checks(
    structure: Structure,
    calculator: str = "chgnet",
    *,
    electrolyte: bool = True,
    fmax: float = 0.05,
    steps: int = 300,
    device: str = "cpu",
    relaxed: Any = None,
) -> dict[str, Any]:
    """Relax one structure with an MLIP and judge its stability.

    Parameters
    ----------
    structure
        The candidate.
    calculator
        Registry name of the MLIP (``"chgnet"``, ``"sevenn"``).
    electrolyte
        Also compute the Li stability window and the reaction energies with
        water and with LiMn2O4. The window's references include the
        candidate's own delithiated cell when its metals can be oxidized
        (:func:`~matscreen.physics.delithiation.window_with_delithiation`;
        one more relaxation).
    fmax, steps
        Relaxation force criterion (eV/Å) and step cap.
    device
        Torch device of the MLIP (``"cpu"``, ``"cuda"``).
    relaxed
        This structure's :class:`~matscreen.physics.relax.RelaxRecord`, already
        computed with the same MLIP and settings (the batched physics stage):
        not relaxed again.

    Returns
    -------
    dict
        One value per :data:`PHYSICS_COLUMNS` name. ``physics_status`` is
        ``"ok"`` or ``"failed"`` (with ``physics_error``); a relaxation that
        did not converge within ``steps`` still gets a hull position, with
        ``relax_converged = False``. Partial failures (window, reactivity)
        leave their columns NaN and are named in ``physics_note``, with the
        other caveats of an ``ok`` row (a lower-bound hull, a row far below it).
    """
    from pymatgen.entries.computed_entries import ComputedEntry

    from matscreen.core.io import structure_to_json
    from matscreen.physics.calculators import calculator_info, get_calculator
    from matscreen.physics.delithiation import window_with_delithiation
    from matscreen.physics.hull import cached_reference_entries, lowest_entry, structure_hull
    from matscreen.physics.window import cathode_compatibility, moisture_reactivity

    out: dict[str, Any] = dict.fromkeys(PHYSICS_COLUMNS)
    out.update(physics_status="failed", hull_complete=False)
    notes: list[str] = []
    try:
        calc = get_calculator(calculator, device=device)
        info = calculator_info(calc)
        out["mlip"], out["mlip_version"] = info.name, info.version
        symbols = tuple(sorted({el.symbol for el in structure.composition}))
        refs = cached_reference_entries(calculator, symbols)
        hull, relax = structure_hull(
            structure, calc, relax=True, references=refs, fmax=fmax, steps=steps, relaxed=relaxed
        )
        if relax is not None:
            out["relax_converged"] = bool(relax.converged)
            out["relax_steps"] = relax.steps
            if relax.structure is not None:
                relaxed = relax.structure
                out["relax_volume_change"] = relaxed.volume / structure.volume - 1.0
                # without the calculator's site properties (float32 magmoms are not JSON)
                bare = Structure(relaxed.lattice, relaxed.species_and_occu, relaxed.frac_coords)
                out["relaxed_structure"] = structure_to_json(bare)
        if hull.status != "ok":
            out["physics_error"] = hull.error
            return out
        gap_columns, gap_note = hull_gap_record(set(symbols), refs, hull.decomposition or ())
        out.update(
            physics_status="ok",
            relaxed_energy_per_atom=hull.energy_per_atom,
            e_form_per_atom=hull.e_form_per_atom,
            e_above_hull=hull.e_above_hull,
            decomposition=" + ".join(hull.decomposition),
            **gap_columns,
        )
        notes.append(hull.note)
        if gap_note:
            notes.append(f"{gap_note}; window and reactivity not computed")
        if electrolyte and not gap_note:
            comp = structure.composition
            entry = ComputedEntry(comp, hull.energy_per_atom * comp.num_atoms, entry_id="candidate")
            cell = relax.structure if relax is not None else None
            window, delith_note = window_with_delithiation(
                entry, refs, cell, calc, fmax=fmax, steps=steps
            )
            if window.status == "ok":
                out["window_low_V"] = window.window_low_V
                out["window_high_V"] = window.window_high_V
                notes.append(delith_note)
            else:
                notes.append(f"window: {window.error}")
            wet_refs = cached_reference_entries(calculator, tuple(sorted({*symbols, "H", "O"})))
            wet = moisture_reactivity(entry, wet_refs)
            if wet.status == "ok":
                out["moisture_reaction_eV_atom"] = wet.reaction_energy
                halogens = sorted(set(symbols) & HALOGENS)
                if halogens and wet.reaction_energy > -1e-6:
                    acids = ", ".join(f"H{h}" for h in halogens)
                    notes.append(
                        "moisture: 0 means no reaction with the references' phases; hydrates "
                        f"and oxyhalides of its other cations and {acids} are not among them, so "
                        "this halide's hydrolysis is not judged"
                    )
            else:
                notes.append(f"moisture: {wet.error}")
            both = cached_reference_entries(calculator, tuple(sorted({*symbols, "Li", "Mn", "O"})))
            cathode = lowest_entry(both, COMPATIBILITY_CATHODE)
            if cathode is None:
                notes.append(f"no {COMPATIBILITY_CATHODE} reference")
            else:
                react = cathode_compatibility(entry, cathode, both)
                if react.status == "ok":
                    out["cathode_reaction_eV_atom"] = react.reaction_energy
                else:
                    notes.append(f"cathode compatibility: {react.error}")
        also = []
        if out["window_low_V"] is not None:
            also.append("the window too wide")
        reactions = ("moisture_reaction_eV_atom", "cathode_reaction_eV_atom")
        if any(out[k] is not None for k in reactions):
            also.append("the reaction energies too weak")
        notes.append(below_hull_note(hull.e_above_hull, " and ".join(also)))
    except Exception as exc:  # noqa: BLE001 - one bad candidate must not stop the stage
        logger.warning("physics checks failed: %s", exc)
        out["physics_status"] = "failed"
        notes.append(f"{type(exc).__name__}: {exc}")
    text = join_notes(*notes)
    out["physics_note" if out["physics_status"] == "ok" else "physics_error"] = text
    for key in ("e_above_hull", "window_low_V", "window_high_V"):
        if out[key] is not None and not np.isfinite(out[key]):
            out[key] = None
    return out
