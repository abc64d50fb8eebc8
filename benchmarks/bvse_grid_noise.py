"""How much does a BVSE barrier depend on where the grid sits? Translate cells and see.

bvlain evaluates the bond-valence site energy on a real-space grid, so a barrier is
exact only up to the grid: translating a cell (which changes nothing physical) moves
its saddle points relative to the grid points and the barrier with them. Symmetry-
equivalent cation orderings of one composition (the same cell, shifted) differ the same
way. This noise is a floor for any surrogate of the barrier, and the design loop's hit
criterion (``barrier <= cut``) flips with it near the cut.

Per grid spacing: cells decoded from random points of the design benchmark's space
(``benchmarks/design.py``, dev seed; unrelaxed decoded cells), each translated by the same
random fractional offsets for every grid; the
printed noise is the mean over cells of the std over translations, with the time per
barrier. bvlain's percolation search steps the energy by ~0.01 eV, the floor of any grid.

Run:  python benchmarks/bvse_grid_noise.py  [--cells 6 --shifts 4 --grids 0.4,0.3,0.2]
      (~3 min on 2 cores with 0.2 A, ~1 min without)

Measured (benchmarks/results/bvse_grid_noise_2026-11-27.log, the same translations on
every grid): std 0.022 eV at 0.4 A, 0.010 at 0.3 A, 0.0045 at 0.2 A; mean barrier 0.458 /
0.450 / 0.446 eV (0.4 A reads ~0.01 eV high); 0.7 / 2.3 / 6.5 s per barrier. Hence the
design loop's 0.3 A default: half the 0.4 A noise at ~3x the cost (0.2 A halves it again
at ~9x). A first run with different translations per grid gave 0.022 / 0.008 / 0.007.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from design import _config  # noqa: E402


def translation_noise(
    structures: list, grid: float, offsets: np.ndarray
) -> tuple[float, float, float]:
    """Mean over cells of the barrier std over the translations; mean barrier; s each.

    ``offsets[i]``: the fractional translations of cell ``i`` (the same for every grid).
    """
    from matscreen.featurize.transport import BVSEBarrier

    bvse = BVSEBarrier(resolution=grid)
    stds, means, elapsed = [], [], 0.0
    for s, shifts in zip(structures, offsets, strict=True):
        values = []
        for offset in shifts:
            moved = s.copy()
            moved.translate_sites(
                list(range(len(moved))), offset, frac_coords=True, to_unit_cell=True
            )
            t0 = time.perf_counter()
            values.append(min(bvse.featurize(moved)))  # lowest-dimension percolation barrier
            elapsed += time.perf_counter() - t0
        stds.append(np.std(values, ddof=1))
        means.append(np.mean(values))
    return float(np.mean(stds)), float(np.mean(means)), elapsed / offsets[..., 0].size


def main() -> None:
    """Print the translation noise of BVSE barriers per grid spacing."""
    from matscreen.design.space import DesignSpace

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=6)
    ap.add_argument("--shifts", type=int, default=4)
    ap.add_argument("--grids", default="0.4,0.3,0.2")
    ap.add_argument("--seed", type=int, default=7, help="dev seed (not the benchmark's 0-2)")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)
    cfg = _config(args.seed, "gradient", 1, 1)
    space = DesignSpace.from_spec(cfg.space, cfg.family)
    points = space.feasible_points()
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(points), size=args.cells, replace=False)
    structures = [space.decode(points[i], seed=0, n_orderings=10).structure for i in chosen]
    offsets = rng.uniform(size=(len(structures), args.shifts, 3))
    grids = [float(g) for g in args.grids.split(",")]
    results = {}
    print(f"{len(structures)} cells, {args.shifts} random translations each")
    for grid in grids:
        noise, mean, per = translation_noise(structures, grid, offsets)
        results[grid] = noise
        print(f"grid {grid:.2f} A: translation std {noise:.4f} eV, mean barrier {mean:.3f} eV, "
              f"{per:.2f} s per barrier")  # fmt: skip
    for grid in grids:
        print(f"bvse_translation_std_{grid:g}A: {results[grid]:.4f}")


if __name__ == "__main__":
    main()
