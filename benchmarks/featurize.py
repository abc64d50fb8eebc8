"""Featurization throughput: matscreen's engine vs matminer's featurize_dataframe.

Both featurize the same structures with the same featurizers (Magpie element
statistics, stoichiometry, valence orbitals, density, global symmetry), and the
values are checked to agree before any timing is reported. matminer runs with
its defaults (``featurize_dataframe``, a multiprocessing pool over all cores);
matscreen runs its chunked engine on a 2-worker Dask LocalCluster (started
before the clock, as in a screening run) with the cache disabled, and also
serially in this process.

The structures are the OBELiX CIFs that are ordered (real, diverse
electrolytes, shipped in datasets/obelix), repeated to ``--n`` entries with
distinct lattice strains (and structures shared by two OBELiX entries counted once)
so that no cache or duplicate shortcut can apply.

Usage: python benchmarks/featurize.py [--n 600] [--workers 2]
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import numpy as np
import pandas as pd


def load_structures(n: int) -> list:
    """Return ``n`` distinct ordered structures built from the OBELiX CIFs."""
    from matscreen.core.hashing import structure_hash
    from matscreen.datasets.obelix import obelix_structures

    unique = {}
    for s in obelix_structures().values():
        if s.is_ordered and len(s) <= 200:
            unique.setdefault(structure_hash(s), s)  # some entries share one structure
    base = sorted(unique.values(), key=lambda s: (len(s), s.composition.reduced_formula))
    out = []
    copy = 0
    while len(out) < n:
        for s in base:
            if len(out) == n:
                break
            strained = s.copy()
            strained.apply_strain(0.002 * copy)  # each pass over the set a distinct strain
            out.append(strained)
        copy += 1
    return out


def run_matminer(structures: list) -> tuple[pd.DataFrame, float]:
    """Featurize with matminer's featurize_dataframe; return features and seconds."""
    from matminer.featurizers.composition import ElementProperty, Stoichiometry, ValenceOrbital
    from matminer.featurizers.structure import DensityFeatures, GlobalSymmetryFeatures

    numeric = ["spacegroup_num", "crystal_system_int", "is_centrosymmetric", "n_symmetry_ops"]
    df = pd.DataFrame({"structure": structures, "composition": [s.composition for s in structures]})
    t = time.perf_counter()
    for f in (ElementProperty.from_preset("magpie"), Stoichiometry(), ValenceOrbital()):
        df = f.featurize_dataframe(df, "composition", pbar=False)
    for f in (DensityFeatures(), GlobalSymmetryFeatures(desired_features=numeric)):
        df = f.featurize_dataframe(df, "structure", pbar=False)
    elapsed = time.perf_counter() - t
    return df.drop(columns=["structure", "composition"]).astype(float), elapsed


def run_matscreen(structures: list, client, chunk_size: int = 64) -> tuple[pd.DataFrame, float]:  # noqa: ANN001
    """Featurize with matscreen's engine; return features and seconds."""
    from matscreen.featurize.composition import (
        ElementStatistics,
        StoichiometryNorms,
        ValenceOrbitalFractions,
    )
    from matscreen.featurize.engine import featurize
    from matscreen.featurize.structure import DensityFeaturesFast, SymmetryFeatures

    fs = [ElementStatistics(), StoichiometryNorms(), ValenceOrbitalFractions(),
          DensityFeaturesFast(), SymmetryFeatures()]  # fmt: skip
    t = time.perf_counter()
    table = featurize(structures, fs, client=client, chunk_size=chunk_size, cache_dir=None)
    elapsed = time.perf_counter() - t
    assert table["featurize_error"].isna().all(), table["featurize_error"].dropna().head()
    return table.drop(columns=["featurize_error"]), elapsed


def main() -> None:
    """Run both engines, check agreement, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600, help="structures to featurize")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers for matscreen")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)

    from distributed import Client, LocalCluster

    structures = load_structures(args.n)
    atoms = np.mean([len(s) for s in structures])
    print(f"{len(structures)} ordered OBELiX structures (mean {atoms:.1f} atoms)")

    mm, t_mm = run_matminer(structures)
    ms_serial, t_serial = run_matscreen(structures, None)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as lc, Client(lc) as client:  # fmt: skip
        # Warm the workers (imports, element tables) as a running screening would be.
        run_matscreen(structures[: 4 * args.workers], client, chunk_size=2)
        ms_dask, t_dask = run_matscreen(structures, client)

    common = [c for c in mm.columns]
    assert list(ms_dask.columns) == common, set(common) ^ set(ms_dask.columns)
    for table in (ms_serial, ms_dask):
        np.testing.assert_allclose(
            table[common].to_numpy(float), mm.to_numpy(float), rtol=1e-8, atol=1e-8
        )
    print(f"values agree: {len(common)} features x {len(structures)} structures")

    rate = lambda t: len(structures) / t  # noqa: E731
    print(f"{'engine':<42}{'time (s)':>10}{'structures/s':>14}{'ratio':>8}")
    for name, t in [("matminer featurize_dataframe (defaults)", t_mm),
                    ("matscreen engine, serial (1 process)", t_serial),
                    (f"matscreen engine, Dask {args.workers} workers", t_dask)]:  # fmt: skip
        print(f"{name:<42}{t:>10.2f}{rate(t):>14.1f}{t_mm / t:>8.2f}")
    print(f"featurize_speedup_serial_vs_matminer: {t_mm / t_serial:.2f}")
    print(f"featurize_speedup_vs_matminer: {t_mm / t_dask:.2f}")


if __name__ == "__main__":
    main()
