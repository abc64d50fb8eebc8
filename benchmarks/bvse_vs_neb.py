"""Compare bvlain's BVSE barriers with DFT-NEB migration barriers of the same hosts.

The design benchmark's hit criterion and the screening's Li-transport check use the
BVSE percolation barrier (``matscreen.featurize.transport.BVSEBarrier``, bvlain). The
design issue states its cut (0.35 eV) without a scale; the known fast halides
Li3InCl6, Li3YCl6 and Li2ZrCl6 come out at 0.45-0.55 eV in bvlain. This benchmark
measures the relation between the two scales on independent data: the Li entries of
the literature DFT-NEB barriers shipped in ``datasets/migration_barriers`` (Devi et
al., npj Comput. Mater. 2026; 154 Li hops in their host crystals,
``matscreen.datasets.load_migration_barriers``).

Per host (the dataset's system name without its path number, and its formula): the
host crystal with the migrating ion on both ends of its path, reduced to its primitive
cell; its 1D percolation barrier from bvlain on the same 0.3 A grid as the design loop
(hosts whose two-ended cell is not charge balanced, a single ion in an empty host, are
computed with the ion on its start site only); against the lowest NEB barrier of its
hops (percolation needs one connected path, so the lowest hop is the closest analogue;
the per-hop figures compare each hop with its host's barrier).

Printed: rank correlation, the BVSE - NEB offset (median, per family group), and what
"NEB barrier <= 0.35 eV" corresponds to on the BVSE scale, three ways: the BVSE cut
with the best agreement (balanced accuracy), the cut that passes the same fraction of
hosts, and 0.35 plus the median offset.

Run:  python benchmarks/bvse_vs_neb.py   (~2 min on 2 cores)

Result (2026-11-27, 2 shared cores, 97 s; ``results/bvse_vs_neb_2026-11-27.log``): 138 of
154 hops in 81 hosts get a barrier (10 hosts cannot be charge balanced as rebuilt: Ru, C,
and vacancy cells of fixed-valence hosts).

| hosts | n | median NEB | median BVSE | median BVSE - NEB | Spearman |
|---|---|---|---|---|---|
| all | 81 | 0.300 | 0.518 | +0.221 | 0.28 |
| electrolyte families | 17 | 0.367 | 0.498 | +0.052 | 0.46 |
| electrode families, not layered | 47 | 0.315 | 0.488 | +0.179 | 0.35 |
| layered and rutile | 17 | 0.263 | 1.152 | +0.961 | 0.22 |

What it says:

- BVSE barriers sit above NEB barriers (median +0.22 eV over all hosts, +0.05 over the 17
  electrolytes, ~+1 eV in layered hosts, where Li hops through a tetrahedral site that the
  perfect host's map does not open), and they rank hosts only weakly (Spearman 0.28; 0.46
  among electrolytes). A BVSE barrier is a coarse filter, not an estimate of the NEB barrier.
- "NEB barrier <= 0.35 eV" has no sharp BVSE counterpart: every BVSE cut from 0.35 to 0.50 eV
  agrees with it about equally (balanced accuracy 0.59-0.61, best at 0.40), the same pass
  fraction is reached at 0.54 eV, and 0.35 plus the median offset is 0.57 eV. A 0.35 eV cut
  stated on the NEB scale is 0.40-0.57 eV on bvlain's; the design benchmark's 0.45 sits
  inside that range, the issue's literal 0.35 below it.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import numpy as np

#: Families whose hosts are solid electrolytes (not electrode materials).
ELECTROLYTE_FAMILIES = (
    "ELECTROLYTES", "GARNETS", "ANTI-PEROVSKITE", "THIOSULPHATE", "THIOPHOSPHATE", "NASICON",
)  # fmt: skip
#: Layered and rutile hosts: Li hops through a tetrahedral site next to a divacancy,
#: which a BVSE map of the perfect host does not see.
LAYERED_FAMILIES = ("LAYERED", "RUTILE")


def bvse_of_hosts(table, resolution: float):  # noqa: ANN001, ANN201
    """Return ``table`` with ``bvse_1d`` (eV), ``bvse_cell`` and ``bvse_error`` per hop.

    One BVSE map per distinct host (``host_name`` and ``formula``).
    """
    from matscreen.featurize.transport import BVSEBarrier

    bvse = BVSEBarrier(resolution)
    out = table.copy()
    out["bvse_1d"], out["bvse_cell"], out["bvse_error"] = np.nan, "", ""
    for _, group in out.groupby(["host_name", "formula"], sort=False):
        row = group.iloc[0]
        result, cell, error = np.nan, "", ""
        for cell_kind in ("host", "path_start"):
            structure = row[cell_kind]
            try:
                structure = structure.get_primitive_structure(tolerance=0.1)
            except Exception:  # noqa: BLE001 - keep the supercell
                logging.getLogger(__name__).debug("no primitive cell for %s", row["sys_name"])
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = bvse.featurize(structure)[0]
                cell, error = cell_kind, ""
                break
            except ValueError as exc:  # charge balance: try the other cell
                error = str(exc)[:120]
        out.loc[group.index, ["bvse_1d", "bvse_cell", "bvse_error"]] = [result, cell, error]
    return out


def compare(per_hop, neb_cut: float = 0.35) -> dict[str, float]:  # noqa: ANN001
    """Print the comparison tables; return the headline figures."""
    from scipy.stats import spearmanr

    ok = per_hop[np.isfinite(per_hop["bvse_1d"])]
    hosts = ok.groupby(["host_name", "formula"]).agg(
        neb=("barrier", "min"), bvse=("bvse_1d", "first"), family=("family", "first"),
        hops=("barrier", "size"),
    )  # fmt: skip
    hosts["offset"] = hosts["bvse"] - hosts["neb"]
    rho_hop = spearmanr(ok["barrier"], ok["bvse_1d"])[0]
    rho_host = spearmanr(hosts["neb"], hosts["bvse"])[0]
    print(f"hops: {len(per_hop)}, with a BVSE barrier: {len(ok)} "
          f"(failed: {len(per_hop) - len(ok)}); hosts: {len(hosts)}")  # fmt: skip
    failed = per_hop[~np.isfinite(per_hop["bvse_1d"])].drop_duplicates(["host_name", "formula"])
    for _, row in failed.iterrows():
        print(f"  no BVSE barrier for {row['host_name']} ({row['formula']}): {row['bvse_error']}")
    print(f"Spearman rank correlation, BVSE vs NEB: per hop {rho_hop:.3f}, "
          f"per host (lowest hop) {rho_host:.3f}")  # fmt: skip
    groups = {
        "all hosts": hosts,
        "electrolyte families": hosts[hosts["family"].isin(ELECTROLYTE_FAMILIES)],
        "electrode families, not layered": hosts[
            ~hosts["family"].isin(ELECTROLYTE_FAMILIES + LAYERED_FAMILIES)
        ],
        "layered and rutile": hosts[hosts["family"].isin(LAYERED_FAMILIES)],
    }
    print("\n| hosts | n | median NEB | median BVSE | median BVSE - NEB | Spearman |")
    print("|---|---|---|---|---|---|")
    for name, g in groups.items():
        rho = spearmanr(g["neb"], g["bvse"])[0] if len(g) > 2 else float("nan")
        print(f"| {name} | {len(g)} | {g['neb'].median():.3f} | {g['bvse'].median():.3f} | "
              f"{g['offset'].median():+.3f} | {rho:.2f} |")  # fmt: skip
    fast = hosts["neb"] <= neb_cut
    print(f"\nhosts with NEB <= {neb_cut} eV: {int(fast.sum())} of {len(hosts)}; "
          f"BVSE cut c, hosts with BVSE <= c:")  # fmt: skip
    print("| c (eV) | pass | true pos | false pos | false neg | balanced accuracy |")
    print("|---|---|---|---|---|---|")
    cuts = np.round(np.arange(0.30, 0.651, 0.05), 2)
    best_cut, best_bacc = float("nan"), -1.0
    for c in cuts:
        passed = hosts["bvse"] <= c
        tpr = (passed & fast).sum() / max(1, fast.sum())
        tnr = (~passed & ~fast).sum() / max(1, (~fast).sum())
        bacc = 0.5 * (tpr + tnr)
        if bacc > best_bacc:
            best_cut, best_bacc = float(c), float(bacc)
        counts = [passed.sum(), (passed & fast).sum(), (passed & ~fast).sum()]
        counts.append((~passed & fast).sum())
        print(f"| {c:.2f} | " + " | ".join(str(int(n)) for n in counts) + f" | {bacc:.3f} |")
    quantile_cut = float(np.quantile(hosts["bvse"], fast.mean()))
    offset = float(hosts["offset"].median())
    print(f"\nNEB <= {neb_cut} eV on the BVSE scale: best balanced accuracy at {best_cut:.2f} eV "
          f"({best_bacc:.3f}); same pass fraction at {quantile_cut:.3f} eV; "
          f"{neb_cut} + median offset = {neb_cut + offset:.3f} eV")  # fmt: skip
    return {
        "bvse_neb_spearman": float(rho_host),
        "bvse_neb_median_offset_eV": offset,
        "bvse_cut_for_neb_035_best_balanced_accuracy": best_cut,
        "bvse_cut_for_neb_035_same_pass_fraction": quantile_cut,
    }


def main() -> None:
    """Compute the BVSE barriers of the dataset's Li hosts and print the comparison."""
    from matscreen.datasets.migration_barriers import load_migration_barriers

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=float, default=0.3, help="BVSE grid (A); design: 0.3")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    per_hop = bvse_of_hosts(load_migration_barriers("Li"), args.resolution)
    print(f"BVSE grid {args.resolution} A; {time.perf_counter() - t0:.0f} s")
    headline = compare(per_hop)
    print()
    for name, value in headline.items():
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
