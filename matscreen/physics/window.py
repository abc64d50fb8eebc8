"""Electrochemical stability window, moisture reactivity and cathode compatibility.

The window follows the grand-potential (Li-open) construction of Richards et
al. (Chem. Mater. 2016) and Zhu, He, Mo (ACS AMI 2015): the phase is taken
as a hull phase (its energy lowered onto the hull when it sits above it), and
the Li chemical potential range over which it neither takes up nor releases
Li is read from pymatgen's ``PhaseDiagram.get_element_profile``. Potentials
convert to voltages vs Li/Li+ by ``V = -(mu_Li - mu_Li(metal)) / e``.

Reactivity with H2O and with a cathode uses pymatgen
``InterfacialReactivity``: the most negative reaction energy (eV/atom of
mixture) over all mixing ratios.
"""

import logging
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Element
from pymatgen.entries.computed_entries import ComputedEntry

logger = logging.getLogger(__name__)

# Experimental standard enthalpy of formation of liquid water (NIST), eV per H2O
DH_F_H2O_EV = -2.965


class WindowRecord(BaseModel):
    """Electrochemical stability window of one phase vs Li/Li+."""

    formula: str = Field(description="Reduced formula.")
    status: Literal["ok", "failed"] = Field(description="'ok' or 'failed'.")
    error: str | None = Field(None, description="Reason for failure; None when ok.")
    window_low_V: float | None = Field(
        None, description="Reduction limit, V vs Li/Li+ (below it the phase takes up Li)."
    )
    window_high_V: float | None = Field(
        None, description="Oxidation limit, V vs Li/Li+ (above it the phase releases Li)."
    )
    reduction_products: list[str] = Field(
        default_factory=list, description="Phases formed just below the reduction limit."
    )
    oxidation_products: list[str] = Field(
        default_factory=list, description="Phases formed just above the oxidation limit."
    )
    e_above_hull: float | None = Field(
        None, description="Energy above hull (eV/atom) removed to place the phase on the hull."
    )


def _stabilized(
    entry: ComputedEntry, references: Sequence[ComputedEntry]
) -> tuple[ComputedEntry, list[ComputedEntry], float]:
    formula = entry.composition.reduced_formula
    refs = [r for r in references if r.composition.reduced_formula != formula]
    pd = PhaseDiagram([*refs, entry])
    e_hull = float(pd.get_e_above_hull(entry, allow_negative=True) or 0.0)
    shift = max(e_hull, 0.0) + 1e-4
    stab = ComputedEntry(
        entry.composition,
        entry.energy - shift * entry.composition.num_atoms,
        entry_id="candidate-stabilized",
    )
    return stab, refs, e_hull


def stability_window(
    entry: ComputedEntry, references: Sequence[ComputedEntry], *, open_element: str = "Li"
) -> WindowRecord:
    """Return the electrochemical stability window of ``entry`` vs Li/Li+.

    Parameters
    ----------
    entry
        The phase, on the same energy scale as ``references``.
    references
        Competing phases of the chemical system (elements included).
    open_element
        The mobile element (Li).

    Returns
    -------
    WindowRecord
        Failed with a reason when the phase holds no ``open_element`` or the
        references do not span its chemical system.
    """
    formula = entry.composition.reduced_formula
    el = Element(open_element)
    if el not in entry.composition:
        return WindowRecord(
            formula=formula, status="failed", error=f"{formula} holds no {open_element}"
        )
    try:
        stab, refs, e_hull = _stabilized(entry, references)
        pd = PhaseDiagram([*refs, stab])
        mu0 = pd.el_refs[el].energy_per_atom
        profile = pd.get_element_profile(el, stab.composition.reduced_composition)
    except Exception as exc:  # noqa: BLE001
        return WindowRecord(formula=formula, status="failed", error=str(exc))
    # profile: chempots from high (Li-rich, reducing) to low (oxidizing), with the
    # number of Li taken up (evolution > 0) or released (< 0) per formula unit
    steps = sorted(profile, key=lambda d: -d["chempot"])
    zero = [i for i, d in enumerate(steps) if abs(d["evolution"]) < 1e-6]
    if not zero:
        return WindowRecord(
            formula=formula,
            status="failed",
            e_above_hull=e_hull,
            error="phase not stable at any Li chemical potential",
        )
    i = zero[0]
    # the zero-evolution step is bounded above by steps[i]["chempot"] and below by
    # steps[i+1]["chempot"] (pymatgen lists the upper critical potential per region)
    mu_high = steps[i]["chempot"]
    mu_low = steps[i + 1]["chempot"] if i + 1 < len(steps) else None
    low_v = -(mu_high - mu0)
    high_v = -(mu_low - mu0) if mu_low is not None else None

    def _products(d: dict) -> list[str]:
        return sorted({e.composition.reduced_formula for e in d["entries"]})

    red = _products(steps[i - 1]) if i > 0 else []
    ox = _products(steps[i + 1]) if i + 1 < len(steps) else []
    return WindowRecord(
        formula=formula,
        status="ok",
        window_low_V=float(max(low_v, 0.0)) + 0.0,  # + 0.0: no -0.0 in tables
        window_high_V=None if high_v is None else float(high_v),
        reduction_products=red,
        oxidation_products=ox,
        e_above_hull=e_hull,
    )


def water_entries() -> list[ComputedEntry]:
    """H2O (from its experimental formation enthalpy) and elemental H and O, MP2020 scale."""
    from matscreen.physics.references import mp_elemental_references

    refs = mp_elemental_references()
    e_h, e_o = refs["H"].energy_per_atom, refs["O"].energy_per_atom
    h2o = ComputedEntry("H2O", DH_F_H2O_EV + 2 * e_h + e_o, entry_id="exp-H2O")
    return [h2o, refs["H"], refs["O"]]


class ReactivityRecord(BaseModel):
    """Most exothermic reaction between a phase and a partner (H2O or a cathode)."""

    formula: str = Field(description="Reduced formula of the phase.")
    partner: str = Field(description="Reduced formula of the reaction partner.")
    status: Literal["ok", "failed"] = Field(description="'ok' or 'failed'.")
    error: str | None = Field(None, description="Reason for failure; None when ok.")
    reaction_energy: float | None = Field(
        None, description="Most negative reaction energy, eV/atom of the mixture (<= 0)."
    )
    mixing_ratio: float | None = Field(
        None, description="Molar fraction of the phase at that reaction (normalised formulas)."
    )
    reaction: str | None = Field(None, description="The balanced reaction at that ratio.")


def reaction_energy(
    entry: ComputedEntry, partner: ComputedEntry, references: Sequence[ComputedEntry]
) -> ReactivityRecord:
    """Most negative interfacial reaction energy between ``entry`` and ``partner``.

    Both are placed on the hull (energies lowered by their e_above_hull) so
    that only the reaction, not their own metastability, is measured, as in
    pymatgen's ``InterfacialReactivity(use_hull_energy=True)``.
    """
    from pymatgen.analysis.interface_reactions import InterfacialReactivity

    formula = entry.composition.reduced_formula
    pf = partner.composition.reduced_formula
    try:
        stab, refs, _ = _stabilized(entry, references)
        pstab, refs2, _ = _stabilized(partner, [*refs, stab])
        pd = PhaseDiagram([*refs2, stab, pstab])
        ir = InterfacialReactivity(
            entry.composition, partner.composition, pd, norm=True, use_hull_energy=True
        )
        kinks = list(ir.get_kinks())
        # kinks: (index, mixing ratio x, reaction energy eV/atom, reaction, eV per mol)
        best = min(kinks, key=lambda k: k[2])
    except Exception as exc:  # noqa: BLE001
        return ReactivityRecord(formula=formula, partner=pf, status="failed", error=str(exc))
    return ReactivityRecord(
        formula=formula,
        partner=pf,
        status="ok",
        reaction_energy=float(min(best[2], 0.0)),
        mixing_ratio=float(best[1]),
        reaction=str(best[3]),
    )


def moisture_reactivity(
    entry: ComputedEntry, references: Sequence[ComputedEntry]
) -> ReactivityRecord:
    """Reaction energy of a phase with water (eV/atom of mixture).

    Products are limited to the phases in ``references`` (add hydroxides,
    oxyhalides, HCl to them for a complete answer; the built-in set holds LiOH).
    """
    w = water_entries()
    return reaction_energy(entry, w[0], [*references, *w[1:]])


def cathode_compatibility(
    entry: ComputedEntry, cathode: ComputedEntry, references: Sequence[ComputedEntry]
) -> ReactivityRecord:
    """Interfacial reaction energy of an electrolyte with a cathode (e.g. LiMn2O4, LNMO)."""
    return reaction_energy(entry, cathode, references)


def window_from_formula_entries(
    formula: str | Composition, energy_per_atom: float, references: Sequence[ComputedEntry]
) -> WindowRecord:
    """Return the window of a composition with a known MP2020-scale energy (eV/atom)."""
    comp = Composition(formula)
    entry = ComputedEntry(comp, energy_per_atom * comp.num_atoms, entry_id="candidate")
    return stability_window(entry, references)
