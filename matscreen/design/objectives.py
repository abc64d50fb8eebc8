"""Objective predictions in torch (surrogates + analytic properties) and the UCB acquisition.

:class:`ObjectivePredictor` maps element amounts of design points (torch,
differentiable) to ``{kind: (mean, std)}`` for every objective of the
workflow. Surrogate objectives carry their uncertainty (conductivity,
voltage: ensemble spread; stability, bvse: Gaussian-process std by
default); analytic ones (capacity, Mn3+ fraction, raw-element cost) have
zero std.

:class:`UCBAcquisition` scalarizes them: for an objective maximized, the
optimistic value ``mean + kappa*std`` (minimized: ``mean - kappa*std``) in
units of its scale, times its weight; each bound adds a softplus penalty on
the optimistic violation. With equal means, a larger std always gives a
larger acquisition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from matscreen.design.config import ObjectiveSpec

LOG = logging.getLogger(__name__)

__all__ = ["DISCRETE_STATE_ELEMENTS", "ObjectivePredictor", "UCBAcquisition", "analytic_tables"]

FARADAY_MAH = 26801.4814  # mAh per mol of electrons
#: Fixed charges of the differentiable Mn3+ estimate (main-group cations and anions at their
#: usual charge; Ni/Co/Fe/Cu/Cr/V at their lowest common state, Mn fills the rest).
_FIXED = {"Li": 1, "Na": 1, "K": 1, "Mg": 2, "Ca": 2, "Al": 3, "O": -2, "F": -1, "Cl": -1,
          "Br": -1, "I": -1, "S": -2, "Se": -2, "N": -3, "Ti": 4, "Zr": 4, "Nb": 5, "Ta": 5,
          "P": 5, "B": 3, "Si": 4, "Zn": 2, "Y": 3, "La": 3, "Ga": 3, "Mo": 6, "W": 6,
          "Sn": 4, "Ru": 4}  # fmt: skip
_LOWEST = {"Ni": 2, "Co": 2, "Fe": 2, "Cu": 2, "Cr": 3, "V": 3}


def _discrete_state_elements() -> frozenset[str]:
    from matscreen.candidates.oxidation import COMMON_OXIDATION_STATES
    from matscreen.screening.properties import MAX_STATES

    return frozenset(
        el for el, states in COMMON_OXIDATION_STATES.items()
        if len(states) > 1 and el not in MAX_STATES
    )  # fmt: skip


#: Elements outside the redox metals with several common states, which the verdict's charge
#: balance may move off their nominal state (S6+ in sulfates, Sn2+, Eu2+, ...); the
#: differentiable capacity holds them at the nominal state.
DISCRETE_STATE_ELEMENTS = _discrete_state_elements()


def analytic_tables(elements: list[str]) -> dict[str, np.ndarray]:
    """Per-element vectors for the analytic objectives.

    ``mass``, ``price`` (USD/kg), the charges of the Mn3+ estimate (``fixed``,
    ``lowest``) and ``ceiling``: the charge each element carries once the cathode
    is charged as far as its redox allows (redox metals at their highest state
    on charge, :data:`~matscreen.screening.properties.MAX_STATES`; every other
    element at its nominal state), so that ``amounts @ ceiling`` counts the
    electrons that charging can remove, as
    :func:`~matscreen.screening.properties.capacities_mAh_g` does. Elements
    whose other discrete states the verdict may pick instead (S6+ in a
    sulfate, Sn2+, Sb3+, Eu2+; see :data:`DISCRETE_STATE_ELEMENTS`) are held
    at the nominal state here, so for them the two can differ.
    """
    from pymatgen.core import Element

    from matscreen.candidates.oxidation import common_oxidation_states
    from matscreen.screening.properties import MAX_STATES, cost_usd_per_kg

    mass = np.array([float(Element(e).atomic_mass) for e in elements])
    price = []
    for e in elements:
        try:
            price.append(cost_usd_per_kg(e))
        except Exception:  # noqa: BLE001 - no price: treat as expensive
            price.append(1000.0)
    price = np.nan_to_num(np.array(price, dtype=float), nan=1000.0)
    fixed = np.array([_FIXED.get(e, 0) for e in elements], dtype=float)
    lowest = np.array([_LOWEST.get(e, 0) for e in elements], dtype=float)
    ceiling = []
    for e in elements:
        if e in MAX_STATES:
            ceiling.append(float(MAX_STATES[e]))
        else:
            try:
                ceiling.append(float(common_oxidation_states(e)[0]))  # the nominal state
            except ValueError:  # no curated state: carries no charge in this estimate
                ceiling.append(0.0)
    return {
        "mass": mass,
        "price": price,
        "fixed": fixed,
        "lowest": lowest,
        "ceiling": np.array(ceiling, dtype=float),
    }


@dataclass
class ObjectivePredictor:
    """Predict every objective of a workflow from element amounts (torch).

    Attributes
    ----------
    elements
        Columns of the amount tensors.
    surrogates
        ``{kind: surrogate}`` for conductivity / stability / voltage
        (objects with ``forward(x, props, roles)``).
    kinds
        Objective kinds to predict.
    device
        Torch device.
    """

    elements: list[str]
    surrogates: dict[str, Any]
    kinds: list[str]
    device: str = "cpu"
    _t: dict[str, Any] = field(default_factory=dict, repr=False)

    def _tensors(self) -> dict[str, Any]:
        if not self._t:
            import torch

            from matscreen.design.features import ElementTable

            table = ElementTable(self.elements)
            props, roles = table.tensors(self.device)
            tabs = analytic_tables(self.elements)
            self._t.update(props=props, roles=roles, chemistry=table.chemistry_tensor(self.device))
            for k, v in tabs.items():
                self._t[k] = torch.tensor(v, dtype=torch.float32, device=self.device)
        return self._t

    def __call__(
        self, amounts: torch.Tensor, proto: int | None = None
    ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{kind: (mean, std)}`` for ``(B, n_elements)`` amounts; differentiable.

        ``proto`` (the prototype index of the rows) lets loop-trained surrogates
        use it as an input (their one-hot prototype feature).
        """
        from matscreen.design.surrogates import LoopSurrogate

        t = self._tensors()
        out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        zero = (amounts * 0.0).sum(dim=-1)
        li = self.elements.index("Li") if "Li" in self.elements else -1
        for kind in self.kinds:
            if kind == "voltage":
                out[kind] = self.surrogates[kind].forward(
                    amounts, t["props"], t["roles"], li_index=li
                )
            elif kind in ("conductivity", "stability", "bvse"):
                surrogate = self.surrogates[kind]
                if isinstance(surrogate, LoopSurrogate):
                    out[kind] = surrogate.forward(
                        amounts, t["props"], t["roles"], proto=proto, chemistry=t["chemistry"]
                    )
                else:
                    out[kind] = surrogate.forward(amounts, t["props"], t["roles"])
            elif kind == "capacity":  # redox-limited, mAh per g of the discharged material
                out[kind] = (self._capacity(amounts, t, li), zero)
            elif kind == "cost":
                w = amounts * t["mass"]
                out[kind] = ((w @ t["price"]) / w.sum(dim=-1).clamp_min(1e-9), zero)
            elif kind == "mn3":
                out[kind] = (self._mn3(amounts, t), zero)
            else:  # pragma: no cover - validated by the config
                raise ValueError(f"unknown objective {kind!r}")
        return out

    @staticmethod
    def _capacity(amounts: torch.Tensor, t: dict[str, Any], li: int) -> torch.Tensor:
        """Redox-limited capacity (mAh/g): Li extracted while the redox metals can oxidise.

        The verdict's ``capacity_mAh_g`` count
        (:func:`~matscreen.screening.properties.capacities_mAh_g`): electrons
        available = charge at the redox ceiling minus the charge now (zero);
        the same number unless the space holds :data:`DISCRETE_STATE_ELEMENTS`
        (see :func:`analytic_tables`).
        """
        import torch

        li_amt = amounts[:, li] if li >= 0 else (amounts * 0.0).sum(dim=-1)
        electrons = (amounts @ t["ceiling"]).clamp_min(0.0)
        extracted = torch.minimum(li_amt, electrons)
        return FARADAY_MAH * extracted / (amounts @ t["mass"]).clamp_min(1e-9)

    def _mn3(self, amounts: torch.Tensor, t: dict[str, Any]) -> torch.Tensor:
        """Mn3+ fraction from charge balance (others fixed / lowest state, Mn <= 4+)."""
        import torch

        if "Mn" not in self.elements:
            return (amounts * 0.0).sum(dim=-1)
        mn = amounts[:, self.elements.index("Mn")]
        balance = -(amounts @ t["fixed"]) - amounts @ t["lowest"]
        avg = torch.clamp(balance / mn.clamp_min(1e-6), max=4.0)
        frac = torch.where(avg >= 3.0, 4.0 - avg, torch.clamp(avg - 2.0, min=0.0))
        return torch.where(mn > 1e-6, frac, torch.zeros_like(frac))


@dataclass
class UCBAcquisition:
    """Upper-confidence-bound scalarization with soft bound constraints.

    Parameters
    ----------
    kappa
        Exploration weight (optimistic value = mean +/- kappa * std).
    constraint_penalty
        Weight of the softplus penalty of a violated bound (in scale units).
    """

    kappa: float = 1.0
    constraint_penalty: float = 5.0

    def __call__(
        self,
        predictions: dict[str, tuple[torch.Tensor, torch.Tensor]],
        objectives: list[ObjectiveSpec],
    ) -> torch.Tensor:
        """Acquisition value per row (higher is better)."""
        import torch

        total: torch.Tensor | None = None
        for obj in objectives:
            mean, std = predictions[obj.kind]
            s = obj.unit_scale
            term = torch.zeros_like(mean)
            if obj.goal == "maximize":
                term = term + obj.weight * (mean + self.kappa * std) / s
            elif obj.goal == "minimize":
                term = term - obj.weight * (mean - self.kappa * std) / s
            if obj.min is not None:  # optimistic: the upper confidence value must reach min
                term = term - self.constraint_penalty * torch.nn.functional.softplus(
                    (obj.min - (mean + self.kappa * std)) / s, beta=4.0
                )
            if obj.max is not None:
                term = term - self.constraint_penalty * torch.nn.functional.softplus(
                    ((mean - self.kappa * std) - obj.max) / s, beta=4.0
                )
            total = term if total is None else total + term
        assert total is not None
        return total
