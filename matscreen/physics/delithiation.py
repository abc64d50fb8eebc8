"""A candidate's own delithiated cell, the competitor its oxidation limit needs.

The oxidation limit of a Li compound is the Li chemical potential at which it
first gives up Li. For a compound whose metals can be oxidized (Fe2+, Mn3+,
Co3+, Ti3+ ...) the first way to give up Li is usually to stay in its own
framework: LiMnPO4 -> MnPO4 at ~4.1 V. The reference phases rarely include
those delithiated frameworks (heterosite MnPO4 is not one), so the phase
diagram can only release Li by breaking the compound apart, and the window's
upper end came out far too high (LiMnPO4: 4.94 V with CHGNet; LiFePO4 4.90 V
until trigonal FePO4 became a built-in reference).

:func:`delithiated_entry` builds the topotactically delithiated cell (the
Li the metals can pay for, :func:`~matscreen.screening.properties.removable_li`,
taken out; a partial removal orders the remaining Li over the Li sites with
:func:`~matscreen.candidates.ordering.order_structure`), relaxes it with the
same MLIP (cell and positions, cached on disk) and returns it on the MP2020
scale. :func:`window_with_delithiation` adds it to the references of the
window only (with the references' MLIP -> DFT shift) and takes from that
only a lower oxidation limit; the reduction limit, the hull and the
reaction energies are left as they were.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pymatgen.core import Composition, Structure
from pymatgen.entries.computed_entries import ComputedEntry

logger = logging.getLogger(__name__)

#: Entry id of the delithiated competitor (a window's products name it by formula).
DELITHIATED_ID = "candidate-delithiated"


def delithiated_cell(
    structure: Structure, nominal: Composition | None = None
) -> tuple[Structure | None, str]:
    """Return the cell with the removable Li taken out, and how it was made.

    Parameters
    ----------
    structure
        An ordered, lithiated cell.
    nominal
        The compound's own composition when the cell only approximates it (an
        ordered approximant of a disordered CIF, a template "realised as"
        another formula): no larger share of the Li leaves than its metals
        can pay for. An approximant's rounded counts can leave Ti slightly
        below 4+ in a compound that has none (Li0.4La0.6Ti0.8Al0.2O3 ordered
        as Li3La5Ti7AlO24); the cell alone would then be oxidised at the
        Ti3+/Ti4+ couple.

    Returns
    -------
    tuple
        The delithiated cell (None when no Li can leave: fixed-valence metals,
        metals already at their highest state) and a note ('' when None).
    """
    from matscreen.candidates.ordering import order_structure
    from matscreen.screening.properties import removable_li

    comp = structure.composition
    li_sites = [i for i, site in enumerate(structure) if site.specie.symbol == "Li"]
    n_li = len(li_sites)
    if n_li == 0:
        return None, ""
    share = None  # of the Li that the compound's own metals can pay for
    if nominal is not None and nominal["Li"] > 0:
        share = removable_li(nominal) / nominal["Li"]
        if share < 1e-9:  # before the cell's counts, which may not even balance
            return None, ""
    try:
        removable = removable_li(comp)  # per cell: comp is the cell's
    except ValueError:
        if share is None:
            raise
        removable = n_li * share
    if share is not None:
        removable = min(removable, n_li * share)
    # Li left in the cell: whole atoms, rounded up (never more oxidised than the metals allow)
    kept = math.ceil(n_li - removable - 1e-6)
    if kept >= n_li:
        return None, ""
    if kept <= 0:
        cell = structure.copy()
        cell.remove_sites(li_sites)
        if len(cell) == 0:
            return None, ""
        return cell, f"all {n_li} Li of the cell removed"
    partial = structure.copy()
    for i in li_sites:
        partial.replace(i, {"Li": kept / n_li}, properties=None)
    ordered = order_structure(partial).structure  # one Li site in n_li: the 1x1x1 cell fits
    host = next(el for el in comp if el.symbol != "Li")
    scale = ordered.composition[host] / comp[host]  # a supercell multiplies the cell
    if abs(ordered.composition["Li"] - kept * scale) > 1e-6:  # pragma: no cover - a safeguard
        raise ValueError(f"ordering kept {ordered.composition['Li']:g} Li, not {kept * scale:g}")
    return ordered, f"{n_li - kept} of {n_li} Li of the cell removed, the rest Ewald-ordered"


def delithiated_entry(
    structure: Structure,
    calculator: Any,
    *,
    fmax: float = 0.05,
    steps: int = 300,
    nominal: Composition | None = None,
) -> tuple[ComputedEntry | None, str]:
    """Return the relaxed delithiated cell of ``structure`` as an MP2020-scale entry.

    Parameters
    ----------
    structure
        The candidate's cell (its relaxed cell is the natural input).
    calculator
        The registry MLIP (name or calculator) that placed the candidate.
    fmax, steps
        Relaxation settings, as for the candidate.
    nominal
        The compound's own composition (see :func:`delithiated_cell`).

    Returns
    -------
    tuple
        The entry (id :data:`DELITHIATED_ID`) or None, and a note: how the
        cell was made, or why there is none (no removable Li, the
        relaxation failed). Never raises for a bad cell.
    """
    from matscreen.physics.calculators import calculator_info, resolve_calculator
    from matscreen.physics.hull import to_mp2020_entry
    from matscreen.physics.relax_cache import cached_relax

    try:
        cell, how = delithiated_cell(structure, nominal)
    except Exception as exc:  # noqa: BLE001 - the window goes on without it
        return None, f"no delithiated cell ({exc})"
    if cell is None:
        return None, ""
    calc = resolve_calculator(calculator)
    rec = cached_relax(cell, calc, fmax=fmax, steps=steps)
    # as the MLIP voltage path: a relaxation stopped at its step cap still gives an energy
    if rec.energy_per_atom is None or (rec.error and not rec.error.startswith("not converged")):
        return None, f"delithiated cell {cell.composition.reduced_formula} failed: {rec.error}"
    try:
        entry = to_mp2020_entry(
            rec.structure, rec.energy_per_atom, calculator_info(calc), entry_id=DELITHIATED_ID
        )
    except Exception as exc:  # noqa: BLE001
        return None, f"delithiated cell {cell.composition.reduced_formula}: {exc}"
    logger.info(
        "%s: delithiated cell %s relaxed (%s, %d steps)",
        structure.composition.reduced_formula, cell.composition.reduced_formula, how, rec.steps,
    )  # fmt: skip
    return entry, how


def window_with_delithiation(
    entry: ComputedEntry,
    references: list[ComputedEntry],
    structure: Structure | None,
    calculator: Any,
    *,
    fmax: float = 0.05,
    steps: int = 300,
    nominal: Composition | None = None,
) -> tuple[Any, str]:
    """Return the stability window of ``entry`` with its own delithiated cell competing.

    Parameters
    ----------
    entry
        The candidate on the MP2020 scale of ``references``.
    references
        The hull's reference entries.
    structure
        The candidate's relaxed cell; None: the window of ``references`` alone.
    calculator
        The registry MLIP that relaxed it.
    fmax, steps
        Relaxation settings of the delithiated cell.
    nominal
        The compound's own composition when ``structure`` approximates it
        (see :func:`delithiated_cell`).

    Returns
    -------
    tuple
        The :class:`~matscreen.physics.window.WindowRecord` and a note for the
        row: which delithiated phase sets the oxidation limit, or why none
        could be built (the limit may then be too high); '' otherwise.
    """
    from matscreen.physics.window import stability_window

    before = stability_window(entry, references)
    extra, how = (
        (None, "")
        if structure is None or before.status != "ok"
        else delithiated_entry(structure, calculator, fmax=fmax, steps=steps, nominal=nominal)
    )
    if extra is None:
        note = f"{how}; the oxidation limit may be too high" if how else ""
        return before, note
    fitted = getattr(references, "correction", None)  # the MLIP -> DFT shift of the references
    if fitted is not None:  # and of the candidate (hull_record applied it to its energy)
        extra = fitted.apply(extra)
    after = stability_window(entry, [*references, extra])
    # Only the oxidation limit is taken from the enlarged set: the candidate is lowered onto
    # each hull separately, and a delithiated cell in its decomposition would lower it further
    # (a wider window). The reduction side, Li-richer than the candidate, is left as it was.
    high = after.window_high_V if after.status == "ok" else None
    if high is None or (before.window_high_V is not None and high >= before.window_high_V - 1e-3):
        return before, ""
    formula = extra.composition.reduced_formula
    was = "none" if before.window_high_V is None else f"{before.window_high_V:.2f} V"
    window = before.model_copy(
        update={"window_high_V": high, "oxidation_products": after.oxidation_products}
    )
    return window, (
        f"oxidation limit set by its own delithiation to {formula} ({how}, relaxed; "
        f"without it: {was})"
    )


__all__ = ["DELITHIATED_ID", "delithiated_cell", "delithiated_entry", "window_with_delithiation"]
