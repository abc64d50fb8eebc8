"""Cathode voltages: a composition surrogate and the MLIP path.

(a) :class:`VoltageSurrogate`: a tree ensemble (extra trees) on composition
features of the charged and discharged formulas, trained on
``datasets/cathode_voltages/train.csv`` (MP insertion electrodes). The spread
of the per-tree predictions is the uncertainty. :func:`grouped_cv` scores it
with folds grouped by redox-active element, so no chemistry straddles folds.

(b) :func:`mlip_voltage`: the average voltage between a lithiated and a
delithiated structure from relaxed MLIP energies,
``V = -[E(Li_x1 H) - E(Li_x2 H) - (x1 - x2) E(Li)] / (x1 - x2)``, with the
gravimetric capacity, energy density, volume change and Mn3+ fraction.
"""

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from pymatgen.core import Composition, Element, Structure
from sklearn.base import BaseEstimator, RegressorMixin

logger = logging.getLogger(__name__)

FARADAY_MAH = 26801.4814  # mAh per mol of electrons (F / 3.6)
WORKING_ION = "Li"
ANIONS = {"O", "F", "S", "Se", "Te", "Cl", "Br", "I", "N", "P", "H", "C", "B", "Si"}
_RARELY_REDOX = {"Sc", "Y", "La", "Zr", "Hf", "Zn", "Cd", "Lu"}  # fixed-valence d-block ions
_P_BLOCK_REDOX = {"Sn", "Sb", "Bi", "Ge", "Pb", "In", "Ga", "Tl", "As"}


def _li_and_host(comp: Composition) -> tuple[float, Composition]:
    host = Composition({el: amt for el, amt in comp.items() if el.symbol != WORKING_ION})
    return comp[WORKING_ION], host


def insertion_pair(
    charge: str | Composition, discharge: str | Composition
) -> tuple[float, float, Composition]:
    """Put a charge/discharge pair on one host formula.

    Returns
    -------
    tuple
        ``(x_charge, x_discharge, host)``: Li per host formula unit in the
        charged and discharged states, and the reduced host composition.

    Raises
    ------
    ValueError
        If the two formulas do not share the same Li-free host, or the
        discharged one holds no more Li than the charged one.
    """
    c, d = Composition(charge), Composition(discharge)
    li_c, host_c = _li_and_host(c)
    li_d, host_d = _li_and_host(d)
    if host_c.num_atoms == 0:
        raise ValueError("charged formula has no host besides Li")
    host, factor = host_c.get_reduced_composition_and_factor()
    f_c = host_c.num_atoms / host.num_atoms
    f_d = host_d.num_atoms / host.num_atoms
    if not host_d.almost_equals(host * f_d, rtol=1e-3, atol=1e-3):
        raise ValueError(f"{charge} and {discharge} do not share a host ({host_c} vs {host_d})")
    x_c, x_d = li_c / f_c, li_d / f_d
    if x_d <= x_c + 1e-9:
        raise ValueError(f"{discharge} holds no more Li per host than {charge}")
    return x_c, x_d, host


def redox_family(charge: str | Composition, discharge: str | Composition | None = None) -> str:
    """Return the redox-active element family of an electrode (for grouped CV).

    The most abundant transition metal (d-block) of the host, preferring
    those that change valence (not Sc, Y, La, Zr, Hf, Zn, Cd, Lu), else the most
    abundant redox-capable p-block metal or lanthanoid, else ``"other"``.
    """
    comp = Composition(charge)
    cands = [
        (amt, el.symbol)
        for el, amt in comp.items()
        if el.symbol != WORKING_ION
        and (el.is_transition_metal or el.is_lanthanoid or el.symbol in _P_BLOCK_REDOX)
    ]
    if not cands:
        return "other"
    d_block = [c for c in cands if Element(c[1]).is_transition_metal]
    redox_d = [c for c in d_block if c[1] not in _RARELY_REDOX]
    pool = redox_d or d_block or cands
    return max(pool, key=lambda c: (c[0], c[1]))[1]


_FIXED_CATIONS = {
    "Li": 1,
    "Na": 1,
    "K": 1,
    "Rb": 1,
    "Cs": 1,
    "Mg": 2,
    "Ca": 2,
    "Sr": 2,
    "Ba": 2,
    "Al": 3,
    "Zn": 2,
    "Y": 3,
    "La": 3,
    "Sc": 3,
    "Ga": 3,
}
_OXO_CENTRES = {"P": 5, "S": 6, "Si": 4, "B": 3, "C": 4, "As": 5, "Se": 6, "Ge": 4, "N": 5}
_ANION_CHARGE = {
    "O": -2,
    "F": -1,
    "Cl": -1,
    "Br": -1,
    "I": -1,
    "S": -2,
    "Se": -2,
    "Te": -2,
    "N": -3,
    "P": -3,
    "H": 1,
}
_REDOX_COLS = [
    "redox_Z",
    "redox_group",
    "redox_row",
    "redox_X",
    "ox_charge",
    "ox_discharge",
    "redox_ionization_eV",
    "redox_frac_host",
]


def _redox_features(host: Composition, x_c: float, x_d: float) -> list[float]:
    """Redox-element descriptors: identity, average oxidation state, couple's ionization energy.

    Oxidation states come from a simple charge balance: fixed states for
    main-group cations, oxo-anion centres (P5+, S6+, ...) when O/F is present,
    anions at their usual charge; the remaining (variable) cations share the
    balance equally. The ionization energy of the couple interpolates
    ``Element.ionization_energies`` between the discharged and charged states.
    """
    el = Element(redox_family(host))  # raises for "other" -> NaN row
    oxo = bool({"O", "F"} & {e.symbol for e in host})
    fixed = 0.0
    n_var = 0.0
    for e, amt in host.items():
        sym = e.symbol
        if oxo and sym in _OXO_CENTRES:
            fixed += _OXO_CENTRES[sym] * amt
        elif sym in _ANION_CHARGE and not (oxo and sym in ("S", "Se", "P", "N")):
            fixed += _ANION_CHARGE[sym] * amt
        elif sym in _FIXED_CATIONS:
            fixed += _FIXED_CATIONS[sym] * amt
        else:
            n_var += amt
    ox_c = (-fixed - x_c) / n_var
    ox_d = (-fixed - x_d) / n_var
    ies = el.ionization_energies
    # removing an electron from M(n+) costs ionization_energies[n]; take the couple's midpoint
    pos = 0.5 * (ox_c + ox_d) - 0.5
    k = int(np.clip(np.floor(pos), 0, len(ies) - 2))
    ie = ies[k] + (pos - k) * (ies[k + 1] - ies[k]) if len(ies) > 1 else np.nan
    return [el.Z, el.group, el.row, el.X, ox_c, ox_d, ie, host.get_atomic_fraction(el)]


def voltage_features(charge: Sequence[str], discharge: Sequence[str]) -> pd.DataFrame:
    """Composition features of electrode pairs.

    Columns: composition features (Magpie statistics, stoichiometry, valence
    orbitals, ionic character) of the discharged formula (``dis_``), of the
    charged formula (``chg_``) and their difference (``diff_``), plus Li per
    host formula unit before/after, inserted Li per host atom, Li atomic
    fractions, and anion fractions (O, F, S, P, Cl, N) of the host.
    Rows that cannot be read are NaN.
    """
    from matscreen.featurize.composition import composition_features

    fc = composition_features(list(charge))
    fd = composition_features(list(discharge))
    diff = fd.values - fc.values
    cols = list(fc.columns)
    extra = []
    for c, d in zip(charge, discharge, strict=True):
        try:
            x_c, x_d, host = insertion_pair(c, d)
            n_host = host.num_atoms
            row = [x_c, x_d, (x_d - x_c) / n_host, x_c / (x_c + n_host), x_d / (x_d + n_host)]
            row += [host.get_atomic_fraction(Element(a)) for a in ("O", "F", "S", "P", "Cl", "N")]
            row += _redox_features(host, x_c, x_d)
        except Exception:  # noqa: BLE001 - unreadable row -> NaN features
            row = [np.nan] * (11 + len(_REDOX_COLS))
        extra.append(row)
    extra_cols = [
        "x_li_charge",
        "x_li_discharge",
        "dx_li_per_host_atom",
        "li_frac_charge",
        "li_frac_discharge",
        "host_frac_O",
        "host_frac_F",
        "host_frac_S",
        "host_frac_P",
        "host_frac_Cl",
        "host_frac_N",
        *_REDOX_COLS,
    ]
    return pd.concat(
        [
            pd.DataFrame(fd.values, columns=[f"dis_{c}" for c in cols]),
            pd.DataFrame(fc.values, columns=[f"chg_{c}" for c in cols]),
            pd.DataFrame(diff, columns=[f"diff_{c}" for c in cols]),
            pd.DataFrame(extra, columns=extra_cols),
        ],
        axis=1,
    )


def _pairs(X: Any) -> tuple[list[str], list[str]]:
    if isinstance(X, pd.DataFrame):
        return [str(v) for v in X["formula_charge"]], [str(v) for v in X["formula_discharge"]]
    pairs = list(X)
    return [str(p[0]) for p in pairs], [str(p[1]) for p in pairs]


class VoltageSurrogate(RegressorMixin, BaseEstimator):
    """Average-voltage regressor on composition pairs, with ensemble-spread std.

    Parameters
    ----------
    n_estimators
        Number of trees.
    max_features
        Fraction of features tried per split.
    min_samples_leaf
        Minimum samples per leaf.
    random_state
        Seed.

    Notes
    -----
    ``X`` is a DataFrame with ``formula_charge`` and ``formula_discharge``
    columns, or a sequence of ``(charge, discharge)`` formula pairs.
    """

    def __init__(
        self,
        n_estimators: int = 300,
        max_features: float = 0.3,
        min_samples_leaf: int = 1,
        random_state: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def fit(self, X: Any, y: Sequence[float]) -> "VoltageSurrogate":
        """Fit on electrode pairs ``X`` and average voltages ``y`` (V vs Li/Li+)."""
        from sklearn.ensemble import ExtraTreesRegressor

        charge, discharge = _pairs(X)
        F = voltage_features(charge, discharge)
        y = np.asarray(y, dtype=float)
        ok = np.isfinite(F.values).all(axis=1) & np.isfinite(y)
        self.feature_names_in_ = np.asarray(F.columns)
        self.model_ = ExtraTreesRegressor(
            n_estimators=self.n_estimators,
            max_features=self.max_features,
            min_samples_leaf=self.min_samples_leaf,
            random_state=self.random_state,
            n_jobs=1,
        ).fit(F.values[ok], y[ok])
        self.n_train_ = int(ok.sum())
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Predict average voltages (V); NaN for pairs that cannot be read.

        With ``return_std=True`` also returns the standard deviation of the
        per-tree predictions.
        """
        charge, discharge = _pairs(X)
        F = voltage_features(charge, discharge).values
        ok = np.isfinite(F).all(axis=1)
        mean = np.full(len(F), np.nan)
        std = np.full(len(F), np.nan)
        if ok.any():
            per_tree = np.stack([t.predict(F[ok]) for t in self.model_.estimators_])
            mean[ok] = per_tree.mean(axis=0)
            std[ok] = per_tree.std(axis=0)
        return (mean, std) if return_std else mean


def load_voltage_data() -> pd.DataFrame:
    """Return ``datasets/cathode_voltages/train.csv`` (charge/discharge formulas, voltage)."""
    from matscreen.core.paths import datasets_dir

    df = pd.read_csv(datasets_dir() / "cathode_voltages" / "train.csv", index_col=0)
    return df.reset_index(drop=True)


def grouped_cv(
    df: pd.DataFrame | None = None, *, n_splits: int = 5, estimator: VoltageSurrogate | None = None
) -> dict[str, Any]:
    """Cross-validate the surrogate with folds grouped by redox-active element.

    Returns
    -------
    dict
        ``mae`` (V), ``mae_mean_predictor`` (V; training-fold mean per fold),
        ``n``, ``n_groups``, ``per_group_mae`` and the out-of-fold predictions.
    """
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold

    df = load_voltage_data() if df is None else df.reset_index(drop=True)
    est = estimator or VoltageSurrogate()
    groups = np.array(
        [redox_family(c, d) for c, d in zip(df.formula_charge, df.formula_discharge, strict=True)]
    )
    y = df["voltage"].to_numpy(float)
    pred = np.full(len(df), np.nan)
    base = np.full(len(df), np.nan)
    for tr, te in GroupKFold(n_splits=n_splits).split(df, y, groups):
        model = clone(est).fit(df.iloc[tr], y[tr])
        pred[te] = model.predict(df.iloc[te])
        base[te] = y[tr].mean()
    err = np.abs(pred - y)
    per_group = pd.Series(err).groupby(groups).mean().sort_values(ascending=False)
    return {
        "mae": float(np.nanmean(err)),
        "mae_mean_predictor": float(np.mean(np.abs(base - y))),
        "n": len(df),
        "n_groups": len(set(groups)),
        "per_group_mae": per_group.to_dict(),
        "oof_pred": pred,
        "groups": groups,
    }


_DEFAULT_SURROGATE: VoltageSurrogate | None = None


def default_voltage_surrogate() -> VoltageSurrogate:
    """Return the surrogate trained on the shipped data (trained once per process, ~5 s)."""
    global _DEFAULT_SURROGATE
    if _DEFAULT_SURROGATE is None:
        df = load_voltage_data()
        _DEFAULT_SURROGATE = VoltageSurrogate().fit(df, df["voltage"])
    return _DEFAULT_SURROGATE


# --------------------------------------------------------------------------------------
# MLIP path
# --------------------------------------------------------------------------------------


class VoltageRecord(BaseModel):
    """Average voltage and cathode figures of merit between two Li contents."""

    formula_charge: str = Field(description="Formula of the delithiated (charged) cell.")
    formula_discharge: str = Field(description="Formula of the lithiated (discharged) cell.")
    status: Literal["ok", "failed"] = Field(description="'ok' or 'failed'.")
    error: str | None = Field(None, description="Reason for failure; None when ok.")
    voltage: float | None = Field(None, description="Average voltage, V vs Li/Li+.")
    x_li_charge: float | None = Field(None, description="Li per host formula unit, charged.")
    x_li_discharge: float | None = Field(None, description="Li per host formula unit, discharged.")
    capacity_mAh_g: float | None = Field(
        None, description="Gravimetric capacity, mAh/g of the discharged (lithiated) material."
    )
    energy_density_Wh_kg: float | None = Field(
        None, description="Specific energy, Wh/kg of the discharged material (V x capacity)."
    )
    volume_change_pct: float | None = Field(
        None, description="Volume change on delithiation, % of the lithiated volume (per host)."
    )
    mn3_fraction_discharge: float | None = Field(
        None, description="Fraction of Mn as Mn3+ in the discharged phase (charge balance)."
    )
    mn3_fraction_charge: float | None = Field(
        None, description="Fraction of Mn as Mn3+ in the charged phase (charge balance)."
    )
    energy_discharge_per_atom: float | None = Field(None, description="Relaxed E, eV/atom.")
    energy_charge_per_atom: float | None = Field(None, description="Relaxed E, eV/atom.")
    energy_li_per_atom: float | None = Field(None, description="Li metal (bcc) E, eV/atom.")
    relaxed: bool = Field(True, description="Whether energies are from relaxed structures.")
    calculator: str | None = Field(None, description="Calculator name.")
    calculator_version: str | None = Field(None, description="Calculator model version.")
    wall_time_s: float = Field(0.0, description="Wall-clock time, s.")


def mn3_fraction(composition: Composition | str) -> float | None:
    """Fraction of Mn present as Mn3+, from charge-neutral average oxidation states.

    The states come from :func:`matscreen.candidates.oxidation.average_oxidation_states`
    (nominal states for spectator ions, mixed-valent metals absorbing the rest,
    Mn first), the same rule the candidate generator and the screening use. A
    non-integer Mn average splits into the neighbouring integer states
    (Mn3.5+ -> half Mn3+, half Mn4+); below 3+ the Mn3+ share is ``state - 2``.
    None when there is no Mn or no charge-balanced assignment.
    """
    from matscreen.candidates.oxidation import average_oxidation_states

    amounts = Composition(composition).get_el_amt_dict()
    if "Mn" not in amounts:
        return None
    try:
        avg = float(average_oxidation_states(amounts)["Mn"])
    except ValueError:
        return None
    if 3.0 <= avg <= 4.0:
        return float(round(4.0 - avg, 6))
    if 2.0 <= avg < 3.0:
        return float(round(avg - 2.0, 6))
    return 0.0


def li_metal_energy(calculator: Any = None) -> float:
    """Return the energy of bcc Li metal (eV/atom) relaxed with ``calculator`` (cached)."""
    from matscreen.physics.references import relaxed_reference

    return float(relaxed_reference("Li", calculator)["energy_per_atom"])


def mlip_voltage(
    discharged: Structure,
    charged: Structure,
    calculator: Any = None,
    *,
    relax: bool = True,
    fmax: float = 0.05,
    steps: int = 300,
    li_energy: float | None = None,
) -> VoltageRecord:
    """Average voltage between a lithiated and a delithiated structure with an MLIP.

    Parameters
    ----------
    discharged
        Lithiated structure (e.g. LiMn2O4).
    charged
        Delithiated structure with the same host (e.g. lambda-MnO2, Mn2O4).
    calculator
        ASE calculator or registry name (default CHGNet).
    relax
        Relax both structures (cell + positions) before taking energies.
    fmax, steps
        Relaxation settings.
    li_energy
        Li metal reference (eV/atom); default bcc Li relaxed with the same calculator.

    Returns
    -------
    VoltageRecord
        ``status="failed"`` with a reason when either structure cannot be handled.
    """
    from matscreen.physics.calculators import calculator_info, resolve_calculator
    from matscreen.physics.relax import relax_structure, static_energy

    t0 = time.perf_counter()
    calc = resolve_calculator(calculator)
    info = calculator_info(calc)
    fd, fc = discharged.composition.reduced_formula, charged.composition.reduced_formula
    base = dict(
        formula_charge=fc,
        formula_discharge=fd,
        calculator=info.name,
        calculator_version=info.version,
        relaxed=relax,
    )
    try:
        x_c, x_d, host = insertion_pair(charged.composition, discharged.composition)
    except ValueError as exc:
        return VoltageRecord(status="failed", error=str(exc), **base)
    energies, volumes = [], []
    for s in (discharged, charged):
        if relax:
            rec = relax_structure(s, calc, fmax=fmax, steps=steps)
            if rec.energy_per_atom is None or (rec.error and not rec.error.startswith("not conv")):
                return VoltageRecord(status="failed", error=f"{rec.formula}: {rec.error}", **base)
            if not rec.converged:
                logger.warning("%s not converged (%s); using last energy", rec.formula, rec.error)
            energies.append(rec.energy_per_atom)
            volumes.append(rec.structure.volume)
        else:
            energies.append(static_energy(s, calc))
            volumes.append(s.volume)
    e_li = li_energy if li_energy is not None else li_metal_energy(calc)
    # per host formula unit
    n_host_d = discharged.composition.num_atoms - discharged.composition[WORKING_ION]
    n_host_c = charged.composition.num_atoms - charged.composition[WORKING_ION]
    f_d = n_host_d / host.num_atoms
    f_c = n_host_c / host.num_atoms
    e_d = energies[0] * discharged.composition.num_atoms / f_d
    e_c = energies[1] * charged.composition.num_atoms / f_c
    dx = x_d - x_c
    voltage = -(e_d - e_c - dx * e_li) / dx
    mass_d = (host + Composition({WORKING_ION: x_d})).weight
    capacity = dx * FARADAY_MAH / float(mass_d)
    v_d, v_c = volumes[0] / f_d, volumes[1] / f_c
    return VoltageRecord(
        status="ok",
        voltage=float(voltage),
        x_li_charge=x_c,
        x_li_discharge=x_d,
        capacity_mAh_g=float(capacity),
        energy_density_Wh_kg=float(capacity * voltage),
        volume_change_pct=float(100.0 * (v_c - v_d) / v_d),
        mn3_fraction_discharge=mn3_fraction(discharged.composition),
        mn3_fraction_charge=mn3_fraction(charged.composition),
        energy_discharge_per_atom=float(energies[0]),
        energy_charge_per_atom=float(energies[1]),
        energy_li_per_atom=float(e_li),
        wall_time_s=time.perf_counter() - t0,
        **base,
    )
