"""The design space: per-site species and fraction grids on prototypes, and its relaxation.

A :class:`DesignSpace` is built from the ``space:`` section of a design
workflow. A discrete point (:class:`DesignPoint`) gives, for every designed
site of one prototype, integer counts over the site's allowed species that
sum to the site's ``grid`` (site fraction = count / grid). A point is
*feasible* when, after Li compensation (``compensation: li``) or as it is
(``none``), it is charge balanced with common oxidation states and its
ordered cell fits in ``max_atoms``.

The continuous relaxation replaces the counts by per-site weights (a softmax
over logits); :meth:`DesignSpace.amounts_torch` turns them into element
amounts per primitive cell *in torch*, including the Li compensation, so a
surrogate of the composition can be differentiated with respect to the
logits. :meth:`DesignSpace.round_weights` decodes weights back to the grid and
:meth:`DesignSpace.decode` orders a point into a structure through the
candidate generator (:func:`matscreen.candidates.generate.generate_one`).
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.candidates.oxidation import (
    MIXED_VALENT,
    VACANCY,
    common_oxidation_states,
    is_charge_balanced,
    nominal_oxidation_state,
)

if TYPE_CHECKING:
    import torch

    from matscreen.candidates.records import CandidateRecord
    from matscreen.design.config import DesignSpaceSpec

LOG = logging.getLogger(__name__)

__all__ = ["DesignPoint", "DesignSpace", "InfeasibleSpaceError", "PrototypeBlock", "SiteBlock"]


class InfeasibleSpaceError(ValueError):
    """A design space with no charge-balanced point within the cell-size cap."""


@dataclass(frozen=True, order=True)
class DesignPoint:
    """One discrete point: a prototype index and per-site species counts (sum = grid)."""

    proto: int
    counts: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class SiteBlock:
    """A designed host site of a prototype."""

    label: str
    species: tuple[str, ...]
    grid: int
    max_species: int
    n_sites: int  # sites of this label in the primitive host cell
    min_counts: tuple[int, ...] = ()  # least grid count per species (empty: none)


@dataclass
class PrototypeBlock:
    """A prototype with its designed sites, host site counts and compensation mode."""

    name: str
    sites: list[SiteBlock]
    compensation: str
    counts: dict[str, int]  # label -> sites in the primitive host cell
    slices: list[slice] = field(default_factory=list)  # logit columns of each site

    @property
    def n_columns(self) -> int:
        """Number of relaxed weights (logit columns) of this prototype."""
        return sum(len(s.species) for s in self.sites)


def _site_options(site: SiteBlock) -> list[tuple[int, ...]]:
    """All count vectors over the site's species summing to its grid (<= max_species nonzero)."""
    out = []
    k = len(site.species)
    for combo in itertools.combinations_with_replacement(range(k), site.grid):
        counts = [0] * k
        for i in combo:
            counts[i] += 1
        if sum(c > 0 for c in counts) > site.max_species:
            continue
        if site.min_counts and any(c < m for c, m in zip(counts, site.min_counts, strict=True)):
            continue
        out.append(tuple(counts))
    return out


class DesignSpace:
    """Prototypes with per-site species and fraction grids (see module docstring).

    Parameters
    ----------
    blocks
        One :class:`PrototypeBlock` per prototype.
    max_atoms
        Largest ordered cell allowed.
    max_points
        Cap on the feasible points enumerated.
    family
        Family given to decoded candidates.
    """

    def __init__(
        self, blocks: list[PrototypeBlock], *, max_atoms: int, max_points: int, family: str
    ) -> None:
        self.blocks = blocks
        self.max_atoms = max_atoms
        self.max_points = max_points
        self.family = family
        elements: set[str] = {"Li"}
        for block in blocks:
            elements |= {lab for lab in block.counts if lab != "Li_interstitial"}
            for site in block.sites:
                elements |= {sp for sp in site.species if sp != VACANCY}
        self.elements: list[str] = sorted(elements)
        self.index = {el: i for i, el in enumerate(self.elements)}
        for block in blocks:
            start = 0
            block.slices = []
            for site in block.sites:
                block.slices.append(slice(start, start + len(site.species)))
                start += len(site.species)
        self._feasible: list[DesignPoint] | None = None

    # -- construction ----------------------------------------------------
    @classmethod
    def from_spec(cls, spec: DesignSpaceSpec, family: str) -> DesignSpace:
        """Build the space from the validated ``space:`` section of a workflow."""
        from matscreen.candidates.ordering import host_cell

        blocks = []
        for proto in spec.prototypes:
            _prim, labels = host_cell(proto.prototype)
            counts = {lab: labels.count(lab) for lab in dict.fromkeys(labels)}
            sites = [
                SiteBlock(
                    label, tuple(s.species), s.grid, s.max_species, counts[label],
                    tuple(math.ceil(s.min_fraction.get(sp, 0.0) * s.grid - 1e-9)
                          for sp in s.species),
                )
                for label, s in proto.sites.items()
            ]  # fmt: skip
            blocks.append(PrototypeBlock(proto.prototype, sites, proto.compensation, counts))
        return cls(blocks, max_atoms=spec.max_atoms, max_points=spec.max_points, family=family)

    # -- discrete points -------------------------------------------------
    def raw_occupancy(self, point: DesignPoint) -> dict[str, dict[str, Fraction]]:
        """Site occupancy of a point before charge compensation."""
        from matscreen.candidates.ordering import INTERSTITIAL

        block = self.blocks[point.proto]
        occ: dict[str, dict[str, Fraction]] = {
            lab: ({lab: Fraction(1)} if lab != INTERSTITIAL else {VACANCY: Fraction(1)})
            for lab in block.counts
        }
        for site, counts in zip(block.sites, point.counts, strict=True):
            occ[site.label] = {
                sp: Fraction(c, site.grid) for sp, c in zip(site.species, counts, strict=True) if c
            }
        return occ

    def occupancy(self, point: DesignPoint) -> tuple[dict[str, dict[str, Fraction]] | None, str]:
        """Compensated occupancy and ``""``, or ``None`` and the reason it is infeasible."""
        from matscreen.candidates.generate import _amounts, _compensate
        from matscreen.candidates.ordering import supercell_multiplier

        block = self.blocks[point.proto]
        occ, reason = _compensate(self.raw_occupancy(point), block.counts, block.compensation)
        if occ is None:
            return None, reason or "cannot compensate"
        if not is_charge_balanced(_amounts(occ, block.counts)):
            return None, "not charge balanced with common oxidation states"
        k = supercell_multiplier(block.counts, occ)
        n_atoms = k * sum(
            float(sum(f for sp, f in occ[lab].items() if sp != VACANCY)) * n
            for lab, n in block.counts.items()
        )
        if n_atoms > self.max_atoms + 1e-9:
            return None, f"ordered cell needs {n_atoms:.0f} atoms > max_atoms={self.max_atoms}"
        return occ, ""

    def amounts(self, point: DesignPoint) -> dict[str, float]:
        """Element amounts per primitive host cell (after compensation; raw if infeasible)."""
        from matscreen.candidates.generate import _amounts

        cache = self.__dict__.setdefault("_amount_cache", {})
        if point not in cache:
            occ, _ = self.occupancy(point)
            block = self.blocks[point.proto]
            cache[point] = _amounts(
                occ if occ is not None else self.raw_occupancy(point), block.counts
            )
        return dict(cache[point])

    def formula(self, point: DesignPoint) -> str:
        """Reduced formula of a point (:func:`~matscreen.design.novelty.reduced_formula`)."""
        from pymatgen.core import Composition

        from matscreen.design.novelty import reduced_formula

        cache = self.__dict__.setdefault("_formula_cache", {})
        if point not in cache:
            cache[point] = reduced_formula(Composition(self.amounts(point)))
        return cache[point]

    def amounts_matrix(self, points: list[DesignPoint]) -> np.ndarray:
        """``(n, n_elements)`` element amounts of points (rows normalized to fractions)."""
        out = np.zeros((len(points), len(self.elements)))
        for i, p in enumerate(points):
            for el, amt in self.amounts(p).items():
                out[i, self.index[el]] = amt
        return out / out.sum(axis=1, keepdims=True).clip(1e-12)

    def all_points(self) -> Any:
        """Iterate over every grid point (feasible or not), prototype by prototype."""
        for p, block in enumerate(self.blocks):
            for combo in itertools.product(*[_site_options(s) for s in block.sites]):
                yield DesignPoint(p, tuple(combo))

    def feasible_points(self) -> list[DesignPoint]:
        """Every feasible point (cached), in a deterministic order.

        Raises
        ------
        InfeasibleSpaceError
            If no point of the space is charge balanced within ``max_atoms``.
        """
        if self._feasible is not None:
            return self._feasible
        out: list[DesignPoint] = []
        reasons: dict[str, int] = {}
        n_seen = 0
        for point in self.all_points():
            n_seen += 1
            occ, reason = self.occupancy(point)
            if occ is None:
                reasons[reason] = reasons.get(reason, 0) + 1
            else:
                out.append(point)
                if len(out) >= self.max_points:
                    LOG.warning("design space capped at max_points=%d", self.max_points)
                    break
        if not out:
            detail = "; ".join(f"{r} ({n}x)" for r, n in sorted(reasons.items()))
            names = ", ".join(b.name for b in self.blocks)
            raise InfeasibleSpaceError(
                f"design space on {names} has no feasible point: all {n_seen} grid points "
                f"were rejected ({detail})"
            )
        LOG.info("design space: %d feasible of %d grid points", len(out), n_seen)
        self._feasible = out
        return out

    def sample(self, n: int, rng: np.random.Generator) -> list[DesignPoint]:
        """Draw ``n`` distinct feasible points uniformly (fewer if the space is smaller)."""
        pts = self.feasible_points()
        idx = rng.choice(len(pts), size=min(n, len(pts)), replace=False)
        return [pts[i] for i in idx]

    def decode(
        self, point: DesignPoint, *, seed: int = 0, n_orderings: int = 20
    ) -> CandidateRecord:
        """Order a feasible point into a candidate record via the candidate generator.

        Raises
        ------
        ValueError
            If the point is infeasible (the reason is in the message).
        """
        from matscreen.candidates.generate import generate_one

        occ, reason = self.occupancy(point)
        if occ is None:
            raise ValueError(f"point {point} is infeasible: {reason}")
        return generate_one(
            self.blocks[point.proto].name,
            occ,
            family=self.family,
            max_atoms=self.max_atoms,
            n_orderings=n_orderings,
            seed=seed,
        )

    # -- continuous relaxation -------------------------------------------
    def _block_tensors(self, proto: int, device: Any) -> dict[str, Any]:
        """Constant tensors mapping the relaxed weights of one prototype to element amounts."""
        import torch

        cache = self.__dict__.setdefault("_tensor_cache", {})
        key = (proto, str(device))
        if key in cache:
            return cache[key]
        block = self.blocks[proto]
        m = len(self.elements)
        base = np.zeros(m)
        designed = {s.label for s in block.sites}
        for lab, n in block.counts.items():
            if lab not in designed and lab != "Li_interstitial":
                base[self.index[lab]] += n
        onehot = np.zeros((block.n_columns, m))
        for site, sl in zip(block.sites, block.slices, strict=True):
            for j, sp in enumerate(site.species):
                if sp != VACANCY:
                    onehot[sl.start + j, self.index[sp]] = site.n_sites
        nominal = np.array([nominal_oxidation_state(e) for e in self.elements], dtype=float)
        states = [common_oxidation_states(e) for e in self.elements]
        mixed = np.array([e in MIXED_VALENT for e in self.elements])
        lo = np.where(mixed, [min(s) for s in states], nominal)
        hi = np.where(mixed, [max(s) for s in states], nominal)
        li_sites = block.counts.get("Li", 0) if "Li" not in designed else 0
        out = {
            "base": torch.tensor(base, dtype=torch.float32, device=device),
            "onehot": torch.tensor(onehot, dtype=torch.float32, device=device),
            "nominal": torch.tensor(nominal, dtype=torch.float32, device=device),
            "lo": torch.tensor(lo, dtype=torch.float32, device=device),
            "hi": torch.tensor(hi, dtype=torch.float32, device=device),
            "li_sites": float(li_sites),
            "n_int": float(block.counts.get("Li_interstitial", 0)),
            "li_index": self.index["Li"],
        }
        cache[key] = out
        return out

    def site_weights(
        self, proto: int, logits: torch.Tensor, temperature: float = 1.0
    ) -> torch.Tensor:
        """Per-site softmax of ``(B, n_columns)`` logits (each site's weights sum to 1)."""
        import torch

        block = self.blocks[proto]
        parts = [torch.softmax(logits[:, sl] / temperature, dim=-1) for sl in block.slices]
        return torch.cat(parts, dim=-1)

    def amounts_torch(self, proto: int, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Element amounts per primitive cell from relaxed site weights, and a feasibility penalty.

        Parameters
        ----------
        proto
            Prototype index.
        weights
            ``(B, n_columns)`` site weights (see :meth:`site_weights`).

        Returns
        -------
        amounts, penalty
            ``(B, n_elements)`` amounts (Li compensated as in the generator)
            and ``(B,)`` a non-negative charge-balance violation (0 when the
            relaxed point could be neutral).
        """
        import torch

        t = self._block_tensors(proto, weights.device)
        amounts = t["base"] + weights @ t["onehot"]
        block = self.blocks[proto]
        if block.compensation == "li":
            charge = amounts @ t["nominal"]
            li = t["li_index"]
            delta = torch.zeros_like(amounts)
            delta[:, li] = -charge
            amounts = amounts + delta
            penalty = torch.relu(charge - t["li_sites"]) + torch.relu(-charge - t["n_int"])
        else:
            lo, hi = amounts @ t["lo"], amounts @ t["hi"]
            penalty = torch.relu(lo) + torch.relu(-hi)
        return amounts.clamp_min(0.0), penalty

    def round_weights(self, proto: int, weights: np.ndarray) -> list[DesignPoint]:
        """Decode relaxed weights to the nearest grid point (largest-remainder rounding per site).

        Species beyond the site's ``max_species`` largest weights are dropped first
        (never one with a ``min_fraction`` floor). With floors, each floored species
        gets its least count and the rest of the grid is shared out in proportion to
        the weight above the floors, so a rounded point is never below a floor.
        """
        block = self.blocks[proto]
        out = []
        for row in np.asarray(weights, dtype=float):
            counts = []
            for site, sl in zip(block.sites, block.slices, strict=True):
                w = row[sl].copy()
                mins = np.asarray(site.min_counts or (0,) * len(w), dtype=float)
                kept = np.ones(len(w), dtype=bool)
                if site.max_species < len(w):
                    rank = np.where(mins > 0, np.inf, w)  # floored species are always kept
                    kept[np.argsort(-rank, kind="stable")[site.max_species :]] = False
                    w[~kept] = 0.0
                w = w / w.sum() if w.sum() > 0 else kept / kept.sum()  # all zero: uniform, kept
                raw = w * site.grid
                if mins.any():
                    excess = np.clip(raw - mins, 0.0, None)
                    excess = excess if excess.sum() > 0 else w
                    raw = mins + (site.grid - mins.sum()) * excess / excess.sum()
                c = np.floor(raw).astype(int)
                rest = site.grid - c.sum()
                order = np.argsort(-(raw - c), kind="stable")
                c[order[:rest]] += 1
                counts.append(tuple(int(v) for v in c))
            out.append(DesignPoint(proto, tuple(counts)))
        return out

    def point_weights(self, point: DesignPoint) -> np.ndarray:
        """Return the site-weight vector of a discrete point (counts / grid)."""
        block = self.blocks[point.proto]
        return np.concatenate(
            [
                np.asarray(c, dtype=float) / s.grid
                for s, c in zip(block.sites, point.counts, strict=True)
            ]
        )
