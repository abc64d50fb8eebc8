"""Features for the conductivity surrogates.

Two blocks:

- **composition** (always available): the default matscreen composition
  featurizers (Magpie element statistics, stoichiometry norms, valence
  orbital fractions, ionic character; 148 values) plus the atomic fraction of
  every element from H to Bi (noble gases, Tc, Pm excepted), which lets trees
  separate the structural families (sulfides, halides, phosphates, ...) and
  dopant series, and chemistry descriptors (anion polarizability, Li per
  anion, structural-family flags, ...).
- **cell** (when a cell is known): space group number, crystal system,
  lattice parameters, cell volume, volume per atom, per anion and per Li, and
  Li number density. Taken from the explicit columns when given (the OBELiX
  table), else from the structure's conventional standard cell.

Rows whose composition cannot be read get an error string instead of a NaN
feature row being passed on silently.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.featurize.structure import CRYSTAL_SYSTEMS, crystal_system

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

logger = logging.getLogger(__name__)

#: Elements whose atomic fraction is a feature: every element from H to Bi except the
#: noble gases, Tc and Pm (76). Trees use them to tell dopant series and structural
#: families apart (grouped CV on the OBELiX train split, median forests: cell forest
#: 1.30 -> 1.27, composition forest 1.39 -> 1.37 against Li, anions and 22 framework
#: cations only).
FRACTION_ELEMENTS: tuple[str, ...] = tuple(
    symbol
    for symbol in (
        "H", "Li", "Be", "B", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
        "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge",
        "As", "Se", "Br", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Ru", "Rh", "Pd", "Ag", "Cd",
        "In", "Sn", "Sb", "Te", "I", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Sm", "Eu", "Gd",
        "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt",
        "Au", "Hg", "Tl", "Pb", "Bi",
    )
)  # fmt: skip
ANIONS: frozenset[str] = frozenset({"O", "S", "Se", "Te", "F", "Cl", "Br", "I", "N"})
CELL_LABELS: tuple[str, ...] = (
    "space_group_number", "crystal_system", "a", "b", "c", "alpha", "beta", "gamma",
    "cell_volume", "volume_per_atom", "volume_per_anion", "volume_per_li", "li_density",
)  # fmt: skip


ANION_CHARGE: dict[str, int] = {
    "O": -2, "S": -2, "Se": -2, "Te": -2, "F": -1, "Cl": -1, "Br": -1, "I": -1, "N": -3,
}  # fmt: skip
#: Free-ion anion polarizabilities (A^3; Pauling/Tessman-type values; N3- rough).
ANION_POLARIZABILITY: dict[str, float] = {
    "F": 1.04, "Cl": 3.66, "Br": 4.77, "I": 7.10, "O": 3.88, "S": 10.2, "Se": 10.5,
    "Te": 14.0, "N": 5.0,
}  # fmt: skip
#: Shannon ionic radii of the anions (A, CN 6).
ANION_RADIUS: dict[str, float] = {
    "F": 1.33, "Cl": 1.81, "Br": 1.96, "I": 2.20, "O": 1.40, "S": 1.84, "Se": 1.98,
    "Te": 2.21, "N": 1.46,
}  # fmt: skip
_HALIDES = frozenset({"F", "Cl", "Br", "I"})
_SOFT_HALIDES = frozenset({"Cl", "Br", "I"})
_CHALCOGENS = frozenset({"S", "Se", "Te"})
_FORMERS = frozenset({"P", "Si", "Ge", "Sn", "As", "Sb", "B", "Al", "Ga", "V", "Mo", "W"})
_GARNET_A = frozenset({"La", "Nd", "Pr", "Ce", "Sm", "Gd", "Y", "Ba", "Sr", "Ca"})
CHEMISTRY_LABELS: tuple[str, ...] = (
    "anion_frac_halide", "anion_frac_soft_halide", "anion_frac_chalc", "anion_frac_O",
    "anion_frac_N", "anion_polariz_mean", "anion_radius_mean", "li_per_anion",
    "li_per_anion_charge", "li_frac_cations", "anions_per_nonli_cation",
    "mean_nonli_charge_implied", "mean_nonli_charge_nominal", "charge_imbalance",
    "ionic_potential_mean", "ionic_potential_max", "former_per_anion", "halide_per_nonli",
    "flag_li3mx6", "flag_li2mx4", "flag_garnet", "flag_nasicon", "flag_argyrodite",
    "li_vacancy_proxy",
)  # fmt: skip


@cache
def _cation_charge_radius(symbol: str) -> tuple[float, float]:
    """Nominal positive oxidation state and its Shannon radius (fallbacks: pymatgen)."""
    from pymatgen.core import Element, Species

    from matscreen.candidates.oxidation import nominal_oxidation_state

    try:
        q: float | None = nominal_oxidation_state(symbol)
    except ValueError:
        q = None
    el = Element(symbol)
    if q is None or q <= 0:
        positive = [s for s in el.common_oxidation_states if s > 0]
        q = positive[0] if positive else 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = Species(symbol, q).ionic_radius
    except Exception:  # noqa: BLE001 - fall back below
        r = None
    if r is None:
        r = el.average_ionic_radius or el.atomic_radius or 1.0
    return float(q), float(r)


def chemistry_features(comp: Any) -> list[float]:
    """Return the :data:`CHEMISTRY_LABELS` values of one pymatgen ``Composition``."""
    amt = {e.symbol: float(a) for e, a in comp.element_composition.items()}
    n_li = amt.get("Li", 0.0)
    anions = {s: a for s, a in amt.items() if s in ANION_CHARGE}
    cations = {s: a for s, a in amt.items() if s not in ANION_CHARGE and s != "Li"}
    n_an = sum(anions.values())
    n_cat = sum(cations.values())
    an_charge = sum(-ANION_CHARGE[s] * a for s, a in anions.items())

    def frac(symbols: frozenset[str]) -> float:
        return sum(a for s, a in anions.items() if s in symbols) / n_an if n_an else 0.0

    pol = sum(ANION_POLARIZABILITY[s] * a for s, a in anions.items()) / n_an if n_an else 0.0
    rad = sum(ANION_RADIUS[s] * a for s, a in anions.items()) / n_an if n_an else 0.0
    implied = (an_charge - n_li) / n_cat if n_cat > 0 else 0.0
    w = np.array(list(cations.values()))
    info = [_cation_charge_radius(s) for s in cations]
    qs = np.array([q for q, _ in info])
    ips = np.array([q / r for q, r in info])
    cat_charge = float(w @ qs) if len(w) else 0.0
    nominal = cat_charge / n_cat if n_cat > 0 else 0.0
    ip_mean = float(w @ ips) / n_cat if n_cat > 0 else 0.0
    ip_max = float(ips.max()) if len(ips) else 0.0
    imbalance = (n_li + cat_charge - an_charge) / an_charge if an_charge > 0 else 0.0
    n_hal = sum(a for s, a in anions.items() if s in _HALIDES)
    formers = sum(a for s, a in cations.items() if s in _FORMERS)
    big_a = sum(a for s, a in cations.items() if s in _GARNET_A)
    o = anions.get("O", 0.0)
    chal = sum(a for s, a in anions.items() if s in _CHALCOGENS)
    hal_frac = frac(_HALIDES)
    x_per_m = n_an / n_cat if n_cat > 0 else 0.0
    p_si = amt.get("P", 0.0) + amt.get("Si", 0.0)
    tet = p_si + amt.get("Ge", 0.0) + amt.get("Sb", 0.0)
    values = [
        hal_frac, frac(_SOFT_HALIDES), frac(_CHALCOGENS), frac(frozenset({"O"})),
        frac(frozenset({"N"})), pol, rad, n_li / n_an if n_an else 0.0,
        n_li / an_charge if an_charge > 0 else 0.0, n_li / (n_li + n_cat) if n_li + n_cat else 0.0,
        x_per_m, implied, nominal, imbalance, ip_mean, ip_max,
        formers / n_an if n_an else 0.0, n_hal / n_cat if n_cat > 0 else 0.0,
        float(hal_frac > 0.9 and 5.0 <= x_per_m <= 7.0),
        float(hal_frac > 0.9 and 3.0 <= x_per_m < 5.0),
        float(o > 0 and abs(big_a / o - 0.25) < 0.04 and 0.3 <= n_li / o <= 0.7),
        float(o > 0 and abs(p_si / o - 0.25) < 0.03 and n_li / o < 0.25),
        float(chal > 0 and abs(tet / chal - 0.2) < 0.04 and n_hal > 0),
        (an_charge - cat_charge - n_li) / n_an if n_an else 0.0,
    ]  # fmt: skip
    return values


#: Column views of the composition block a forest can be restricted to (see
#: :func:`composition_view_columns`).
COMPOSITION_VIEWS: tuple[str, ...] = ("all", "no_magpie", "chemistry")


@cache
def composition_labels() -> tuple[str, ...]:
    """Labels of the :func:`composition_block` columns, in order."""
    from matscreen.featurize.composition import default_composition_featurizers

    labels = [label for f in default_composition_featurizers() for label in f.feature_labels()]
    return (*labels, *(f"frac_{s}" for s in FRACTION_ELEMENTS), *CHEMISTRY_LABELS)


def composition_view_columns(view: str) -> np.ndarray:
    """Return the :func:`composition_block` columns that make up a feature view.

    Parameters
    ----------
    view
        ``"all"``: every column; ``"no_magpie"``: all but the Magpie
        element-property statistics (atomic fractions, stoichiometry norms,
        valence-orbital fractions, ionic character, chemistry descriptors);
        ``"chemistry"``: the :data:`CHEMISTRY_LABELS` descriptors only.

    Raises
    ------
    ValueError
        If ``view`` is not one of :data:`COMPOSITION_VIEWS`.
    """
    labels = composition_labels()
    if view == "all":
        keep = [True] * len(labels)
    elif view == "no_magpie":
        keep = [not label.startswith("MagpieData") for label in labels]
    elif view == "chemistry":
        chemistry = set(CHEMISTRY_LABELS)
        keep = [label in chemistry for label in labels]
    else:
        raise ValueError(f"unknown feature view {view!r}; expected one of {COMPOSITION_VIEWS}")
    return np.flatnonzero(keep)


def crystal_system_index(space_group_number: float) -> float:
    """Return 0-6 for triclinic..cubic from an international space-group number."""
    if not 1 <= space_group_number <= 230:
        return float("nan")
    return float(CRYSTAL_SYSTEMS.index(crystal_system(int(space_group_number))))


def composition_block(entries: Sequence[object]) -> tuple[np.ndarray, list[str], list[str | None]]:
    """Composition features of each entry.

    Parameters
    ----------
    entries
        Formula strings, ``Composition`` or ``Structure`` objects.

    Returns
    -------
    values
        ``(n, n_features)``; rows that failed are NaN.
    labels
        Feature names.
    errors
        None per row, or why the row could not be featurized.
    """
    from matscreen.featurize.composition import as_composition, default_composition_featurizers
    from matscreen.featurize.engine import featurize_chunk

    errors: list[str | None] = []
    comps: list[Any] = []
    for entry in entries:
        try:
            comp = as_composition(entry)
            errors.append(None)
            comps.append(comp)
        except Exception as exc:  # noqa: BLE001 - reported per row
            errors.append(str(exc))
            comps.append("H")  # placeholder, row is blanked below
    featurizers = default_composition_featurizers()
    values, errs = featurize_chunk(comps, featurizers)
    blocks = [values]
    labels = [label for f in featurizers for label in f.feature_labels()]
    errors = [e if e is not None else err for e, err in zip(errors, errs, strict=True)]
    fractions = np.zeros((len(comps), len(FRACTION_ELEMENTS)))
    for i, comp in enumerate(comps):
        if errors[i] is not None:
            continue
        # one dict per row: each Composition[symbol] lookup sums over all its species
        amounts = comp.element_composition.get_el_amt_dict()
        total = sum(amounts.values())
        for j, symbol in enumerate(FRACTION_ELEMENTS):
            fractions[i, j] = amounts.get(symbol, 0.0) / total
    blocks.append(fractions)
    labels += [f"frac_{s}" for s in FRACTION_ELEMENTS]
    chemistry = np.zeros((len(comps), len(CHEMISTRY_LABELS)))
    for i, comp in enumerate(comps):
        if errors[i] is not None:
            continue
        try:
            chemistry[i] = chemistry_features(comp)
        except Exception as exc:  # noqa: BLE001 - reported per row
            errors[i] = f"chemistry features failed: {exc}"
    blocks.append(np.nan_to_num(chemistry, nan=0.0, posinf=0.0, neginf=0.0))
    labels += list(CHEMISTRY_LABELS)
    values = np.concatenate(blocks, axis=1)
    bad = np.array([e is not None for e in errors], dtype=bool)
    values[bad] = np.nan
    bad_values = ~np.isfinite(values).all(axis=1) & ~bad
    for i in np.flatnonzero(bad_values):
        errors[i] = "composition features are not finite (element outside the property table)"
        values[i] = np.nan
    return values, labels, errors


def cell_block(inputs: pd.DataFrame) -> np.ndarray:
    """Cell features per row of a :func:`~matscreen.surrogates.inputs.normalize_inputs` table.

    Returns
    -------
    numpy.ndarray
        ``(n, len(CELL_LABELS))``; a row is all NaN where no cell is known
        (no lattice columns and no structure, or a structure that failed).
    """
    from matscreen.surrogates.inputs import LATTICE_COLUMNS

    out = np.full((len(inputs), len(CELL_LABELS)), np.nan)
    lattice = inputs[["space_group_number", *LATTICE_COLUMNS]].to_numpy(dtype=float)
    for i in range(len(inputs)):
        row = inputs.iloc[i]
        cell_formula = row["cell_formula"]
        if np.isfinite(lattice[i]).all() and cell_formula is not None:
            try:
                out[i] = _cell_features_from_table(lattice[i], cell_formula)
                continue
            except Exception as exc:  # noqa: BLE001 - fall back to the structure
                logger.debug("row %d: lattice columns unusable: %s", i, exc)
        if row["structure"] is not None:
            try:
                out[i] = _cell_features_from_structure(row["structure"])
            except Exception as exc:  # noqa: BLE001 - no cell block for this row
                logger.info("row %d: no cell features from structure: %s", i, exc)
    return out


def _cell_features(sg: float, params: np.ndarray, volume: float, comp: Any) -> np.ndarray:
    el = comp.element_composition
    n_atoms = el.num_atoms
    n_anion = sum(amt for e, amt in el.items() if e.symbol in ANIONS)
    n_li = el["Li"]
    return np.array(
        [
            sg,
            crystal_system_index(sg),
            *params,
            volume,
            volume / n_atoms,
            volume / n_anion if n_anion > 0 else np.nan,
            volume / n_li if n_li > 0 else np.nan,
            n_li / volume,
        ]
    )


def _cell_features_from_table(values: np.ndarray, cell_formula: object) -> np.ndarray:
    from pymatgen.core import Composition, Lattice

    sg, params = values[0], values[1:]
    volume = Lattice.from_parameters(*params).volume
    comp = Composition(cell_formula) if isinstance(cell_formula, str) else cell_formula
    feats = _cell_features(sg, params, volume, comp)
    # volume_per_anion / per_li may legitimately be NaN (no anion / no Li)
    return np.nan_to_num(feats, nan=-1.0)


def _cell_features_from_structure(structure: Any) -> np.ndarray:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    sg, conv = 1.0, structure
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sga = SpacegroupAnalyzer(structure, symprec=0.1)
            sg = float(sga.get_space_group_number())
            conv = sga.get_conventional_standard_structure()
    except Exception as exc:  # noqa: BLE001 - keep P1 and the given cell
        logger.info("symmetry analysis failed (%s); using the cell as given, P1", exc)
    lat = conv.lattice
    params = np.array([lat.a, lat.b, lat.c, lat.alpha, lat.beta, lat.gamma])
    return np.nan_to_num(_cell_features(sg, params, lat.volume, conv.composition), nan=-1.0)
