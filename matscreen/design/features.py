"""Composition features computed in torch, so gradients flow from the surrogates to the design.

For atomic fractions ``x`` over a list of elements, with ``T`` the standardized
Magpie property table of those elements (rows) and ``R`` a few role
indicators (Li, halogen, chalcogen, transition metal), the features are::

    mean = x @ T                              (fraction-weighted mean, 22)
    std  = sqrt(x @ T**2 - mean**2 + eps)     (fraction-weighted spread, 22)
    role = x @ R                              (fractions by role, 4)

All three are smooth in ``x``: the same function featurizes training
formulas (``x`` over the whole periodic table) and relaxed design points.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "ElementTable",
    "N_FEATURES",
    "composition_features",
    "fractions_matrix",
]

_HALOGENS = {"F", "Cl", "Br", "I"}
_CHALCOGENS = {"O", "S", "Se", "Te"}
_ROLES = ("Li", "halogen", "chalcogen", "transition_metal")


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
