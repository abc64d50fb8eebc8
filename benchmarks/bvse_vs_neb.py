"""Compare bvlain's BVSE barriers with DFT-NEB migration barriers of the same hosts.

The design benchmark's hit criterion and the screening's Li-transport check use the
BVSE percolation barrier (``matscreen.featurize.transport.BVSEBarrier``, bvlain). The
design issue states its cut (0.35 eV) without a scale; the known fast halides
Li3InCl6, Li3YCl6 and Li2ZrCl6 come out at 0.45-0.55 eV in bvlain. This benchmark
measures how the two scales relate on independent data: the Li hops of the
literature DFT-NEB barriers shipped in ``datasets/migration_barriers`` (train and
test files of the 5-image set, 175 Li hops; ``matscreen.datasets.load_migration_barriers``).
It contains no Li3MX6-type halide; its electrolytes are sulfides, phosphates,
antiperovskites, NASICONs and a garnet.

Per host (the dataset's system name without its path number): one BVSE map, the
1D percolation barrier on the design loop's 0.3 A grid, of the first of its hop
cells that can be charge balanced (the cell with the ion on both ends of its path,
else on its start site only; bvlain removes every Li from the map, so the Li count
only sets the oxidation states). Its NEB barriers: the lowest and the highest of the
host's hops. A percolation barrier is the bottleneck hop of the best connected path,
which lies between the two when the listed hops make up that path (not checked: the
dataset does not say which hops connect, and some highest hops are off-path outliers,
Li3OBr 1.78 eV, Li2NiO2 2.5 eV), so both are compared.

Printed: Spearman rank correlation with a bootstrap 90% interval (resampling hosts),
the median BVSE - NEB offset by family group, and what "NEB barrier <= 0.35 eV"
corresponds to on the BVSE scale, three ways, each with its bootstrap interval: the
BVSE cut with the best balanced accuracy, the cut that passes the same fraction of
hosts, and 0.35 plus the median offset. ``--csv`` writes the per-host table.

Run:  python benchmarks/bvse_vs_neb.py [--csv hosts.csv]   (~2 min on 2 cores)

Result (2026-11-27, 2 shared cores, ~110 s; ``results/bvse_vs_neb_2026-11-27.log``, per host
``results/bvse_vs_neb_hosts_2026-11-27.csv``): 89 of 94 hosts get a barrier (no charge
balance for the Ru oxides (Ru3+ is not among our Ru states), LiSc2S4/Se4 as rebuilt, and a
cyanide).

| NEB of host | Spearman [90%] | BVSE - NEB [90%] | electrolytes (19) | cut: bacc / frac / offset |
|---|---|---|---|---|
| lowest hop | 0.20 [0.01, 0.40] | +0.21 [0.17, 0.24] | +0.10, 0.41 | 0.42 / 0.54 / 0.56 |
| highest hop | 0.34 [0.14, 0.52] | +0.13 [0.08, 0.18] | +0.04, 0.45 | 0.46 / 0.49 / 0.48 |

(BVSE - NEB: the median offset; electrolytes: their offset and Spearman; cut: the BVSE
cut for "NEB <= 0.35 eV" by best balanced accuracy, same pass fraction, 0.35 + offset.)

What it says:

- BVSE barriers sit above NEB barriers (median +0.13 to +0.21 eV; about +1 eV for the 14
  layered and rutile-type hosts, where the BVSE map misses the low-barrier hop the NEB
  finds) and rank hosts weakly (Spearman 0.2-0.4). A BVSE barrier is a coarse filter, not
  an estimate of an NEB barrier; balanced accuracy against "NEB <= 0.35" stays below 0.66
  at every cut.
- "NEB barrier <= 0.35 eV" corresponds to a BVSE cut of 0.42-0.56 eV by the six estimates
  (0.46-0.49 with the highest hop, 0.42-0.56 with the lowest; bootstrap intervals 0.33-0.60).
  The 19 electrolyte hosts alone, the closest kin of the design space (which the data do not
  cover: no Li3MX6 halide), give 0.39-0.45 by their offset. The design benchmark's 0.45
  (``design.BVSE_CUT``) lies inside that range; the issue's literal 0.35 lies below every
  estimate and inside one interval only.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np

#: Families whose hosts are solid electrolytes in the dataset's labels.
ELECTROLYTE_FAMILIES = (
    "ELECTROLYTES", "GARNETS", "ANTI-PEROVSKITE", "THIOSULPHATE", "THIOPHOSPHATE", "NASICON",
)  # fmt: skip
#: Layered and rutile-type hosts (the dataset's LAYERED also holds V2O5 and anatase).
LAYERED_FAMILIES = ("LAYERED", "RUTILE")
#: BVSE cuts scanned for the best balanced accuracy against "NEB <= 0.35 eV" (eV).
CUTS = np.round(np.arange(0.15, 0.901, 0.01), 2)
#: BVSE cuts shown in the printed table.
TABLE_CUTS = np.round(np.arange(0.30, 0.651, 0.05), 2)


def bvse_per_host(hops, resolution: float):  # noqa: ANN001, ANN201
    """Return one row per host: its NEB barriers and its BVSE 1D barrier (eV).

    Columns: ``host_name``, ``family``, ``hops``, ``neb_min``, ``neb_max``,
    ``bvse`` (NaN when no cell of the host could be computed), ``bvse_cell``
    (which cell gave it) and ``bvse_error`` (every cell's failure, when none did).
    """
    import pandas as pd

    from matscreen.featurize.transport import BVSEBarrier

    bvse = BVSEBarrier(resolution)
    rows = []
    for host_name, group in hops.groupby("host_name", sort=True):
        result, used, errors = np.nan, "", []
        for _, hop in group.iterrows():
            for cell_kind in ("host", "path_start"):
                structure = hop[cell_kind]
                try:
                    structure = structure.get_primitive_structure(tolerance=0.1)
                except Exception:  # noqa: BLE001 - keep the supercell
                    logging.getLogger(__name__).debug("no primitive cell for %s", host_name)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        result = bvse.featurize(structure)[0]
                except (ValueError, KeyError) as exc:  # charge balance, bvlain parameters
                    errors.append(f"{hop['sys_name']} {cell_kind}: {str(exc)[:90]}")
                    continue
                used = f"{hop['sys_name']} {cell_kind}"
                break
            if used:
                break
        rows.append(
            {
                "host_name": host_name,
                "family": group["family"].iloc[0],
                "formula": group["formula"].iloc[0],
                "hops": len(group),
                "neb_min": float(group["barrier"].min()),
                "neb_max": float(group["barrier"].max()),
                "bvse": float(result),
                "bvse_cell": used,
                "bvse_error": "" if used else "; ".join(dict.fromkeys(errors)),
            }
        )
    return pd.DataFrame(rows)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])


def _balanced_accuracy(bvse: np.ndarray, fast: np.ndarray, cut: float) -> float:
    passed = bvse <= cut
    tpr = (passed & fast).sum() / max(1, fast.sum())
    tnr = (~passed & ~fast).sum() / max(1, (~fast).sum())
    return float(0.5 * (tpr + tnr))


def cut_estimates(neb: np.ndarray, bvse: np.ndarray, neb_cut: float) -> dict[str, float]:
    """Return the BVSE counterparts of ``NEB <= neb_cut`` (eV), the correlation and offset.

    The counterparts: the cut of :data:`CUTS` with the best balanced accuracy, the
    cut passing the same fraction of hosts, and ``neb_cut`` plus the median offset.
    """
    fast = neb <= neb_cut
    bacc = [_balanced_accuracy(bvse, fast, c) for c in CUTS]
    offset = float(np.median(bvse - neb))
    return {
        "spearman": _spearman(neb, bvse),
        "median_offset": offset,
        "cut_best_balanced_accuracy": float(CUTS[int(np.argmax(bacc))]),
        "cut_same_pass_fraction": float(np.quantile(bvse, fast.mean())),
        "cut_offset": neb_cut + offset,
    }


def bootstrap(neb: np.ndarray, bvse: np.ndarray, neb_cut: float, n: int = 1000) -> dict:
    """90% intervals of :func:`cut_estimates` over hosts resampled with replacement."""
    rng = np.random.default_rng(0)
    draws: dict[str, list[float]] = {}
    for _ in range(n):
        idx = rng.integers(0, len(neb), len(neb))
        for key, value in cut_estimates(neb[idx], bvse[idx], neb_cut).items():
            draws.setdefault(key, []).append(value)
    return {k: np.nanpercentile(v, [5, 95]) for k, v in draws.items()}


def compare(hosts, neb_cut: float = 0.35) -> dict[str, float]:  # noqa: ANN001
    """Print the comparison tables; return the headline figures."""
    ok = hosts[np.isfinite(hosts["bvse"])].copy()
    print(f"hosts: {len(hosts)}, with a BVSE barrier: {len(ok)}, hops: {int(hosts['hops'].sum())}")
    for _, row in hosts[~np.isfinite(hosts["bvse"])].iterrows():
        print(f"  no BVSE barrier for {row['host_name']} ({row['formula']}): {row['bvse_error']}")
    groups = {
        "all hosts": ok,
        "electrolyte families": ok[ok["family"].isin(ELECTROLYTE_FAMILIES)],
        "electrode families, not layered": ok[
            ~ok["family"].isin(ELECTROLYTE_FAMILIES + LAYERED_FAMILIES)
        ],
        "layered and rutile": ok[ok["family"].isin(LAYERED_FAMILIES)],
    }
    headline: dict[str, float] = {}
    for which in ("neb_min", "neb_max"):
        label = "lowest hop" if which == "neb_min" else "highest hop"
        print(f"\nNEB barrier of a host = its {label}")
        print("| hosts | n | median NEB | median BVSE | median BVSE - NEB | Spearman |")
        print("|---|---|---|---|---|---|")
        for name, g in groups.items():
            rho = _spearman(g[which], g["bvse"]) if len(g) > 2 else float("nan")
            print(f"| {name} | {len(g)} | {g[which].median():.3f} | {g['bvse'].median():.3f} | "
                  f"{(g['bvse'] - g[which]).median():+.3f} | {rho:.2f} |")  # fmt: skip
        neb, bvse = ok[which].to_numpy(), ok["bvse"].to_numpy()
        fast = neb <= neb_cut
        print(f"hosts with NEB <= {neb_cut} eV: {int(fast.sum())} of {len(ok)}")
        print("| BVSE cut (eV) | pass | true pos | false pos | false neg | balanced accuracy |")
        print("|---|---|---|---|---|---|")
        for c in TABLE_CUTS:
            passed = bvse <= c
            counts = [passed.sum(), (passed & fast).sum(), (passed & ~fast).sum()]
            counts.append((~passed & fast).sum())
            print(f"| {c:.2f} | " + " | ".join(str(int(n)) for n in counts)
                  + f" | {_balanced_accuracy(bvse, fast, c):.3f} |")  # fmt: skip
        point = cut_estimates(neb, bvse, neb_cut)
        band = bootstrap(neb, bvse, neb_cut)
        print(f"estimates with bootstrap 90% intervals (NEB = {label}):")
        for key, value in point.items():
            lo, hi = band[key]
            print(f"  {key}: {value:.3f} [{lo:.3f}, {hi:.3f}]")
        suffix = "min" if which == "neb_min" else "max"
        headline[f"bvse_neb_spearman_{suffix}"] = point["spearman"]
        headline[f"bvse_neb_median_offset_eV_{suffix}"] = point["median_offset"]
        for key in ("cut_best_balanced_accuracy", "cut_same_pass_fraction", "cut_offset"):
            headline[f"bvse_{key}_for_neb_035_{suffix}"] = point[key]
    return headline


def main() -> None:
    """Compute the BVSE barriers of the dataset's Li hosts and print the comparison."""
    from matscreen.datasets.migration_barriers import load_migration_barriers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=float, default=0.3, help="BVSE grid (A); design: 0.3")
    ap.add_argument("--csv", type=Path, help="write the per-host table here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    hosts = bvse_per_host(load_migration_barriers("Li"), args.resolution)
    print(f"BVSE grid {args.resolution} A; {time.perf_counter() - t0:.0f} s")
    if args.csv:
        hosts.to_csv(args.csv, index=False, float_format="%.4f")
    headline = compare(hosts)
    print()
    for name, value in headline.items():
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
