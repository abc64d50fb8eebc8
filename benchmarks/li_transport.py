"""Benchmark the Li-transport MD check: batched temperatures vs one by one, and sigma(300 K).

Run: ``python benchmarks/li_transport.py [--device cuda] [--time-ps 5] [--speed-only]``

1. Speed: the same MD (CHGNet, NVT Langevin, the Li3InCl6 C2/m seed replicated to
   ``--min-atoms``) at every temperature, once with the temperatures as replicas
   advanced together (``physics.diffusion.md_diffusivities_batched``, one
   vectorised CHGNet pass per step) and once one temperature after another through
   ASE's Langevin and the registry calculator (``md_diffusivity``), on the same
   device. Printed as MD steps per second and their ratio, ``md_batched_speedup``.
2. Accuracy: ``li_transport`` (CHGNet-relaxed seed, MD at the temperatures, Arrhenius
   fit through pymatgen-analysis-diffusion) for the halide seeds, next to the measured
   room-temperature conductivities in OBELiX (``datasets/obelix/all.csv``: Li3InCl6
   2.04e-3 S/cm, doi 10.1002/anie.201909805; Li3YCl6 5.39e-4 S/cm, doi
   10.1002/adma.201803075). Nothing here is fitted to them.

Headline figures last: ``md_batched_speedup`` and ``md_log10_sigma_300K_<formula>``.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from matscreen.core.paths import datasets_dir, seeds_dir

SEEDS = {"Li3InCl6": "Li3InCl6_C2m.cif", "Li3YCl6": "Li3YCl6_P-3m1.cif"}


def measured_log10_sigma(formula: str) -> float:
    """log10 of the OBELiX room-temperature conductivity (S/cm) of ``formula``'s first entry."""
    df = pd.read_csv(datasets_dir() / "obelix" / "all.csv")
    col = next(c for c in df.columns if "conductivity" in c.lower())
    row = df[df["Reduced Composition"].astype(str).str.strip() == formula].iloc[0]
    return float(np.log10(float(row[col])))


def speed(structure: Structure, temps: list[float], args: argparse.Namespace) -> dict:
    """MD steps per second, batched temperatures vs one after another, same device."""
    from matscreen.physics.diffusion import md_diffusivities_batched, md_diffusivity

    kw = dict(
        time_ps=args.speed_ps, equilibration_ps=0.0, min_atoms=args.min_atoms,
        sample_every=5, device=args.device,
    )  # fmt: skip
    n_steps = int(round(args.speed_ps * 1000 / 2.0))
    md_diffusivities_batched(structure, temps[:2], **{**kw, "time_ps": 0.02})  # warm-up
    md_diffusivity(structure, temps[0], **{**kw, "time_ps": 0.02})
    t0 = time.perf_counter()
    batched = md_diffusivities_batched(structure, temps, **kw)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    serial = [md_diffusivity(structure, t, **kw) for t in temps]
    t_serial = time.perf_counter() - t0
    bad = [r.error for r in batched + serial if r.status != "ok"]
    if bad:
        raise RuntimeError(f"speed runs failed: {bad}")
    return {
        "n_atoms": batched[0].n_atoms,
        "steps": n_steps,
        "serial_steps_per_s": len(temps) * n_steps / t_serial,
        "batched_steps_per_s": len(temps) * n_steps / t_batched,
        "speedup": t_serial / t_batched,
    }


def main() -> None:
    """Run both sections and print the report; headline figures last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--temperatures", default="600,750,900,1050", help="K, comma list")
    parser.add_argument("--time-ps", type=float, default=5.0, help="production per temperature")
    parser.add_argument("--speed-ps", type=float, default=0.1, help="MD time of section 1")
    parser.add_argument("--min-atoms", type=int, default=80, help="supercell size")
    parser.add_argument("--formulas", default="Li3InCl6,Li3YCl6")
    parser.add_argument("--speed-only", action="store_true", help="section 1 only")
    parser.add_argument("--skip-speed", action="store_true", help="section 2 only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)
    from matscreen.physics.calculators import get_calculator
    from matscreen.physics.diffusion import li_transport
    from matscreen.physics.relax import relax_structure

    temps = [float(t) for t in args.temperatures.split(",")]
    t_start = time.perf_counter()
    headline: list[str] = []
    seed = Structure.from_file(seeds_dir() / "prototypes" / SEEDS["Li3InCl6"])
    if not args.skip_speed:
        print(f"== 1. MD speed (CHGNet, {args.device}, Li3InCl6, {len(temps)} temperatures) ==")
        sp = speed(seed, temps, args)
        print(
            f"{sp['n_atoms']} atoms, {sp['steps']} steps per temperature: one temperature "
            f"after another {sp['serial_steps_per_s']:.1f} steps/s, all together "
            f"{sp['batched_steps_per_s']:.1f} steps/s"
        )
        headline.append(f"md_batched_speedup: {sp['speedup']:.2f}")
    if not args.speed_only:
        print(
            f"\n== 2. sigma(300 K) from MD ({args.time_ps:g} ps per temperature, "
            f"{', '.join(f'{t:g}' for t in temps)} K, >= {args.min_atoms} atoms) =="
        )
        print(
            f"{'formula':10s} {'Ea (eV)':>14s} {'log10 s300 MD':>14s} {'measured':>9s}  D (cm2/s)"
        )
        for formula in args.formulas.split(","):
            structure = Structure.from_file(seeds_dir() / "prototypes" / SEEDS[formula])
            calc = get_calculator("chgnet", device=args.device)
            relaxed = relax_structure(structure, calc, fmax=0.05, steps=300)
            if relaxed.structure is not None:
                structure = relaxed.structure
            t0 = time.perf_counter()
            est = li_transport(
                structure, temps, "chgnet", time_ps=args.time_ps, min_atoms=args.min_atoms,
                device=args.device,
            )  # fmt: skip
            ds = ", ".join(f"{r.diffusivity_cm2_s:.2g}" for r in est.runs if r.diffusivity_cm2_s)
            measured = measured_log10_sigma(formula)
            if est.status != "ok":
                print(f"{formula:10s} failed: {est.error} (measured {measured:.2f}; D {ds})")
                continue
            if est.note:
                print(f"  {formula}: {est.note}")
            std = est.activation_energy_std_eV
            ea = f"{est.activation_energy_eV:.2f}+-" + ("n/a" if std is None else f"{std:.2f}")
            fitted = "/".join(f"{t:g}" for t in est.temperatures_fitted_K)
            print(
                f"{formula:10s} {ea:>14s} {est.log10_sigma_300K:14.2f} {measured:9.2f}  {ds}"
                f"  (fit over {fitted} K; {time.perf_counter() - t0:.0f} s)"
            )
            headline.append(f"md_log10_sigma_300K_{formula}: {est.log10_sigma_300K:.2f}")
    print(f"\n(total {time.perf_counter() - t_start:.0f} s)")
    for line in headline:
        print(line)


if __name__ == "__main__":
    main()
