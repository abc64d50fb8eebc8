"""Li-transport descriptors for solid electrolytes.

:class:`LiTransportFeatures` is cheap (one neighbour list per structure):
Li content, Li-Li distances, Li coordination, volume per anion, free volume,
the size of the bottleneck between neighbouring Li sites and the
dimensionality of the Li-Li hopping network.

:class:`BVSEBarrier` is the bond-valence site-energy (BVSE) percolation
barrier of Li+ computed with bvlain; it costs ~0.1-2 s per structure, so a
screening run applies it to the survivors of the cheap stages only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from matscreen.featurize.base import BatchFeaturizer
from matscreen.featurize.structure import (
    atomic_numbers,
    bonded_pairs,
    ionic_radius_table,
    is_anion,
    require_ordered,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

LI_Z = 3
LI_RADIUS = 0.76  # Shannon, Li+ in octahedral coordination (Å)


def _require_li(z: np.ndarray) -> np.ndarray:
    li = z == LI_Z
    if not li.any():
        raise ValueError("structure contains no Li")
    return li


class LiTransportFeatures(BatchFeaturizer):
    """Geometric Li-transport descriptors of an ordered, Li-containing structure.

    Features
    --------
    li_fraction
        Li atoms / all atoms.
    li_li_nn_mean, li_li_nn_min
        Mean and minimum over Li of the distance to the nearest other Li (Å).
    li_anion_cn_mean
        Mean number of anions around Li within ``bond_tolerance`` x (r_Li + r_X),
        or in its first shell when the nearest anion is farther
        (:func:`~matscreen.featurize.structure.bonded_pairs`: 12 for the A-site Li of
        a perovskite, which read 0).
    volume_per_anion
        Cell volume per anion (Å³).
    free_volume_fraction
        1 - (volume of ionic spheres) / cell volume.
    bottleneck_radius_mean, bottleneck_radius_max
        For each Li, the widest opening among its hops to Li neighbours within
        ``hop_cutoff``: the distance from the hop midpoint to the nearest anion
        minus that anion's radius (Å); mean over Li, and the maximum.
    li_network_dim
        Dimensionality (0-3) of the network of Li hops shorter than
        ``hop_cutoff`` (pymatgen's Larsen algorithm).

    Parameters
    ----------
    hop_cutoff
        Longest Li-Li hop considered (Å).
    bond_tolerance
        Multiplier on the sum of ionic radii that defines a Li-anion bond.
    """

    input_kind = "structure"
    #: Bumped when the values change for the same parameters (the feature cache key).
    version = 2

    def __init__(self, hop_cutoff: float = 4.5, bond_tolerance: float = 1.25) -> None:
        self.hop_cutoff = hop_cutoff
        self.bond_tolerance = bond_tolerance

    def feature_labels(self) -> list[str]:
        """Return the feature names."""
        return [
            "li_fraction", "li_li_nn_mean", "li_li_nn_min", "li_anion_cn_mean",
            "volume_per_anion", "free_volume_fraction", "bottleneck_radius_mean",
            "bottleneck_radius_max", "li_network_dim",
        ]  # fmt: skip

    def featurize(self, s: Structure) -> list[float]:
        """Featurize one ordered structure."""
        s = require_ordered(s)
        z = atomic_numbers(s)
        li = _require_li(z)
        anion = is_anion(z)
        if not anion.any():
            raise ValueError("structure contains no anions")
        radius = ionic_radius_table()[z]
        li_idx = np.flatnonzero(li)
        n_li = len(li_idx)

        cut = max(self.hop_cutoff, 12.0 if n_li == 1 else self.hop_cutoff)
        centers, neighbors, images, dists = s.get_neighbor_list(cut, sites=[s[i] for i in li_idx])
        centers = li_idx[centers]
        li_pairs = li[neighbors] & (dists > 1e-6)
        nn = np.full(len(s), np.inf)
        np.minimum.at(nn, centers[li_pairs], dists[li_pairs])
        nn_li = nn[li_idx]
        nn_li = nn_li[np.isfinite(nn_li)]

        bonded = bonded_pairs(
            centers, dists, anion[neighbors], self.bond_tolerance * (LI_RADIUS + radius[neighbors])
        )
        cn = np.bincount(centers[bonded], minlength=len(s))[li_idx]

        volume = s.volume
        n_anion = int(anion.sum())
        sphere = 4.0 / 3.0 * np.pi * np.sum(radius**3)

        bottleneck = self._bottlenecks(
            s, li_idx, centers, neighbors, images, dists, li, anion, radius
        )
        dim = self._network_dim(s) if len(nn_li) else 0
        return [
            n_li / len(s),
            float(nn_li.mean()) if len(nn_li) else np.nan,
            float(nn_li.min()) if len(nn_li) else np.nan,
            float(cn.mean()),
            volume / n_anion,
            1.0 - sphere / volume,
            float(np.mean(bottleneck)) if len(bottleneck) else 0.0,
            float(np.max(bottleneck)) if len(bottleneck) else 0.0,
            float(dim),
        ]

    def _bottlenecks(
        self,
        s: Structure,
        li_idx: np.ndarray,
        centers: np.ndarray,
        neighbors: np.ndarray,
        images: np.ndarray,
        dists: np.ndarray,
        li: np.ndarray,
        anion: np.ndarray,
        radius: np.ndarray,
    ) -> np.ndarray:
        hop = li[neighbors] & (dists > 1e-6) & (dists <= self.hop_cutoff)
        if not hop.any():
            return np.array([])
        frac = s.frac_coords
        mid = 0.5 * (frac[centers[hop]] + frac[neighbors[hop]] + images[hop])
        anion_frac = frac[anion]
        anion_r = radius[anion]
        # Distance from each midpoint to every anion under the minimum-image convention.
        delta = mid[:, None, :] - anion_frac[None, :, :]
        delta -= np.round(delta)
        cart = delta @ s.lattice.matrix
        gap = np.linalg.norm(cart, axis=-1) - anion_r[None, :]
        opening = gap.min(axis=1)
        best = np.full(len(s), -np.inf)
        np.maximum.at(best, centers[hop], opening)
        best = best[li_idx]
        return best[np.isfinite(best)]

    def _network_dim(self, s: Structure) -> int:
        from pymatgen.analysis.dimensionality import get_dimensionality_larsen
        from pymatgen.analysis.graphs import StructureGraph
        from pymatgen.analysis.local_env import CutOffDictNN

        li_only = s.copy()
        li_only.remove_species([el for el in s.composition.elements if el.symbol != "Li"])
        nn = CutOffDictNN({("Li", "Li"): self.hop_cutoff})
        graph = StructureGraph.from_local_env_strategy(li_only, nn)
        return int(get_dimensionality_larsen(graph))


class BVSEBarrier(BatchFeaturizer):
    """Li+ percolation barriers from bond-valence site energies (bvlain).

    Oxidation states are the charge-neutral averages of
    :func:`matscreen.candidates.oxidation.average_oxidation_states` (an element
    with mixed valence gets its average state, as bvlain needs), so
    mixed-valence Mn works without ``oxi_check``.

    Parameters
    ----------
    resolution
        Grid spacing of the BVSE map (Å). 0.2 is bvlain's default. On the
        design benchmark's Li3MX6 cells (``benchmarks/bvse_grid_noise.py``)
        0.3 is ~3x cheaper than 0.2 with mean barriers within ~0.005 eV; a
        barrier moves by ~0.005 / 0.01 / 0.022 eV (std) at 0.2 / 0.3 / 0.4 when
        the cell is translated against the grid.
    mobile_ion
        The mobile species, bvlain notation.
    """

    input_kind = "structure"

    def __init__(self, resolution: float = 0.3, mobile_ion: str = "Li1+") -> None:
        self.resolution = resolution
        self.mobile_ion = mobile_ion

    def feature_labels(self) -> list[str]:
        """Return the feature names (eV)."""
        return ["bvse_barrier_1d", "bvse_barrier_2d", "bvse_barrier_3d"]

    def featurize(self, s: Structure) -> list[float]:
        """Featurize one ordered structure."""
        import logging
        import warnings

        from bvlain import Lain

        s = require_ordered(s)
        _require_li(atomic_numbers(s))
        from matscreen.candidates.oxidation import average_oxidation_states

        states = average_oxidation_states(s.composition.get_el_amt_dict())  # raises if unbalanced
        decorated = s.copy()
        decorated.add_oxidation_state_by_element(states)
        level = logging.getLogger().level
        calc = Lain(verbose=False)
        try:
            with warnings.catch_warnings():
                # bvlain divides by zero at the grid points on top of ions (masked later)
                warnings.simplefilter("ignore", RuntimeWarning)
                calc.read_structure(decorated, oxi_check=False)
                calc.bvse_distribution(mobile_ion=self.mobile_ion, resolution=self.resolution)
                barriers = calc.percolation_barriers()
        finally:
            logging.getLogger().setLevel(level)
        return [float(barriers[k]) for k in ("E_1D", "E_2D", "E_3D")]

    def citations(self) -> list[str]:
        """Return the BVSE method citation."""
        return [
            "@article{chen2019bvse, title={Bond-valence site energy method for ion "
            "transport in solids}, author={Chen, Haomin and Wong, Lee Loong and Adams, "
            "Stefan}, journal={Acta Cryst. B}, volume={75}, pages={18--33}, year={2019}}"
        ]
