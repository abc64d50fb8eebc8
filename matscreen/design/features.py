"""Composition features computed in torch, so gradients flow from the surrogates to the design.

For atomic fractions ``x`` over a list of elements, with ``T`` the standardized
Magpie property table of those elements (rows) and ``R`` a few role
indicators (Li, halogen, chalcogen, transition metal), the features are::

    mean = x @ T                              (fraction-weighted mean, 22)
    std  = sqrt(x @ T**2 - mean**2 + eps)     (fraction-weighted spread, 22)
    role = x @ R                              (fractions by role, 4)

All three are smooth in ``x``: the same function featurizes training
formulas (``x`` over the whole periodic table) and relaxed design points.

:func:`chemistry_features` are seven crystal-chemistry descriptors of an ionic
compound instead (Li and other cations per anion, mean anion and cation ionic
radius, spread of the cation radii, cation electronegativity and the cation
valence that charge balance implies): what a Li-migration barrier follows
(framework size and Li/vacancy content), in few dimensions, so that a Gaussian
process learns across chemically similar elements from a few dozen results.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "CHEMISTRY_FEATURES",
    "ElementTable",
    "N_FEATURES",
    "chemistry_features",
    "composition_features",
    "fractions_matrix",
]

_HALOGENS = {"F", "Cl", "Br", "I"}
_CHALCOGENS = {"O", "S", "Se", "Te"}
_ROLES = ("Li", "halogen", "chalcogen", "transition_metal")
#: Formal charge magnitude of the anion-forming elements (for :func:`chemistry_features`).
ANION_CHARGE = {"F": 1, "Cl": 1, "Br": 1, "I": 1, "O": 2, "S": 2, "Se": 2, "Te": 2, "N": 3}
#: Oxidation state whose radius stands for a polyanion former (phosphate, arsenate,
#: germanate) where pymatgen's first common state is a lower one (P3+, As3+, Ge2+).
POLYANION_STATE = {"P": 5, "As": 5, "Ge": 4}
#: Names of the columns of :func:`chemistry_features`.
CHEMISTRY_FEATURES = (
    "li_per_anion",
    "cations_per_anion",
    "anion_radius",
    "cation_radius",
    "cation_radius_spread",
    "cation_electronegativity",
    "cation_valence",
)


@lru_cache(maxsize=1)
def _standardized_magpie() -> np.ndarray:
    from matscreen.featurize.composition import MAGPIE_FEATURES, magpie_table

    table = magpie_table(MAGPIE_FEATURES)
    mean, std = table.mean(axis=0), table.std(axis=0)
    std[std == 0] = 1.0
    return (table - mean) / std


def _role_row(symbol: str) -> list[float]:
    from pymatgen.core import Element

    el = Element(symbol)
    return [
        float(symbol == "Li"),
        float(symbol in _HALOGENS),
        float(symbol in _CHALCOGENS),
        float(el.is_transition_metal),
    ]


def _chemistry_row(symbol: str) -> list[float]:
    from pymatgen.core import Element, Species

    el = Element(symbol)
    charge = ANION_CHARGE.get(symbol, 0)
    # Shannon radius of the anion, or of the cation in its first common oxidation state
    # (Species reads the full Shannon table: Ni2+ and Cr3+ are missing from Element's);
    # the polyanion formers in the state of their oxyanions (PO4 3-, not P3+)
    if charge:
        states = [-charge]
    elif symbol in POLYANION_STATE:
        states = [POLYANION_STATE[symbol]]
    else:
        states = [q for q in el.common_oxidation_states if q > 0]
    radius = float(el.average_ionic_radius)
    for q in states:
        try:
            with warnings.catch_warnings():  # "no default radius for Ni2+, using ls data"
                warnings.simplefilter("ignore", UserWarning)
                r = Species(symbol, q).ionic_radius
        except (ValueError, KeyError):
            continue
        if r is not None:
            radius = float(r)
            break
    chi = float(el.X)
    return [
        float(symbol == "Li"),
        float(charge),
        float(symbol != "Li" and charge == 0),
        radius,
        chi if np.isfinite(chi) else 0.0,
    ]


class ElementTable:
    """Per-element property rows (standardized Magpie + roles) for a list of elements.

    Parameters
    ----------
    elements
        Element symbols; the columns of the fraction vectors fed to
        :func:`composition_features`.
    """

    def __init__(self, elements: list[str]) -> None:
        from pymatgen.core import Element

        self.elements = list(elements)
        magpie = _standardized_magpie()
        self.props = np.stack([magpie[Element(e).Z - 1] for e in self.elements])
        self.roles = np.array([_role_row(e) for e in self.elements], dtype=float)
        self.atomic_mass = np.array([float(Element(e).atomic_mass) for e in self.elements])

    def tensors(self, device: Any = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """``(props, roles)`` as float32 tensors on ``device``."""
        import torch

        return (
            torch.tensor(self.props, dtype=torch.float32, device=device),
            torch.tensor(self.roles, dtype=torch.float32, device=device),
        )

    def chemistry_tensor(self, device: Any = "cpu") -> torch.Tensor:
        """Per-element rows for :func:`chemistry_features` (float32 on ``device``).

        Columns: is Li, anion charge magnitude (0 for cations), is a cation
        other than Li, Shannon crystal radius (A; pymatgen's table) of the
        anion, or of the cation in its first common positive oxidation state
        (a per-element constant: Mn2+, Fe2+, Co2+, Ni2+ for the mixed-valence
        metals; P5+, As5+ and Ge4+ as in their oxyanions, :data:`POLYANION_STATE`),
        Pauling electronegativity (0 where undefined).
        """
        import torch

        rows = [_chemistry_row(e) for e in self.elements]  # only the surrogates that use them
        return torch.tensor(rows, dtype=torch.float32, device=device)


#: Length of the feature vector.
N_FEATURES = 2 * 22 + len(_ROLES)


def composition_features(x: torch.Tensor, props: torch.Tensor, roles: torch.Tensor) -> torch.Tensor:
    """Differentiable composition features.

    Parameters
    ----------
    x
        ``(B, m)`` non-negative amounts or fractions (rows are normalized here).
    props, roles
        From :meth:`ElementTable.tensors`, rows matching the columns of ``x``.

    Returns
    -------
    torch.Tensor
        ``(B, N_FEATURES)``.
    """
    import torch

    x = x / x.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    mean = x @ props
    var = (x @ props**2 - mean**2).clamp_min(0.0)
    return torch.cat([mean, torch.sqrt(var + 1e-6), x @ roles], dim=-1)


def chemistry_features(x: torch.Tensor, chemistry: torch.Tensor) -> torch.Tensor:
    """Differentiable crystal-chemistry descriptors (:data:`CHEMISTRY_FEATURES`).

    Parameters
    ----------
    x
        ``(B, m)`` non-negative amounts or fractions.
    chemistry
        ``(m, 5)`` from :meth:`ElementTable.chemistry_tensor`.

    Returns
    -------
    torch.Tensor
        ``(B, 7)``: Li per anion, non-Li cations per anion, the anions' mean
        ionic radius, the cations' mean ionic radius and its spread, their
        mean electronegativity, and their mean valence implied by charge
        balance (anion charge minus Li, per cation). A formula without anions
        or cations gets zeros where it has nothing to average (the spread
        0.001, its floor).
    """
    import torch

    x = x / x.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    is_li, charge, cation, radius, chi = chemistry.unbind(dim=-1)
    anion = (charge > 0).to(x.dtype)
    xa, xc = x * anion, x * cation
    n_anion, n_cation = xa.sum(dim=-1), xc.sum(dim=-1)

    def per(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        some = den > 1e-9  # the inner where keeps the gradient finite where den is 0
        return torch.where(some, num / torch.where(some, den, torch.ones_like(den)), 0.0 * num)

    li = x @ is_li
    r_cation = per(xc @ radius, n_cation)
    var = (per(xc @ radius**2, n_cation) - r_cation**2).clamp_min(0.0)
    return torch.stack(
        [
            per(li, n_anion),
            per(n_cation, n_anion),
            per(xa @ radius, n_anion),
            r_cation,
            torch.sqrt(var + 1e-6),
            per(xc @ chi, n_cation),
            per(x @ charge - li, n_cation),
        ],
        dim=-1,
    )


def fractions_matrix(formulas: list[str]) -> tuple[np.ndarray, list[str]]:
    """Atomic fractions of formulas over the union of their elements.

    Returns
    -------
    x, elements
        ``(n, m)`` fractions and the element of each column.
    """
    from pymatgen.core import Composition

    comps = [Composition(f).fractional_composition.get_el_amt_dict() for f in formulas]
    elements = sorted({e for c in comps for e in c})
    index = {e: i for i, e in enumerate(elements)}
    x = np.zeros((len(comps), len(elements)))
    for i, c in enumerate(comps):
        for e, v in c.items():
            x[i, index[e]] = v
    return x, elements
