"""Table-level entry points behind ``matscreen predict stability|voltage``.

Both functions take a DataFrame, keep every input column and row (in order)
and add result columns; a row that cannot be handled gets
``status="failed"`` and a one-line ``error`` while the others are unaffected.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Structure

from matscreen.core.errors import join_notes
from matscreen.core.formula import display_formula
from matscreen.core.io import is_missing, keep_none
from matscreen.physics.references import BINARY_ANIONS

if TYPE_CHECKING:
    from collections.abc import Collection

    from pymatgen.entries.computed_entries import ComputedEntry

logger = logging.getLogger(__name__)

ANION_SYMBOLS = set(BINARY_ANIONS)
STABILITY_COLUMNS = [
    "status",
    "error",
    "result_note",
    "e_form_per_atom",
    "e_above_hull",
    "decomposition",
    "hull_complete",
    "hull_missing",
    "window_low_V",
    "window_high_V",
    "energy_per_atom",
    "method",
    "calculator",
    "calculator_version",
    "ordering",
]
VOLTAGE_COLUMNS = [
    "status",
    "error",
    "result_note",
    "voltage",
    "voltage_std",
    "method",
    "capacity_mAh_g",
    "energy_density_Wh_kg",
    "volume_change_pct",
    "mn3_fraction_discharge",
    "calculator",
    "calculator_version",
    "ordering",
]


def _reason(exc: Exception) -> str:
    """Return the ``error`` text of a failed row.

    The message alone for an input error (ValueError, as the conductivity
    table gives it); the exception type and message otherwise.
    """
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


def _read_structure(value: Any, base_dir: Path | None = None) -> Structure:
    """Read a structure cell: Structure, Atoms, dict, JSON string or CIF path."""
    from matscreen.core.io import to_structure

    return to_structure(value, base_dir)


def _row_structure(
    row: pd.Series, names: tuple[str, ...], base_dir: Path | None
) -> tuple[Structure | None, str]:
    """Return a row's structure, ordered when it has partial occupancies, and how.

    A disordered structure (a CIF with mixed or partly occupied sites, as most
    solid-electrolyte CIFs are) is replaced by its Ewald-ranked ordered
    approximant (:func:`~matscreen.candidates.ordering.order_structure`); the
    second value says what was done ('' for an ordered input).
    """
    from matscreen.candidates.ordering import order_structure

    for name in names:
        if name in row.index and not is_missing(row[name]):
            structure = _read_structure(row[name], base_dir)
            if structure.is_ordered:
                return structure, ""
            ordered = order_structure(structure)
            # what the CIF says, besides the approximant's rounded counts (the delithiation
            # of the window takes what the real compound's metals can pay for)
            ordered.structure.properties["input_formula"] = structure.composition.formula
            return ordered.structure, ordered.note
    return None, ""


def _nominal(formula: Any, structure: Structure | None, comp: Composition) -> Composition:
    """Return the composition a row states: its formula, else its CIF's, else ``comp``.

    A refined CIF's occupancies often do not balance (OBELiX lud,
    Li0.4La0.6Ti0.8Al0.2O3, has Ti at 3.83+ as written), and its ordered
    approximant rounds them again: the formula says what the compound is.
    """
    from matscreen.featurize.composition import as_composition

    if structure is not None and not is_missing(formula):
        try:
            return as_composition(str(formula))
        except (ValueError, KeyError):
            pass  # a label in the formula column: the structure's own composition
    given = structure.properties.get("input_formula") if structure is not None else None
    return as_composition(given) if given else comp


def is_li_ionic(comp: Composition) -> bool:
    """Return True for Li-containing compounds with an anion (a Li window is meaningful)."""
    symbols = {el.symbol for el in comp}
    return "Li" in symbols and bool(symbols & ANION_SYMBOLS) and len(symbols) > 1


class _References:
    """Reference entries per chemical system: the shared cache for a name, else per call.

    Cation-anion pairs without a binary reference get prototype binaries
    (:func:`~matscreen.physics.references.binary_prototype_references`): a
    structure given here may come from any chemistry.
    """

    def __init__(self, calculator: Any) -> None:
        self.calculator = calculator
        self._cache: dict[tuple[str, ...], list[ComputedEntry]] = {}

    def get(self, symbols: set[str]) -> list[ComputedEntry]:
        from matscreen.physics.hull import (
            cached_reference_entries,
            generated_references,
            reference_entries,
        )

        key = tuple(sorted(symbols))
        if isinstance(self.calculator, str):
            return cached_reference_entries(self.calculator, key, prototype_binaries=True)
        if key not in self._cache:
            extra = generated_references(key, prototype_binaries=True)
            self._cache[key] = reference_entries(
                key, self.calculator, extra_structures=extra or None
            )
        return self._cache[key]


def _rows(df: pd.DataFrame, desc: str, progress: bool | None) -> Any:
    """``df.iterrows()`` behind a tqdm bar (``progress`` None: only on a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(
        df.iterrows(), total=len(df), desc=desc, unit="row",
        disable=None if progress is None else not progress,
    )  # fmt: skip


def _template_hull(
    comp: Composition,
    calc: Any,
    references: list[ComputedEntry],
    leave_out: Collection[str] = (),
    **relax_settings: Any,
) -> tuple[Any, str, str, Structure | None]:
    """Place a formula on the hull through trial structures of its stoichiometry.

    Each structure of :func:`~matscreen.physics.templates.template_structures`
    (``leave_out``: template names not used) is relaxed and placed; the lowest
    energy per atom wins.

    Returns
    -------
    tuple
        The winning hull record, a note naming it (the hull is an upper
        bound: the real compound may take another structure type), how
        its cell was ordered from shared sites ('' for an exact match) and
        its relaxed cell (None when not relaxed).

    Raises
    ------
    ValueError
        If no structure type of the stoichiometry is known or none could be placed.
    """
    from matscreen.physics.hull import structure_hull
    from matscreen.physics.templates import template_structures

    unused: list[str] = []
    trials = template_structures(comp, reasons=unused, leave_out=leave_out)
    if not trials and unused:
        raise ValueError(
            f"no structure for {display_formula(comp)} and no reference phase of that formula; "
            f"its structure types could not hold it ({'; '.join(unused)}); give a structure (a CIF)"
        )
    if not trials:
        raise ValueError(
            f"no structure for {display_formula(comp)}, no reference phase of that formula and no "
            f"known structure type of its stoichiometry ({comp.anonymized_formula}); give a "
            "structure (a CIF)"
        )
    placed = []
    reasons = []
    # minutes per trial on a CPU for the larger ordered cells: say what is running
    logger.info(
        "%s: %d trial structure(s): %s", display_formula(comp), len(trials),
        ", ".join(f"{label.split(';')[0]} ({len(trial)} atoms)" for label, trial in trials),
    )  # fmt: skip
    relaxed: list[Any] = [None] * len(trials)
    if relax_settings.get("relax", True) and len(trials) > 1:
        from matscreen.physics.relax_cache import cached_relax_together

        relaxed = cached_relax_together(  # together: batched CHGNet
            [trial for _, trial in trials], calc,
            fmax=relax_settings.get("fmax", 0.05), steps=relax_settings.get("steps", 300),
        )  # fmt: skip
    for (label, trial), done in zip(trials, relaxed, strict=True):
        hull, rec = structure_hull(
            trial, calc, references=references, relaxed=done, **relax_settings
        )
        if hull.status == "ok":
            converged = rec is None or rec.status == "ok"
            ordering = trial.properties.get("ordering", "")
            cell = rec.structure if rec is not None else None
            placed.append((not converged, hull.energy_per_atom, label, hull, ordering, cell))
        else:
            reasons.append(f"{label}: {hull.error}")
    if not placed:
        raise ValueError(
            f"no trial structure of {display_formula(comp)} placed: {'; '.join(reasons)}"
        )
    # converged relaxations first: an unfinished one is no upper bound
    unconverged, _, label, hull, ordering, cell = min(placed, key=lambda p: (p[0], p[1]))
    how = "relaxed" if relax_settings.get("relax", True) else "unrelaxed"
    note = (
        f"no structure given: {label}, {how} (lowest of {len(placed)} structure type(s) "
        "tried); e_above_hull is an upper bound"
    )
    if unconverged and hull.note:
        note += f"; {hull.note}"
    return hull, note, ordering, cell


_Read = tuple[Structure | None, str] | Exception


def _read_row_structures(
    df: pd.DataFrame, base: Path | None, columns: tuple[str, str] = ("structure", "cif")
) -> list[_Read]:
    """Each row's ``(structure, ordering)`` (None without one), or why it cannot be read."""
    read: list[_Read] = []
    for _, row in df.iterrows():
        try:
            read.append(_row_structure(row, columns, base))
        except Exception as exc:  # noqa: BLE001 - raised again as that row's failure
            read.append(exc)
    return read


def _given(read: list[_Read], tag: str | None = None) -> dict[Any, Structure]:
    """Return the structures read, keyed by row position (or ``(position, tag)``)."""
    return {
        (k if tag is None else (k, tag)): got[0]
        for k, got in enumerate(read)
        if not isinstance(got, Exception) and got[0] is not None
    }


def _rows_from(given: dict[Any, Structure], start: int, stop: int) -> dict[Any, Structure]:
    """Return the structures of ``given`` whose row (the key, or its first item) is in a range.

    A long table is relaxed a part at a time, just before its rows: ``[start, stop)``.
    """
    return {
        key: s
        for key, s in given.items()
        if start <= (key[0] if isinstance(key, tuple) else key) < stop
    }


def _relax_given_structures(
    given: dict[Any, Structure],
    calculator: Any,
    device: str,
    fmax: float,
    steps: int,
) -> dict[Any, Any]:
    """Relax the rows' given structures together; ``{key: RelaxRecord}``.

    Only structures the MLIP covers; fewer than two are left to the row itself
    (:func:`~matscreen.physics.relax_cache.cached_relax`, the same cache).
    """
    from matscreen.physics.calculators import resolve_calculator, unsupported_elements
    from matscreen.physics.relax_cache import cached_relax_together

    if len(given) < 2:
        return {}
    calc = resolve_calculator(calculator, device=device)
    given = {
        k: s
        for k, s in given.items()
        if not unsupported_elements(calc, {el.symbol for el in s.composition.element_composition})
    }
    if len(given) < 2:
        return {}
    records = cached_relax_together(
        list(given.values()), calc, fmax=fmax, steps=steps, device=device
    )
    return dict(zip(given, records, strict=True))


def predict_stability_table(
    df: pd.DataFrame,
    *,
    calculator: Any = None,
    relax: bool = True,
    fmax: float = 0.05,
    steps: int = 300,
    window: bool = True,
    base_dir: str | Path | None = None,
    progress: bool | None = None,
    device: str = "auto",
) -> pd.DataFrame:
    """Add hull stability (and Li windows) to a table of candidates.

    Parameters
    ----------
    df
        Rows with ``formula`` and optionally ``structure`` (pymatgen
        ``Structure``, ASE ``Atoms``, Structure dict/JSON) or ``cif`` (path,
        relative to ``base_dir``).
    calculator
        ASE calculator or registry name for the structure path; None: the
        ``DEFAULT_CALCULATOR`` setting (``chgnet`` unless set).
    relax
        Relax structures before the hull (cell + positions).
    fmax, steps
        Relaxation settings.
    window
        Compute ``window_low_V``/``window_high_V`` for Li-containing ionic rows.
    base_dir
        Folder that relative ``cif`` paths refer to.
    progress
        Progress bar over the rows (tqdm); None: on a terminal only. False also
        logs each row at DEBUG only (the caller reports them, as
        :func:`~matscreen.core.predict.predict_file` does).
    device
        Torch device of a registry MLIP: ``auto`` (a GPU when torch sees one),
        ``cpu``, ``cuda``. The given structures are relaxed together (batched
        CHGNet, :func:`~matscreen.physics.relax_cache.cached_relax_together`),
        ``BATCH_CELLS`` (32) rows at a time, just before those rows.

    Returns
    -------
    pandas.DataFrame
        The input columns plus ``status``, ``error`` (why a row failed),
        ``result_note`` (what to know about an ``ok`` row), ``e_form_per_atom``,
        ``e_above_hull`` (eV/atom), ``decomposition`` (list of formulas),
        ``hull_complete`` and ``hull_missing`` (False and the elements whose
        competing compounds the references lack, when the decomposition
        leaves such an element as the element or it is in no reference
        compound: ``e_above_hull`` is then a lower bound, ``result_note``
        says so and the window is not computed; see
        :func:`~matscreen.physics.checks.hull_gap_record`), ``window_low_V``,
        ``window_high_V`` (V vs Li/Li+; the row's own delithiated cell competes
        for the oxidation limit when its metals can be oxidized, and ``result_note``
        says when it sets it,
        :func:`~matscreen.physics.delithiation.window_with_delithiation`; a row
        more than 0.1 eV/atom below its hull says in ``result_note`` that the window
        is too wide, :func:`~matscreen.physics.checks.below_hull_note`), ``energy_per_atom``
        (MP2020 scale), ``method`` (``mlip``, ``reference`` or ``template``),
        ``calculator``, ``calculator_version`` and ``ordering`` (how a
        structure with partial occupancies, or a template cell whose sites a
        doped formula shares, was ordered; '' otherwise). The
        hull of an ordered approximant is that of its own composition and
        has no configurational entropy: a disordered phase stabilised by
        entropy comes out somewhat above the hull.

    Notes
    -----
    Rows without a structure are matched to the lowest-energy reference
    phase of that composition (shipped MP entries, built-in references or
    known compounds), placed on the hull of all references, itself included
    (``e_above_hull`` 0 when that phase is stable, as for a structure of it;
    ``method`` ``reference``). Other composition-only rows take the known
    structure types of their stoichiometry (seeds/ prototypes, built-in
    reference structures and the known-compound library's cells, elements
    substituted, :mod:`matscreen.physics.templates`), each relaxed with the
    MLIP, the lowest kept (``method`` ``template``; ``result_note`` names it,
    and the hull is an upper bound); with no known type, the compound's own
    published cell (an OBELiX CIF) when there is one, else the row fails with
    a reason.
    """
    from matscreen.core.devices import resolve_device
    from matscreen.featurize.composition import as_composition
    from matscreen.physics.calculators import (
        calculator_info,
        resolve_calculator,
        unsupported_elements,
    )
    from matscreen.physics.checks import below_hull_note, hull_gap_record
    from matscreen.physics.delithiation import window_with_delithiation
    from matscreen.physics.hull import hull_record, lowest_entry, structure_hull
    from matscreen.physics.references import AUTO_PREFIX
    from matscreen.physics.relax_cache import BATCH_CELLS
    from matscreen.physics.templates import MAX_DOPED_ELEMENTS

    base = Path(base_dir) if base_dir is not None else None
    out = df.copy()
    results: list[dict[str, Any]] = []
    device = resolve_device(device, fallback=True)
    calc = None
    refs = None
    read = _read_row_structures(df, base)
    given = _given(read) if relax else {}
    pre_relaxed: dict[Any, Any] = {}
    for k, (_, row) in enumerate(_rows(df, "stability", progress)):
        if given and k % BATCH_CELLS == 0:  # the next rows' given cells, relaxed together
            part = _rows_from(given, k, k + BATCH_CELLS)
            pre_relaxed = _relax_given_structures(part, calculator, device, fmax, steps)
        res: dict[str, Any] = dict.fromkeys(STABILITY_COLUMNS)
        res["decomposition"] = []
        try:
            if isinstance(read[k], Exception):
                raise read[k]
            structure, res["ordering"] = read[k]
            formula = row.get("formula")
            if structure is None and is_missing(formula):
                raise ValueError("row has neither a formula nor a structure")
            # unknown symbols (Xx), empty or non-finite amounts: a reason naming the formula
            comp = as_composition(structure if structure is not None else str(formula))
            if calc is None:
                calc = resolve_calculator(calculator, device=device)
                named = calculator is None or isinstance(calculator, str)  # a registry MLIP
                refs = _References(calculator_info(calc).name if named else calc)
            info = calculator_info(calc)
            res["calculator"], res["calculator_version"] = info.name, info.version
            symbols = {el.symbol for el in comp.element_composition}
            missing = unsupported_elements(calc, symbols)
            if missing:  # before the references, which would blame their own data
                raise ValueError(f"element(s) {', '.join(missing)} not covered by {info.name}")
            n_other = len(symbols - {"Li"})
            if structure is None and n_other > MAX_DOPED_ELEMENTS:  # before minutes of references
                raise ValueError(
                    f"no structure for {display_formula(comp)}; with {n_other} elements besides "
                    f"Li (more than {MAX_DOPED_ELEMENTS}) it is no reference phase and is not "
                    "matched to shared sites of known structure types; give a structure (a CIF)"
                )
            references = refs.get(symbols)
            template_note = None
            # a generated prototype is a competitor, not a stand-in for a given formula
            known = [r for r in references if AUTO_PREFIX not in (r.entry_id or "")]
            best = None if structure is not None else lowest_entry(known, comp)
            if structure is None and best is None:
                # no structure and no reference phase of the formula: the known structure
                # types of its stoichiometry, substituted and relaxed; the lowest is kept
                hull, template_note, res["ordering"], relaxed = _template_hull(
                    comp, calc, references, relax=relax, fmax=fmax, steps=steps
                )
                res["method"] = "template"
                entry_energy = hull.energy_per_atom
            elif structure is not None:
                hull, rec = structure_hull(
                    structure, calc, relax=relax, references=references, fmax=fmax,
                    steps=steps, relaxed=pre_relaxed.get(k),
                )  # fmt: skip
                res["method"] = "mlip"
                entry_energy = hull.energy_per_atom
                relaxed = rec.structure if rec is not None else None
            else:
                # the phase's place on the hull of every reference, itself included (as a
                # structure of it would be): 0 when it is stable, > 0 when metastable
                # (hull_record leaves out the references with the entry's id; a copy has none)
                probe = copy.deepcopy(best)
                probe.entry_id = None
                hull = hull_record(probe, references, info)
                res["method"] = "reference"
                res["calculator"] = (best.data or {}).get("calculator", "MP DFT (GGA/GGA+U)")
                res["calculator_version"] = (best.data or {}).get("calculator_version", "MP2020")
                entry_energy = best.energy_per_atom
                # an MLIP-relaxed reference can be delithiated on its own energy scale; an MP
                # DFT entry's delithiated phases are MP entries themselves (relax=False: no
                # cell here, as the other rows have none then)
                mlip_ref = "calculator" in (best.data or {}) and relax
                relaxed = getattr(best, "structure", None) if mlip_ref else None
            if hull.status != "ok":
                raise ValueError(hull.error or "hull failed")
            gap_columns, gap_note = hull_gap_record(symbols, references, hull.decomposition or ())
            res.update(
                status="ok",
                result_note=join_notes(template_note, gap_note, hull.note),
                e_form_per_atom=hull.e_form_per_atom,
                e_above_hull=hull.e_above_hull,
                decomposition=hull.decomposition,
                energy_per_atom=entry_energy,
                **gap_columns,
            )
            if window and is_li_ionic(comp) and gap_note:  # as the screening's physics stage
                res["result_note"] += "; window not computed"
            elif window and is_li_ionic(comp):
                from pymatgen.entries.computed_entries import ComputedEntry

                # entry_energy is already on the MP2020 scale of the references
                entry = ComputedEntry(comp, entry_energy * comp.num_atoms, entry_id="candidate")
                w, delith_note = window_with_delithiation(
                    entry, references, relaxed, calc, fmax=fmax, steps=steps,
                    nominal=_nominal(formula, structure, comp),
                )  # fmt: skip
                if w.status == "ok":
                    res["window_low_V"], res["window_high_V"] = w.window_low_V, w.window_high_V
                else:
                    delith_note = f"window: {w.error}"
                res["result_note"] = join_notes(res["result_note"], delith_note)
            windowed = res["window_low_V"] is not None
            below = below_hull_note(hull.e_above_hull, "the window too wide" if windowed else "")
            res["result_note"] = join_notes(res["result_note"], below)
        except Exception as exc:  # noqa: BLE001 - one bad row must not stop the table
            (logger.warning if progress is not False else logger.debug)(
                "stability row %d/%d failed: %s", len(results) + 1, len(df), exc
            )
            res.update(status="failed", error=_reason(exc), decomposition=None)
        else:
            (logger.info if len(df) > 1 and progress is not False else logger.debug)(
                "stability row %d/%d: %s e_above_hull %.3f eV/atom (%s)",
                len(results) + 1, len(df), display_formula(comp), res["e_above_hull"],
                res["method"],
            )  # fmt: skip
        results.append(res)
    for col in STABILITY_COLUMNS:
        out[col] = keep_none([r[col] for r in results], out.index)
    return out


def _is_pair(row: pd.Series, charged: Structure, discharged: Structure) -> bool:
    """Whether a row's formulas (where given) and cells are each an insertion pair."""
    from matscreen.physics.voltage import insertion_pair

    formulas = (row.get("formula_charge"), row.get("formula_discharge"))
    try:
        insertion_pair(charged.composition, discharged.composition)
        if not any(is_missing(f) for f in formulas):
            insertion_pair(str(formulas[0]), str(formulas[1]))
    except Exception:  # noqa: BLE001 - the row's own pass says why
        return False
    return True


def predict_voltage_table(
    df: pd.DataFrame,
    *,
    calculator: Any = None,
    relax: bool = True,
    fmax: float = 0.05,
    steps: int = 300,
    base_dir: str | Path | None = None,
    surrogate: Any = None,
    progress: bool | None = None,
    device: str = "auto",
) -> pd.DataFrame:
    """Add average voltages to a table of electrode pairs.

    Parameters
    ----------
    df
        Rows with ``formula_charge`` and ``formula_discharge``; optionally
        ``structure_charge``/``structure_discharge`` (objects) or
        ``cif_charge``/``cif_discharge`` (paths).
    calculator
        ASE calculator or registry name for rows with both structures; None:
        the ``DEFAULT_CALCULATOR`` setting (``chgnet`` unless set).
    relax, fmax, steps
        Relaxation settings of the MLIP path.
    base_dir
        Folder that relative CIF paths refer to.
    surrogate
        A fitted :class:`~matscreen.physics.voltage.VoltageSurrogate` for
        composition-only rows; default: trained on the shipped data.
    progress
        Progress bar over the rows (tqdm); None: on a terminal only. False also
        logs each row at DEBUG only (the caller reports them, as
        :func:`~matscreen.core.predict.predict_file` does).
    device
        Torch device of a registry MLIP (``auto``: a GPU when torch sees one).
        The pairs' structures are relaxed together, 16 rows (32 cells) at a
        time, just before those rows.

    Returns
    -------
    pandas.DataFrame
        The input plus ``status``, ``error`` (why a row failed), ``result_note``
        (an ``ok`` row's caveats: an extrapolation of the surrogate, a CIF on
        one side only), ``voltage`` (V vs Li/Li+),
        ``voltage_std`` (ensemble spread of the surrogate and its training
        label noise in quadrature; NaN for the MLIP),
        ``method`` (``surrogate``/``mlip``), capacity (mAh/g of the discharged
        material), energy density (Wh/kg, voltage x capacity), Mn3+ fraction,
        and for MLIP rows volume change (%) and ``ordering`` (as in
        :func:`predict_stability_table`).
    """
    from matscreen.core.devices import resolve_device
    from matscreen.physics.relax_cache import BATCH_CELLS
    from matscreen.physics.voltage import (
        default_voltage_surrogate,
        insertion_pair,
        mlip_voltage,
        mn3_fraction,
        pair_capacity_mAh_g,
        pair_error,
    )

    base = Path(base_dir) if base_dir is not None else None
    out = df.copy()
    results: list[dict[str, Any]] = []
    surrogate_rows: list[int] = []
    device = resolve_device(device, fallback=True)
    read_c = _read_row_structures(df, base, ("structure_charge", "cif_charge"))
    read_d = _read_row_structures(df, base, ("structure_discharge", "cif_discharge"))
    pre_relaxed: dict[Any, Any] = {}
    pairs: dict[Any, Structure] = {}
    if relax:
        given_c, given_d = _given(read_c, "c"), _given(read_d, "d")
        both = {  # the others take the surrogate, or fail before any relaxation
            k for k, _ in given_c
            if (k, "d") in given_d
            and _is_pair(df.iloc[k], given_c[(k, "c")], given_d[(k, "d")])
        }  # fmt: skip
        pairs = {key: s for key, s in {**given_c, **given_d}.items() if key[0] in both}
    rows_per_part = BATCH_CELLS // 2  # two cells a row
    for i, (_, row) in enumerate(_rows(df, "voltage", progress)):
        if pairs and i % rows_per_part == 0:  # the next rows' pairs, relaxed together
            part = _rows_from(pairs, i, i + rows_per_part)
            pre_relaxed = _relax_given_structures(part, calculator, device, fmax, steps)
        res: dict[str, Any] = dict.fromkeys(VOLTAGE_COLUMNS)
        try:
            for got in (read_c[i], read_d[i]):
                if isinstance(got, Exception):
                    raise got
            s_c, note_c = read_c[i]  # type: ignore[misc]
            s_d, note_d = read_d[i]  # type: ignore[misc]
            res["ordering"] = "; ".join(
                f"{side}: {note}" for side, note in (("charge", note_c), ("discharge", note_d))
                if note
            )  # fmt: skip
            f_c = row.get("formula_charge")
            f_d = row.get("formula_discharge")
            if is_missing(f_c) and s_c is not None:
                f_c = s_c.composition.formula
            if is_missing(f_d) and s_d is not None:
                f_d = s_d.composition.formula
            if is_missing(f_c) or is_missing(f_d):
                raise ValueError("row needs formula_charge and formula_discharge")
            insertion_pair(str(f_c), str(f_d))  # validates the pair
            if s_c is not None and s_d is not None:
                rec = mlip_voltage(
                    s_d, s_c, calculator, relax=relax, fmax=fmax, steps=steps, device=device,
                    relaxed=(pre_relaxed.get((i, "d")), pre_relaxed.get((i, "c"))),
                )  # fmt: skip
                if rec.status != "ok":
                    raise ValueError(rec.error)
                res.update(
                    status="ok",
                    voltage=rec.voltage,
                    voltage_std=np.nan,
                    method="mlip",
                    capacity_mAh_g=rec.capacity_mAh_g,
                    energy_density_Wh_kg=rec.energy_density_Wh_kg,
                    volume_change_pct=rec.volume_change_pct,
                    mn3_fraction_discharge=rec.mn3_fraction_discharge,
                    calculator=rec.calculator,
                    calculator_version=rec.calculator_version,
                    result_note=rec.note,
                )
            else:
                res.update(
                    method="surrogate",
                    calculator="VoltageSurrogate (ridge + extra trees)",
                    calculator_version="cathode_voltages/train.csv",
                    mn3_fraction_discharge=mn3_fraction(str(f_d)),
                )
                res["_pair"] = (str(f_c), str(f_d))
                surrogate_rows.append(i)
        except Exception as exc:  # noqa: BLE001
            (logger.warning if progress is not False else logger.debug)(
                "voltage row %d/%d failed: %s", i + 1, len(df), exc
            )
            res.update(status="failed", error=_reason(exc))
        results.append(res)
    if surrogate_rows:
        model = surrogate if surrogate is not None else default_voltage_surrogate()
        pairs = [results[i]["_pair"] for i in surrogate_rows]
        mean, std = model.predict(pairs, return_std=True)
        notes = model.domain_notes(pairs) if hasattr(model, "domain_notes") else [None] * len(pairs)
        for i, m, s, note in zip(surrogate_rows, mean, std, notes, strict=True):
            if np.isfinite(m):
                capacity = pair_capacity_mAh_g(*results[i]["_pair"])
                results[i].update(
                    status="ok", voltage=float(m), voltage_std=float(s), capacity_mAh_g=capacity,
                    energy_density_Wh_kg=capacity * float(m),
                    result_note=join_notes(results[i].get("result_note"), note),
                )  # fmt: skip
            else:
                reason = pair_error(*results[i]["_pair"]) or (
                    "could not featurize the formulas (an element without composition data)"
                )
                results[i].update(
                    status="failed", error=reason, method=None, calculator=None,
                    calculator_version=None, mn3_fraction_discharge=None,
                )  # fmt: skip
    for col in VOLTAGE_COLUMNS:
        out[col] = keep_none([r.get(col) for r in results], out.index)
    return out
