"""Composition featurizers, vectorized over batches.

Each class reproduces the values of a matminer featurizer (checked in the
tests and in ``benchmarks/featurize.py``) but computes a whole batch with
numpy instead of one composition at a time:

- :class:`ElementStatistics`  = matminer ``ElementProperty.from_preset("magpie")``
- :class:`StoichiometryNorms` = matminer ``Stoichiometry()``
- :class:`ValenceOrbitalFractions` = matminer ``ValenceOrbital()``
- :class:`IonicCharacter` = the ionic-character part of matminer ``IonProperty``
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from pymatgen.core import Composition, DummySpecies, Element

from matscreen.core.formula import check_amounts, parse_formula
from matscreen.core.io import is_ase_atoms
from matscreen.featurize.base import BatchFeaturizer

MAGPIE_FEATURES: tuple[str, ...] = (
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row",
    "CovalentRadius", "Electronegativity", "NsValence", "NpValence", "NdValence",
    "NfValence", "NValence", "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled",
    "NUnfilled", "GSvolume_pa", "GSbandgap", "GSmagmom", "SpaceGroupNumber",
)  # fmt: skip
MAGPIE_STATS: tuple[str, ...] = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")
N_ELEMENTS = 118


@lru_cache(maxsize=8)
def magpie_table(features: tuple[str, ...]) -> np.ndarray:
    """Return the Magpie element-property matrix, shape ``(118, len(features))``.

    Rows are indexed by atomic number minus one. Missing values are imputed
    with the property's mean over the elements, as matminer does with
    ``impute_nan=True``.
    """
    from matminer.utils.data import MagpieData

    data = MagpieData(impute_nan=True).all_elemental_props
    table = np.empty((N_ELEMENTS, len(features)))
    for j, feature in enumerate(features):
        for z in range(1, N_ELEMENTS + 1):
            table[z - 1, j] = data[feature][Element.from_Z(z).symbol]
    return table


def as_composition(entry: object) -> Composition:
    """Return ``entry`` as a pymatgen Composition.

    Parameters
    ----------
    entry
        A ``Composition``, a formula string, anything with a
        ``composition`` attribute (pymatgen ``Structure``), or an ASE ``Atoms``.

    Raises
    ------
    ValueError
        If the entry cannot be read as a composition or is empty.
    """
    if isinstance(entry, Composition):
        comp = entry
    elif isinstance(entry, str):
        try:
            comp = parse_formula(entry)
        except Exception as exc:
            raise ValueError(f"cannot parse formula {entry!r}: {exc}") from exc
    elif hasattr(entry, "composition"):
        comp = entry.composition
    elif hasattr(entry, "get_chemical_symbols") and is_ase_atoms(entry):
        comp = Composition(entry.get_chemical_formula(mode="hill"))
    else:
        raise ValueError(f"cannot read a composition from {type(entry).__name__}")
    if not isinstance(entry, str):  # parse_formula has checked a formula's amounts
        check_amounts(comp)
    if comp.num_atoms <= 0:
        raise ValueError("empty composition")
    has_dummies = any(isinstance(el, DummySpecies) for el in comp.elements)
    if not has_dummies and not all(isinstance(el, Element) for el in comp.elements):
        comp = comp.element_composition  # oxidation-state decorated (a CIF with Li+, Cl-)
    unknown = [
        getattr(el, "symbol", str(el)) for el in comp.elements if not isinstance(el, Element)
    ]
    if unknown:
        raise ValueError(f"unknown element(s) {', '.join(unknown)}")
    return comp


def element_matrix(
    entries: Sequence[object],
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Pack compositions into padded element-index and fraction arrays.

    Returns
    -------
    z_index
        ``(n, k)`` int array of atomic number minus one; padding is 0.
    fractions
        ``(n, k)`` atomic fractions; padding (and failed rows) are 0.
    errors
        ``None`` per row, or the reason the row could not be read.
    """
    rows: list[list[tuple[int, float]]] = []
    errors: list[str | None] = []
    for entry in entries:
        try:
            comp = as_composition(entry).element_composition
            total = comp.num_atoms
            rows.append([(el.Z - 1, amt / total) for el, amt in comp.items()])
            errors.append(None)
        except Exception as exc:  # noqa: BLE001 - reported per row
            rows.append([])
            errors.append(f"{type(exc).__name__}: {exc}")
    k = max((len(r) for r in rows), default=1) or 1
    z_index = np.zeros((len(rows), k), dtype=np.int64)
    fractions = np.zeros((len(rows), k))
    for i, row in enumerate(rows):
        for j, (z, frac) in enumerate(row):
            z_index[i, j] = z
            fractions[i, j] = frac
    return z_index, fractions, errors


class _CompositionFeaturizer(BatchFeaturizer):
    input_kind = "composition"

    def featurize(self, comp: Composition) -> list[float]:
        """Featurize one composition (see the class docstring)."""
        values, errors = self.featurize_batch([comp])
        if errors[0] is not None:
            raise ValueError(errors[0])
        return values[0].tolist()

    def featurize_batch(self, entries: Sequence[object]) -> tuple[np.ndarray, list[str | None]]:
        """Featurize a batch of compositions at once (vectorized)."""
        return self.featurize_packed(*element_matrix(entries))

    def featurize_packed(
        self, z_index: np.ndarray, fractions: np.ndarray, errors: list[str | None]
    ) -> tuple[np.ndarray, list[str | None]]:
        """Featurize compositions already packed by :func:`element_matrix`.

        Several featurizers of one batch share one packing this way (parsing the
        compositions is most of the cost; :func:`~matscreen.featurize.engine.featurize_chunk`
        does so); the result is that of :meth:`featurize_batch`.
        """
        values = self._compute(z_index, fractions)
        failed = np.array([e is not None for e in errors], dtype=bool)
        values[failed] = np.nan
        return values, [f"{type(self).__name__}: {e}" if e else None for e in errors]

    def _compute(self, z_index: np.ndarray, fractions: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ElementStatistics(_CompositionFeaturizer):
    """Statistics of elemental properties over a composition (Magpie set).

    Values equal matminer's ``ElementProperty.from_preset("magpie")``; labels
    are the same (``"MagpieData mean Electronegativity"``, ...).

    Parameters
    ----------
    features
        Magpie property names.
    stats
        Any of ``minimum``, ``maximum``, ``range``, ``mean``, ``avg_dev``, ``mode``.

    Examples
    --------
    >>> f = ElementStatistics()
    >>> round(f.featurize(Composition("LiCl"))[f.feature_labels().index(
    ...     "MagpieData mean Number")], 2)
    9.5
    """

    def __init__(
        self,
        features: Sequence[str] = MAGPIE_FEATURES,
        stats: Sequence[str] = MAGPIE_STATS,
    ) -> None:
        self.features = tuple(features)
        self.stats = tuple(stats)
        unknown = set(self.stats) - set(MAGPIE_STATS)
        if unknown:
            raise ValueError(f"unknown statistics {sorted(unknown)}; use {MAGPIE_STATS}")

    def feature_labels(self) -> list[str]:
        """Return ``"MagpieData <stat> <feature>"`` labels, feature-major."""
        return [f"MagpieData {s} {f}" for f in self.features for s in self.stats]

    def _compute(self, z_index: np.ndarray, fractions: np.ndarray) -> np.ndarray:
        table = magpie_table(self.features)
        vals = table[z_index]  # (n, k, F)
        present = (fractions > 0)[:, :, None]
        w = fractions[:, :, None]
        out: dict[str, np.ndarray] = {}
        out["minimum"] = np.where(present, vals, np.inf).min(axis=1)
        out["maximum"] = np.where(present, vals, -np.inf).max(axis=1)
        out["range"] = out["maximum"] - out["minimum"]
        wsum = np.maximum(fractions.sum(axis=1), 1e-300)[:, None]
        mean = (w * vals).sum(axis=1) / wsum
        out["mean"] = mean
        out["avg_dev"] = (w * np.abs(vals - mean[:, None, :])).sum(axis=1) / wsum
        wmax = fractions.max(axis=1, keepdims=True)
        most = np.isclose(fractions, wmax) & (fractions > 0)
        out["mode"] = np.where(most[:, :, None], vals, np.inf).min(axis=1)
        n = z_index.shape[0]
        result = np.empty((n, len(self.features) * len(self.stats)))
        for j in range(len(self.features)):
            for s_i, stat in enumerate(self.stats):
                result[:, j * len(self.stats) + s_i] = out[stat][:, j]
        return result

    def citations(self) -> list[str]:
        """Return the Magpie citation."""
        return [
            "@article{ward_2016, title={A general-purpose machine learning framework for "
            "predicting properties of inorganic materials}, journal={npj Comput. Mater.}, "
            "volume={2}, pages={16028}, year={2016}, doi={10.1038/npjcompumats.2016.28}}"
        ]


class StoichiometryNorms(_CompositionFeaturizer):
    """Lp norms of the atomic fractions (matminer ``Stoichiometry``).

    Parameters
    ----------
    p_list
        Norm orders; ``0`` gives the number of elements.
    """

    def __init__(self, p_list: Sequence[int] = (0, 2, 3, 5, 7, 10)) -> None:
        self.p_list = tuple(p_list)
        if any(p < 0 for p in self.p_list):
            raise ValueError("p-norm not defined for p < 0")

    def feature_labels(self) -> list[str]:
        """Return ``"<p>-norm"`` labels."""
        return [f"{p}-norm" for p in self.p_list]

    def _compute(self, z_index: np.ndarray, fractions: np.ndarray) -> np.ndarray:
        out = np.empty((fractions.shape[0], len(self.p_list)))
        for i, p in enumerate(self.p_list):
            if p == 0:
                out[:, i] = (fractions > 0).sum(axis=1)
            else:
                out[:, i] = (fractions**p).sum(axis=1) ** (1.0 / p)
        return out


class ValenceOrbitalFractions(_CompositionFeaturizer):
    """Mean valence electrons per orbital and their fractions (matminer ``ValenceOrbital``).

    Parameters
    ----------
    orbitals
        Subset of ``s, p, d, f``.
    props
        ``avg`` and/or ``frac``.
    """

    def __init__(
        self, orbitals: Sequence[str] = ("s", "p", "d", "f"), props: Sequence[str] = ("avg", "frac")
    ) -> None:
        self.orbitals = tuple(orbitals)
        self.props = tuple(props)

    def feature_labels(self) -> list[str]:
        """Return labels in matminer's order."""
        names = {"avg": "avg {} valence electrons", "frac": "frac {} valence electrons"}
        return [names[p].format(o) for p in self.props for o in self.orbitals]

    def _compute(self, z_index: np.ndarray, fractions: np.ndarray) -> np.ndarray:
        cols = tuple(f"N{o}Valence" for o in self.orbitals) + ("NValence",)
        vals = magpie_table(cols)[z_index]
        wsum = np.maximum(fractions.sum(axis=1), 1e-300)[:, None]
        avg = (fractions[:, :, None] * vals).sum(axis=1) / wsum
        parts = {"avg": avg[:, :-1], "frac": avg[:, :-1] / avg[:, -1:]}
        return np.concatenate([parts[p] for p in self.props], axis=1)


class IonicCharacter(_CompositionFeaturizer):
    """Maximum and mean ionic character of the element pairs.

    Uses Pauling's ``1 - exp(-(dchi/2)^2)`` with Pauling electronegativities,
    as matminer ``IonProperty`` does for its ``max ionic char`` and
    ``avg ionic char`` features.
    """

    def feature_labels(self) -> list[str]:
        """Return the two labels."""
        return ["max ionic char", "avg ionic char"]

    def _compute(self, z_index: np.ndarray, fractions: np.ndarray) -> np.ndarray:
        chi = _pauling_electronegativity()[z_index]  # (n, k)
        diff = chi[:, :, None] - chi[:, None, :]
        ionic = 1.0 - np.exp(-0.25 * diff**2)
        pair_w = fractions[:, :, None] * fractions[:, None, :]
        out = np.empty((fractions.shape[0], 2))
        out[:, 0] = np.where(pair_w > 0, ionic, 0.0).max(axis=(1, 2))
        out[:, 1] = 0.5 * (pair_w * ionic).sum(axis=(1, 2))  # unordered pairs
        single = (fractions > 0).sum(axis=1) == 1
        out[single] = 0.0
        return out


@lru_cache(maxsize=1)
def _pauling_electronegativity() -> np.ndarray:
    import warnings

    chi = np.empty(N_ELEMENTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns, then gives NaN, for noble gases
        for z in range(1, N_ELEMENTS + 1):
            chi[z - 1] = Element.from_Z(z).X
    return chi


def default_composition_featurizers() -> list[BatchFeaturizer]:
    """Return the composition featurizers a screening run uses by default."""
    return [ElementStatistics(), StoichiometryNorms(), ValenceOrbitalFractions(), IonicCharacter()]


def composition_features(entries: Sequence[object]) -> pd.DataFrame:  # noqa: F821
    """Featurize compositions with the default composition featurizers.

    Parameters
    ----------
    entries
        Formula strings, ``Composition`` or ``Structure`` objects.

    Returns
    -------
    pandas.DataFrame
        One row per entry, one column per feature label; rows that could not be
        read are NaN (use the featurizers' ``featurize_batch`` to get reasons).
    """
    import pandas as pd

    from matscreen.featurize.engine import featurize_chunk

    featurizers = default_composition_featurizers()
    values, _ = featurize_chunk(entries, featurizers)
    labels = [label for f in featurizers for label in f.feature_labels()]
    return pd.DataFrame(values, columns=labels)
