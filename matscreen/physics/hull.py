"""Energy above the convex hull with MLIP energies and MP-compatible references.

Method (details in ``matscreen/physics/README.md``): every energy that meets
the hull is put on the MP2020-compatible scale. CHGNet 0.3.0 already predicts
MP2020-corrected energies; SevenNet-0 predicts raw GGA/GGA+U energies, to
which :func:`to_mp2020_entry` applies ``MaterialsProject2020Compatibility``.
The reference phases are the shipped MP entries of the chemical system (DFT),
MP's elemental references (DFT) and, for chemistries without shipped MP
entries, built-in reference structures relaxed with the same MLIP
(:mod:`matscreen.physics.references`).

An MLIP candidate on a hull of DFT references gets an MLIP -> DFT energy
correction fitted on the shipped MP entries of its system (their DFT energies
against static MLIP energies of the same structures, never on the candidate):
per-element shifts plus a local composition-kernel term whose strength and
length scale are chosen by leave-one-out on those references
(:func:`fit_energy_correction`, :class:`LocalShiftFitter`).
"""

import logging
import time
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Element, Structure
from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

from matscreen.core.io import to_structure
from matscreen.physics.calculators import (
    CalculatorInfo,
    calculator_info,
    resolve_calculator,
)
from matscreen.physics.references import (
    AUTO_PREFIX,
    BUILTIN_REFERENCES,
    DATA_DIR,
    ReferenceCache,
    _structure_hash,
    binary_prototype_references,
    builtin_reference_elements,
    builtin_reference_formula,
    builtin_reference_structure,
    known_compound_element_sets,
    known_compound_references,
    load_mp_entries,
    mp_elemental_references,
    relaxed_reference,
    substituted_halide_references,
)

logger = logging.getLogger(__name__)

# MP2020 Hubbard U values (eV) for oxides and fluorides, as in MP's GGA+U runs
MP_U_VALUES: dict[str, float] = {
    "Co": 3.32,
    "Cr": 3.7,
    "Fe": 5.3,
    "Mn": 3.9,
    "Mo": 4.38,
    "Ni": 6.2,
    "V": 3.25,
    "W": 6.2,
}


class HullRecord(BaseModel):
    """Thermodynamic stability of one composition/structure against reference phases."""

    formula: str = Field(description="Reduced formula.")
    status: Literal["ok", "failed"] = Field(description="'ok' or 'failed'.")
    error: str | None = Field(None, description="Reason for failure; None when ok.")
    note: str | None = Field(
        None, description="What to know about an ok record (a relaxation that did not converge)."
    )
    energy_per_atom: float | None = Field(
        None, description="Energy in eV/atom on the MP2020-compatible scale."
    )
    e_form_per_atom: float | None = Field(
        None, description="Formation energy from the elemental references, eV/atom."
    )
    e_above_hull: float | None = Field(
        None, description="Energy above the reference hull, eV/atom (negative: below it)."
    )
    decomposition: list[str] = Field(
        default_factory=list, description="Reduced formulas of the hull phases it decomposes to."
    )
    decomposition_fractions: list[float] = Field(
        default_factory=list, description="Atomic fractions of the decomposition phases."
    )
    n_references: int = Field(0, description="Number of reference entries in the hull.")
    calculator: str | None = Field(None, description="Calculator name.")
    calculator_version: str | None = Field(None, description="Calculator model version.")


def mp_parameters(composition: Composition) -> dict[str, Any]:
    """Return MP-style calculation parameters (run type, Hubbard U) for a composition.

    GGA+U with MP's U values when the composition holds O or F together with
    one of Co, Cr, Fe, Mn, Mo, Ni, V, W; plain GGA otherwise.
    """
    symbols = {el.symbol for el in composition}
    if symbols & {"O", "F"} and symbols & set(MP_U_VALUES):
        hubbards = {s: MP_U_VALUES.get(s, 0.0) for s in symbols}
        return {"run_type": "GGA+U", "is_hubbard": True, "hubbards": hubbards}
    return {"run_type": "GGA", "is_hubbard": False, "hubbards": {}}


def to_mp2020_entry(
    structure: Structure | Composition | str,
    energy_per_atom: float,
    info: CalculatorInfo,
    *,
    entry_id: str | None = None,
) -> ComputedEntry:
    """Return an entry whose energy is on the MP2020-compatible scale.

    Parameters
    ----------
    structure
        Structure (gives a ``ComputedStructureEntry``; oxide type from bonds) or
        a composition/formula.
    energy_per_atom
        Calculator energy in eV/atom.
    info
        Calculator provenance; its ``energy_scale`` decides the correction.
    entry_id
        Optional id stored on the entry.

    Raises
    ------
    ValueError
        If the calculator's energy scale is unknown (e.g. EMT), or the MP2020
        scheme rejects the entry.
    """
    comp = structure.composition if isinstance(structure, Structure) else Composition(structure)
    energy = energy_per_atom * comp.num_atoms
    data = {"calculator": info.name, "calculator_version": info.version}
    kwargs = dict(parameters=mp_parameters(comp), data=data, entry_id=entry_id)
    if isinstance(structure, Structure):
        entry: ComputedEntry = ComputedStructureEntry(structure, energy, **kwargs)
    else:
        entry = ComputedEntry(comp, energy, **kwargs)
    if info.energy_scale == "mp2020_corrected":
        return entry
    if info.energy_scale == "mp_raw":
        import warnings

        from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            processed = MaterialsProject2020Compatibility(check_potcar=False).process_entry(entry)
        if processed is None:
            raise ValueError(f"MP2020 compatibility rejected {comp.reduced_formula}")
        return processed
    raise ValueError(
        f"calculator {info.name} has no MP-compatible energy scale; its energies cannot be "
        "placed on an MP convex hull"
    )


# --------------------------------------------------------------------------------------
# MLIP -> DFT energy correction, fitted on reference entries only
# --------------------------------------------------------------------------------------

CORRECTION_NAME = "MLIP-DFT per-element shift"
#: correction modes of :func:`reference_entries`; "near_hull" is the default (see README)
CorrectionMode = Literal["near_hull", "all", "none"]
NEAR_HULL_MAX_E = 0.1  # eV/atom: references within this of their DFT hull enter the fit
#: ridge penalty of the linear fallback (fewer than MIN_LOO_FIT fitted references)
CORRECTION_ALPHA = 1.0
#: hyper-parameter grid of :class:`LocalShiftFitter`, searched by leave-one-out on the
#: fitted references (never on a candidate): ridge penalty of the per-element shifts,
#: variance ratio of the local composition-kernel term (0: per-element shifts only) and
#: its length scale in atomic-fraction space
CORRECTION_ALPHAS = (0.1, 1.0, 10.0)
LOCAL_RATIOS = (0.0, 1.0, 4.0, 16.0)
LOCAL_LENGTH_SCALES = (0.05, 0.1, 0.2)
#: fewer fitted references than this: no grid search, per-element shifts with CORRECTION_ALPHA
MIN_LOO_FIT = 10


def fit_element_shifts(
    fractions: Any, residuals: Any, weights: Any = None, alpha: float = CORRECTION_ALPHA
) -> Any:
    """Ridge least squares ``residual ~ fractions @ delta`` (no intercept).

    Parameters
    ----------
    fractions
        (n, k) atomic fractions of the k elements in n reference entries.
    residuals
        (n,) ``E_DFT - E_MLIP`` per atom (eV/atom), both on the MP2020 scale.
    weights
        (n,) non-negative weights (default 1).
    alpha
        Ridge penalty; shifts of elements with little data shrink to 0.

    Returns
    -------
    numpy.ndarray
        (k,) per-element shifts, eV per atom of that element.
    """
    import numpy as np

    X = np.asarray(fractions, dtype=float)
    r = np.asarray(residuals, dtype=float)
    w = np.ones(len(r)) if weights is None else np.asarray(weights, dtype=float)
    A = X.T @ (X * w[:, None]) + alpha * np.eye(X.shape[1])
    return np.linalg.solve(A, X.T @ (w * r))


class ShiftFit(BaseModel):
    """A fitted MLIP -> DFT residual model over atomic fractions ``x`` (eV/atom).

    ``residual(x) = x @ shifts + sum_j coef_j * exp(-|x - points_j|^2 / (2 length_scale^2))``;
    without ``coef`` it is the per-element shift alone.
    """

    shifts: list[float] = Field(description="Per-element shifts, eV per atom of the element.")
    points: list[list[float]] = Field(default_factory=list, description="Fitted fractions.")
    coef: list[float] = Field(default_factory=list, description="Local-term weights, eV/atom.")
    length_scale: float | None = Field(None, description="Kernel length scale (fractions).")
    alpha: float = Field(description="Ridge penalty of the shifts (chosen or given).")
    ratio: float = Field(0.0, description="Local-term variance ratio (0: shifts only).")
    loo_rmse: float | None = Field(
        None, description="Leave-one-out RMSE on the fitted references, eV/atom."
    )
    n_fit: int = Field(description="Fitted references.")

    def predict(self, fractions: Any) -> Any:
        """Return the residual (eV/atom) at (m, k) or (k,) atomic fractions."""
        import numpy as np

        x = np.asarray(fractions, dtype=float)
        out = x @ np.asarray(self.shifts)
        if self.coef:
            d2 = ((x[..., None, :] - np.asarray(self.points)) ** 2).sum(-1)
            out = out + np.exp(-d2 / (2 * self.length_scale**2)) @ np.asarray(self.coef)
        return out


class LocalShiftFitter:
    """Fit MLIP -> DFT residuals with per-element shifts plus a local composition term.

    Model (a Gaussian process, of which the fit is the posterior mean):
    ``r_j = x_j @ delta + f(x_j) + eps_j`` with ``delta ~ N(0, s2 / alpha)``
    per element (the ridge of :func:`fit_element_shifts`), ``f`` a Gaussian-kernel
    process over atomic fractions with variance ``ratio * s2`` and length scale
    ``ell``, and noise ``eps_j ~ N(0, s2 / w_j)``. ``ratio = 0`` reproduces
    :func:`fit_element_shifts` exactly. The local term lets the correction follow
    MLIP errors that vary across the chemical system (e.g. CHGNet is ~70 meV/atom
    too high for Li2O2-like Li-O phases but ~10 meV/atom for Li-Ni-O ones) and
    decays to the per-element shift far from any fitted reference.

    ``(alpha, ratio, ell)`` are chosen on the grid by the weighted mean squared
    leave-one-out residual of the fitted references, in closed form
    (``[K^-1 r]_j / [K^-1]_jj``, Rasmussen & Williams 2006, eq. 5.12); ties keep
    the simpler model (grid order). :meth:`fit` with ``exclude`` refits without
    some references by an exact block downdate of ``K^-1`` (for leave-one-out
    benchmarks).

    Parameters
    ----------
    fractions, residuals, weights
        As in :func:`fit_element_shifts`; rows with weight 0 are not fitted.
    alphas, ratios, length_scales
        The grid.
    """

    def __init__(
        self,
        fractions: Any,
        residuals: Any,
        weights: Any = None,
        *,
        alphas: Sequence[float] = CORRECTION_ALPHAS,
        ratios: Sequence[float] = LOCAL_RATIOS,
        length_scales: Sequence[float] = LOCAL_LENGTH_SCALES,
    ) -> None:
        import numpy as np

        X = np.asarray(fractions, dtype=float)
        r = np.asarray(residuals, dtype=float)
        w = np.ones(len(r)) if weights is None else np.asarray(weights, dtype=float)
        self.rows = np.flatnonzero(w > 0)
        self.X, self.r, self.w = X[self.rows], r[self.rows], w[self.rows]
        self.combos = [
            (float(a), float(rho), float(ell) if rho > 0 else None)
            for a in alphas
            for rho in ratios
            for ell in (length_scales if rho > 0 else (None,))
        ]
        d2 = ((self.X[:, None, :] - self.X[None, :, :]) ** 2).sum(-1)
        lin = self.X @ self.X.T
        noise = np.diag(1.0 / self.w)
        self._inv = []
        for a, rho, ell in self.combos:
            K = lin / a + noise
            if rho > 0:
                K = K + rho * np.exp(-d2 / (2 * ell**2))
            self._inv.append(np.linalg.inv(K))
        self._inv_r = [Kinv @ self.r for Kinv in self._inv]

    def fit(self, exclude: Iterable[int] = ()) -> ShiftFit:
        """Return the best grid model, fitted without the rows (input indices) in ``exclude``."""
        import numpy as np

        pos = np.flatnonzero(np.isin(self.rows, np.fromiter(exclude, dtype=int)))
        keep = np.ones(len(self.rows), dtype=bool)
        keep[pos] = False
        X, r, w = self.X[keep], self.r[keep], self.w[keep]
        best = None
        for (a, rho, ell), Kinv, inv_r in zip(self.combos, self._inv, self._inv_r, strict=True):
            # K_kept^-1 = A - B C^-1 B^T with A, B, C the kept/dropped blocks of K^-1, so
            # K_kept^-1 r and its diagonal follow in O(n * n_dropped)
            coef, diag = inv_r, np.diag(Kinv)
            if len(pos):
                B = Kinv[:, pos][keep]
                CiBt = np.linalg.solve(Kinv[np.ix_(pos, pos)], B.T)
                coef = (inv_r - Kinv[:, pos] @ self.r[pos])[keep] - B @ (CiBt @ r)
                diag = diag[keep] - np.einsum("ij,ji->i", B, CiBt)
            loo = coef / diag
            score = float(np.sum(w * loo**2) / np.sum(w)) if len(r) else 0.0
            if best is None or score < best[0]:
                best = (score, a, rho, ell, coef)
        score, a, rho, ell, coef = best
        return ShiftFit(
            shifts=(X.T @ coef / a).tolist(),
            points=X.tolist() if rho > 0 else [],
            coef=(rho * coef).tolist() if rho > 0 else [],
            length_scale=ell,
            alpha=a,
            ratio=rho,
            loo_rmse=float(np.sqrt(score)),
            n_fit=len(r),
        )


class EnergyCorrection(BaseModel):
    """MLIP -> DFT energy correction (eV/atom): per-element shift plus an optional local term.

    ``E += sum_el x_el * shift_el + local(x)`` (see :class:`ShiftFit`). Fitted by
    :func:`fit_energy_correction` on reference entries that have both a DFT and
    an MLIP energy (never on a candidate); applied by :meth:`apply` to MLIP
    entries of the same calculator.
    """

    calculator: str
    calculator_version: str
    shifts: dict[str, float] = Field(description="eV per atom of each element.")
    mode: str = Field(description="'near_hull' or 'all' (which references were fitted).")
    n_fit: int = Field(description="Reference entries with non-zero weight in the fit.")
    elements: list[str] = Field(
        default_factory=list, description="Element order of the local term's fractions."
    )
    local_points: list[list[float]] = Field(
        default_factory=list, description="Atomic fractions of the fitted references."
    )
    local_coef: list[float] = Field(
        default_factory=list, description="Local-term weights (eV/atom); empty: shifts only."
    )
    length_scale: float | None = Field(None, description="Local-term length scale.")
    alpha: float | None = Field(None, description="Ridge penalty of the shifts.")
    loo_rmse: float | None = Field(
        None,
        description="Leave-one-out RMSE of the correction on the fitted references (eV/atom): "
        "the error typically left near the hull.",
    )

    def shift_per_atom(self, composition: Composition) -> float:
        """Return the energy correction (eV/atom) for a composition."""
        import numpy as np

        comp = Composition(composition)
        out = float(sum(comp.get_atomic_fraction(Element(el)) * d for el, d in self.shifts.items()))
        # the local term only where the fitted fractions describe the composition fully
        if self.local_coef and {el.symbol for el in comp} <= set(self.elements):
            x = np.array([comp.get_atomic_fraction(Element(el)) for el in self.elements])
            d2 = ((np.asarray(self.local_points) - x) ** 2).sum(-1)
            out += float(np.exp(-d2 / (2 * self.length_scale**2)) @ np.asarray(self.local_coef))
        return out

    def apply(self, entry: ComputedEntry) -> ComputedEntry:
        """Return a copy of an MLIP entry of this calculator with the shift added.

        DFT entries, entries of another calculator and entries already shifted
        are returned unchanged.
        """
        import copy

        from pymatgen.entries.computed_entries import ConstantEnergyAdjustment

        data = entry.data or {}
        if data.get("calculator") != self.calculator or any(
            a.name == CORRECTION_NAME for a in entry.energy_adjustments
        ):
            return entry
        value = self.shift_per_atom(entry.composition) * entry.composition.num_atoms
        new = copy.deepcopy(entry)
        new.energy_adjustments.append(
            ConstantEnergyAdjustment(value, name=CORRECTION_NAME, cls=None)
        )
        return new


class ReferenceSet(list):
    """A list of reference entries that also carries the fitted :class:`EnergyCorrection`.

    :func:`hull_record` applies ``correction`` to an MLIP candidate (a plain
    list of references means no correction).
    """

    correction: EnergyCorrection | None = None


def near_hull_weights(
    dft_entries: Sequence[ComputedEntry],
    extra_refs: Sequence[ComputedEntry] = (),
    max_e: float = NEAR_HULL_MAX_E,
) -> Any:
    """Return 1 for references within ``max_e`` of the hull of the DFT references, else 0."""
    import numpy as np

    pd = PhaseDiagram([*dft_entries, *extra_refs])
    return np.array(
        [float(pd.get_e_above_hull(e, allow_negative=True) <= max_e) for e in dft_entries]
    )


def correction_fitter(
    fractions: Any, residuals: Any, weights: Any, *, local: bool = True, alpha: float | None = None
) -> LocalShiftFitter:
    """Return the :class:`LocalShiftFitter` that :func:`fit_energy_correction` uses.

    With at least :data:`MIN_LOO_FIT` fitted references the grid is searched
    (``alpha`` fixes the ridge penalty, ``local=False`` drops the local term);
    with fewer, per-element shifts with ``alpha`` (default :data:`CORRECTION_ALPHA`).
    """
    import numpy as np

    if int((np.asarray(weights) > 0).sum()) < MIN_LOO_FIT:
        a = CORRECTION_ALPHA if alpha is None else alpha
        return LocalShiftFitter(fractions, residuals, weights, alphas=(a,), ratios=(0.0,))
    return LocalShiftFitter(
        fractions,
        residuals,
        weights,
        alphas=CORRECTION_ALPHAS if alpha is None else (alpha,),
        ratios=LOCAL_RATIOS if local else (0.0,),
    )


def fit_energy_correction(
    dft_entries: Sequence[ComputedEntry],
    mlip_entries: Sequence[ComputedEntry],
    *,
    mode: CorrectionMode = "near_hull",
    local: bool = True,
    alpha: float | None = None,
    elements: Iterable[str] | None = None,
    min_entries: int = 3,
) -> EnergyCorrection | None:
    """Fit the MLIP -> DFT energy correction on paired reference entries.

    Parameters
    ----------
    dft_entries, mlip_entries
        The same reference structures with DFT (MP2020) and MLIP (MP2020 scale)
        energies, in the same order.
    mode
        ``"near_hull"``: fit only the references within
        :data:`NEAR_HULL_MAX_E` of the DFT hull of these references (the MLIP
        error near the hull is what decides stability); ``"all"``: every
        reference; ``"none"``: return None.
    local
        Add the local composition-kernel term of :class:`LocalShiftFitter`
        (default; kept only where the leave-one-out search over the references
        prefers it); False: per-element shifts only.
    alpha
        Ridge penalty of the shifts; None (default) chooses it by leave-one-out
        on the references (:data:`CORRECTION_ALPHAS`), or uses
        :data:`CORRECTION_ALPHA` below :data:`MIN_LOO_FIT` fitted references.
    elements
        Elements to fit shifts for (default: those in the entries).
    min_entries
        Fewer fitted references than this gives None.
    """
    import numpy as np

    if mode == "none" or len(dft_entries) < min_entries:
        return None
    els = sorted(
        set(elements)
        if elements is not None
        else {el.symbol for e in dft_entries for el in e.composition}
    )
    X = np.array(
        [[e.composition.get_atomic_fraction(Element(s)) for s in els] for e in dft_entries]
    )
    r = np.array(
        [
            d.energy_per_atom - m.energy_per_atom
            for d, m in zip(dft_entries, mlip_entries, strict=True)
        ]
    )
    if mode == "near_hull":
        elem = mp_elemental_references()
        w = near_hull_weights(dft_entries, [elem[s] for s in els if s in elem])
    else:
        w = np.ones(len(r))
    if w.sum() < min_entries:
        return None
    fit = correction_fitter(X, r, w, local=local, alpha=alpha).fit()
    data = (mlip_entries[0].data or {}) if mlip_entries else {}
    return EnergyCorrection(
        calculator=str(data.get("calculator")),
        calculator_version=str(data.get("calculator_version")),
        shifts={s: float(d) for s, d in zip(els, fit.shifts, strict=True)},
        mode=mode,
        n_fit=fit.n_fit,
        elements=els,
        local_points=fit.points,
        local_coef=fit.coef,
        length_scale=fit.length_scale,
        alpha=fit.alpha,
        loo_rmse=fit.loo_rmse,
    )


def reference_entries(
    elements: Iterable[str],
    calculator: Any = None,
    *,
    mp_source: Literal["dft", "mlip", "none"] = "dft",
    builtins: bool = True,
    extra_structures: dict[str, Structure] | None = None,
    correction: CorrectionMode = "near_hull",
    local_correction: bool = True,
) -> list[ComputedEntry]:
    """Build the competing phases of a chemical system.

    Parameters
    ----------
    elements
        Symbols of the chemical system (e.g. ``["Li", "Y", "Cl"]``).
    calculator
        ASE calculator or registry name used for MLIP reference energies.
    mp_source
        ``"dft"``: shipped MP entries with their DFT energies; ``"mlip"``:
        their structures re-evaluated statically with ``calculator`` (cached);
        ``"none"``: skip them.
    builtins
        Add the built-in reference structures and the known Li compounds
        (:func:`~matscreen.physics.references.known_compound_references`) within
        the system, relaxed with ``calculator`` (cached; only for formulas the MP
        entries lack). A known compound that cannot be relaxed is left out with a
        warning.
    extra_structures
        More reference structures (name -> Structure), relaxed and cached; a
        generated prototype (name starting ``auto-``) that cannot be relaxed
        is left out with a warning.
    correction
        MLIP -> DFT energy correction (:func:`fit_energy_correction`), fitted on
        the shipped MP entries of the system (their DFT energies against static
        MLIP energies of the same structures, cached): ``"near_hull"``
        (default: references within 0.1 eV/atom of their DFT hull), ``"all"``
        or ``"none"``. Applied to the MLIP references here and, by
        :func:`hull_record`, to the MLIP candidate. Needs at least 3 MP
        entries in the system and a calculator on an MP energy scale; else none.
    local_correction
        Per-element shifts plus the local composition term of
        :class:`LocalShiftFitter`, hyper-parameters by leave-one-out on the
        references (default); False: per-element shifts only.

    Returns
    -------
    list[ComputedEntry]
        A :class:`ReferenceSet` (a list) of MP2020-scale entries, MP elemental
        references always included; ``.correction`` holds the fitted shift or None.
    """
    symbols = set(elements)
    entries: list[ComputedEntry] = []
    for sym in sorted(symbols):
        ref = mp_elemental_references().get(sym)
        if ref is None:
            raise ValueError(f"no elemental reference for {sym}")
        entries.append(ref)
    mp = load_mp_entries(symbols) if mp_source != "none" else []
    fitted: EnergyCorrection | None = None
    if mp and (mp_source == "mlip" or (correction != "none" and len(mp) >= 3)):
        calc = resolve_calculator(calculator)
        info = calculator_info(calc)
        mlip_mp: list[ComputedEntry] = []
        if info.energy_scale == "unknown" and mp_source == "mlip":
            raise ValueError(
                f"calculator {info.name} has no MP-compatible energy scale; its energies cannot "
                "be placed on an MP convex hull"
            )
        if info.energy_scale != "unknown":
            energies = static_energies(
                [e.structure for e in mp], calc, keys=[e.entry_id for e in mp]
            )
            mlip_mp = [
                to_mp2020_entry(e.structure, en, info, entry_id=e.entry_id)
                for e, en in zip(mp, energies, strict=True)
            ]
            if correction != "none":
                fitted = fit_energy_correction(
                    mp, mlip_mp, mode=correction, local=local_correction, elements=symbols
                )
        if mp_source == "mlip":
            mp = mlip_mp
    entries += mp
    have = {e.composition.reduced_formula for e in mp}
    todo: dict[str, Structure | str] = {}
    known: dict[str, Structure] = {}
    if builtins:
        for name in BUILTIN_REFERENCES:
            els = builtin_reference_elements(name)
            if els <= symbols and len(els) > 1 and builtin_reference_formula(name) not in have:
                todo[name] = name
        known = {
            name: struct
            for name, struct in known_compound_references(symbols).items()
            if struct.composition.reduced_formula not in have
        }
        todo |= known
    for name, struct in (extra_structures or {}).items():
        todo[name] = struct
    if todo:
        calc = resolve_calculator(calculator)
        info = calculator_info(calc)
        cache = ReferenceCache(info.name, info.version)  # read once for all of them
        cells = {
            name: builtin_reference_structure(item) if isinstance(item, str) else item
            for name, item in todo.items()
        }  # built once, for the log below and the relaxation
        _say_uncached(cells, cache, symbols)
        for name, cell in cells.items():
            try:
                rec = relaxed_reference(cell, calc, key=name, cache=cache)
            except RuntimeError as exc:
                if not (name.startswith(AUTO_PREFIX) or name in known):
                    raise  # built-ins and given structures must relax
                logger.warning("reference %s left out: %s", name, exc)
                continue
            s = Structure.from_dict(rec["structure"])
            entries.append(
                to_mp2020_entry(s, rec["energy_per_atom"], info, entry_id=f"{info.name}-{name}")
            )
    out = ReferenceSet(fitted.apply(e) for e in entries) if fitted else ReferenceSet(entries)
    out.correction = fitted
    return out


def _say_uncached(
    cells: dict[str, Structure], cache: ReferenceCache, symbols: Iterable[str]
) -> None:
    """Log, before a silent stretch, how many reference cells are relaxed now, once.

    A cached relaxation of another cell than the one built now (a builder or
    library cell changed since) counts as not cached: it is relaxed again.
    """
    new = [name for name, s in cells.items() if cache.fresh(name, _structure_hash(s)) is None]
    if new:
        generated = sum(name.startswith(AUTO_PREFIX) for name in new)
        what = (
            f" ({generated} of them named {AUTO_PREFIX}*: prototype cells generated for element "
            "pairs without a known binary)"
            if generated
            else ""
        )
        logger.info(
            "%s: %d reference cell(s) not cached yet, relaxed now with %s and kept for later "
            "runs%s: %s",
            "-".join(sorted(symbols)), len(new), cache.calc_name, what,
            ", ".join(new[:6]) + (", ..." if len(new) > 6 else ""),
        )  # fmt: skip


@lru_cache(maxsize=256)
def _reference_element_sets(symbols: frozenset[str]) -> tuple[frozenset[str], ...]:
    sets = [frozenset(el.symbol for el in e.composition) for e in load_mp_entries(symbols)]
    for name in BUILTIN_REFERENCES:
        els = builtin_reference_elements(name)
        if els <= symbols:
            sets.append(els)
    sets += known_compound_element_sets(symbols)
    return tuple(sets)


def covered_binary_pairs(elements: Iterable[str]) -> set[frozenset[str]]:
    """Element pairs of a system with a binary compound in the shipped MP entries or built-ins."""
    return {els for els in _reference_element_sets(frozenset(elements)) if len(els) == 2}


def uncovered_elements(elements: Iterable[str]) -> list[str]:
    """Elements that no compound among a system's shipped references contains.

    Known from the formulas alone, before any MLIP run: a candidate with
    such an element gets a hull that is only a lower bound
    (:func:`~matscreen.physics.checks.missing_reference_elements` on the
    entries that :func:`cached_reference_entries` builds says the same).

    Parameters
    ----------
    elements
        Symbols of the candidate.

    Returns
    -------
    list[str]
        Sorted symbols; empty when every element is in a reference compound
        (or the candidate is an element).
    """
    symbols = frozenset(elements)
    if len(symbols) < 2:
        return []
    covered = set().union(*(els for els in _reference_element_sets(symbols) if len(els) > 1))
    return sorted(symbols - covered)


@lru_cache(maxsize=64)
def cached_reference_entries(
    calculator: str,
    elements: tuple[str, ...],
    substitute_mx3: bool = False,
    prototype_binaries: bool = False,
) -> list[ComputedEntry]:
    """Return the reference entries of a chemical system for a registry calculator (cached).

    The one cache of :func:`reference_entries` shared by the physics checks of
    ``screen``, the design loop and the stability table.

    Parameters
    ----------
    calculator
        Registry name of the MLIP (``"chgnet"``, ``"sevenn"``).
    elements
        Sorted symbols of the chemical system.
    substitute_mx3
        Add scaled MX3 cells for trivalent metals whose halides have no
        built-in reference (:func:`~matscreen.physics.references.substituted_halide_references`).
    prototype_binaries
        Add prototype binaries for the cation-anion pairs with no binary
        reference (:func:`~matscreen.physics.references.binary_prototype_references`;
        relaxed with the MLIP on first use and cached, ~1-5 s each on a CPU).

    Returns
    -------
    list[ComputedEntry]
        As :func:`reference_entries`; shared between callers, do not mutate.
    """
    extra = generated_references(elements, substitute_mx3, prototype_binaries)
    return reference_entries(elements, calculator, extra_structures=extra or None)


def generated_references(
    elements: Iterable[str], substitute_mx3: bool = False, prototype_binaries: bool = False
) -> dict[str, Structure]:
    """Return the generated references of a system (see :func:`cached_reference_entries`)."""
    symbols = set(elements)
    extra = substituted_halide_references(symbols) if substitute_mx3 else {}
    if prototype_binaries:
        covered = covered_binary_pairs(symbols)
        covered |= {frozenset(el.symbol for el in s.composition) for s in extra.values()}
        extra.update(binary_prototype_references(symbols, covered))
    return extra


def static_energies(
    structures: Sequence[Structure],
    calculator: Any = None,
    *,
    keys: Sequence[str] | None = None,
    batch_size: int = 16,
) -> list[float]:
    """Return single-point energies per atom (eV/atom) of structures as given.

    CHGNet runs batched through the vectorised pass of
    :mod:`matscreen.physics.chgnet_batch`; other calculators one by one. With
    ``keys`` the results are cached on disk per calculator and version
    (``<cache_dir>/static_<name>.json``), so reruns are free.
    """
    from matscreen.core.io import add_to_versioned_cache, read_versioned_cache
    from matscreen.physics.references import cache_dir

    calc = resolve_calculator(calculator)
    info = calculator_info(calc)
    cache: dict[str, float] = {}
    path = cache_dir() / f"static_{info.name}.json" if keys is not None else None
    if path is not None:
        # shipped copy (static energies of the shipped MP entries) first, user cache on top
        for p in (DATA_DIR / f"static_mp_{info.name}.json", path):
            cache.update(read_versioned_cache(p, info.version, "energies"))
    out: list[float | None] = [
        cache.get(k) if keys is not None else None for k in (keys or [None] * len(structures))
    ]
    missing = [i for i, v in enumerate(out) if v is None]
    if missing:
        t0 = time.perf_counter()
        todo = [structures[i] for i in missing]
        from pymatgen.io.ase import AseAtomsAdaptor

        if info.name == "chgnet":  # vectorised CHGNet pass, energies only
            from matscreen.physics.chgnet_batch import batch_efs, build_batch_graph

            model, values = calc.model, []
            for k in range(0, len(todo), batch_size):
                atoms = [AseAtomsAdaptor.get_atoms(s) for s in todo[k : k + batch_size]]
                preds = batch_efs(model, build_batch_graph(model, atoms), forces=False)
                values += [float(p["e"]) for p in preds]
        else:
            values = []
            for s in todo:
                atoms = AseAtomsAdaptor.get_atoms(s)
                atoms.calc = calc
                values.append(float(atoms.get_potential_energy() / len(atoms)))
        logger.info(
            "%d static %s energies in %.1f s", len(todo), info.name, time.perf_counter() - t0
        )
        for i, v in zip(missing, values, strict=True):
            out[i] = v
        if keys is not None and path is not None:  # the user cache gets the new energies
            new = {keys[i]: out[i] for i in missing}
            header = {"calculator": info.name, "version": info.version}
            add_to_versioned_cache(path, header, "energies", new)
    return [float(v) for v in out]  # type: ignore[arg-type]


def lowest_entry(
    entries: Sequence[ComputedEntry], formula: str | Composition
) -> ComputedEntry | None:
    """Return the lowest-energy entry (per atom) of ``formula``'s composition, or None.

    Compositions are compared as atomic fractions (to 1e-4), so ``Li0.5Cl0.5``
    finds LiCl, as ``Li2Cl2`` does.
    """
    target = Composition(formula).fractional_composition
    match = [
        e
        for e in entries
        if e.composition.fractional_composition.almost_equals(target, rtol=0.0, atol=1e-4)
    ]
    return min(match, key=lambda e: e.energy_per_atom) if match else None


def hull_record(
    entry: ComputedEntry, references: Sequence[ComputedEntry], info: CalculatorInfo | None = None
) -> HullRecord:
    """Return the hull position of ``entry`` against ``references``.

    ``entry`` is not added to the hull itself: its energy above (or below,
    negative) the hull of ``references`` is reported, with the decomposition
    products at its composition. When ``references`` is a :class:`ReferenceSet`
    with a fitted ``correction`` (the default of :func:`reference_entries`), an
    MLIP ``entry`` of that calculator gets the per-element shift first
    (``energy_per_atom`` in the record is then the shifted energy).
    """
    formula = entry.composition.reduced_formula
    base = dict(
        formula=formula,
        calculator=info.name if info else None,
        calculator_version=info.version if info else None,
    )
    try:
        missing = {el.symbol for el in entry.composition} - {
            el.symbol for r in references for el in r.composition
        }
        if missing:
            raise ValueError(f"no reference entries for element(s) {sorted(missing)}")
        fitted = getattr(references, "correction", None)
        if fitted is not None:
            entry = fitted.apply(entry)
        refs = [r for r in references if r.entry_id is None or r.entry_id != entry.entry_id]
        pd = PhaseDiagram(
            refs,
            elements=[
                Element(s) for s in sorted({el.symbol for r in refs for el in r.composition})
            ],
        )
        decomp, e_hull = pd.get_decomp_and_e_above_hull(
            entry, allow_negative=True, check_stable=False
        )
        e_form = pd.get_form_energy_per_atom(entry)
    except Exception as exc:  # noqa: BLE001 - recorded as a failed row
        return HullRecord(status="failed", error=str(exc), **base)
    items = sorted(decomp.items(), key=lambda kv: -kv[1])
    return HullRecord(
        status="ok",
        energy_per_atom=entry.energy_per_atom,
        e_form_per_atom=float(e_form),
        e_above_hull=float(e_hull),
        decomposition=[e.composition.reduced_formula for e, _ in items],
        decomposition_fractions=[float(f) for _, f in items],
        n_references=len(refs),
        **base,
    )


def structure_hull(
    structure: Structure,
    calculator: Any = None,
    *,
    relax: bool = True,
    references: Sequence[ComputedEntry] | None = None,
    fmax: float = 0.05,
    steps: int = 300,
    relaxed: Any = None,
) -> tuple[HullRecord, Any]:
    """Relax (optionally) a structure with an MLIP and place it on the hull.

    Parameters
    ----------
    structure
        Candidate structure (pymatgen ``Structure``, ASE ``Atoms``, or what
        :func:`~matscreen.core.io.to_structure` reads).
    calculator
        ASE calculator or registry name (None: the DEFAULT_CALCULATOR setting, CHGNet
        unless set); must have an MP energy scale.
    relax
        Relax cell and positions first (see :func:`matscreen.physics.relax.relax_structure`;
        a registry MLIP's relaxation of the same cell is reused from disk,
        :func:`matscreen.physics.relax_cache.cached_relax`).
    references
        Reference entries; default :func:`reference_entries` for its elements.
    fmax, steps
        Relaxation settings.
    relaxed
        A :class:`~matscreen.physics.relax.RelaxRecord` of this structure already
        computed with ``calculator`` (e.g. by ``batched_relax``): used instead of
        relaxing again.

    Returns
    -------
    tuple[HullRecord, RelaxRecord | None]
        The hull record (failed with a reason when relaxation failed; ``note``
        says when it did not converge within ``steps``) and the relaxation record.
    """
    from matscreen.physics.relax import static_energy
    from matscreen.physics.relax_cache import cached_relax

    calc = resolve_calculator(calculator)
    info = calculator_info(calc)
    structure = to_structure(structure)
    formula = structure.composition.reduced_formula
    rec = None
    if relax:
        rec = relaxed or cached_relax(structure, calc, fmax=fmax, steps=steps)
        if rec.energy_per_atom is None:
            return HullRecord(
                formula=formula,
                status="failed",
                error=rec.error,
                calculator=info.name,
                calculator_version=info.version,
            ), rec
        struct, energy = rec.structure, rec.energy_per_atom
    else:
        from matscreen.physics.relax import precheck_structure

        reason = precheck_structure(structure, calc)
        if reason:
            return HullRecord(
                formula=formula,
                status="failed",
                error=reason,
                calculator=info.name,
                calculator_version=info.version,
            ), rec
        struct, energy = structure, static_energy(structure, calc)
    try:
        entry = to_mp2020_entry(struct, energy, info, entry_id="candidate")
        refs = (
            references
            if references is not None
            else reference_entries([el.symbol for el in struct.composition], calc)
        )
    except Exception as exc:  # noqa: BLE001
        return HullRecord(
            formula=formula,
            status="failed",
            error=str(exc),
            calculator=info.name,
            calculator_version=info.version,
        ), rec
    out = hull_record(entry, refs, info)
    if rec is not None and rec.status == "failed" and out.status == "ok":
        out.note = f"relaxation: {rec.error}"
    return out, rec
