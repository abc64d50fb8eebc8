"""Benchmark the physics stage: hull accuracy, batched relaxation, voltages.

Run: ``/work/venv/bin/python benchmarks/stability.py [--calculators chgnet,sevenn]``

1. Hull: MLIP single-point energies of the 535 MP-relaxed structures in
   ``datasets/mp_entries/Li-Co-Ni-O.json.gz`` (static protocol, as in
   Matbench Discovery's IS2RE without relaxation; energies cached on disk),
   placed on the MP2020 scale; E_above_hull compared with MP's stored values.
   - protocol "vs MP refs": each entry's MLIP energy against the hull of the
     other entries' DFT energies (leave-one-out);
   - "+shift all" / "+shift near-hull" (headline: near-hull): the same with the
     per-element MLIP->DFT shift of :func:`matscreen.physics.hull.fit_energy_correction`
     fitted on the *other* entries only (all of them / those within 0.1 eV/atom
     of their DFT hull without the evaluated entry), as the shipped pipeline
     fits it on the reference entries;
   - calculator "consensus": mean of CHGNet and SevenNet MP2020-scale energies;
   - protocol "all MLIP": one hull of all entries' MLIP energies;
   - "DFT floor": the entries' own DFT energies through the leave-one-out
     protocol (the error left by the held-back MP entries alone).
2. Relaxation throughput, CHGNet: 8 rattled small cells, one by one (ASE FIRE)
   vs :func:`matscreen.physics.relax.batched_relax`.
3. Voltage surrogate: grouped CV (folds by redox element) vs the mean predictor.
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
#: shipped default, chosen by the rule stated before the comparison: among the CHGNet
#: (default calculator) variants with MAE <= 0.05 eV/atom, the best F1@50meV
HEADLINE_PROTOCOL = "vs MP refs+shift near-hull"


def _f1(true_ehull: np.ndarray, pred_ehull: np.ndarray, thr: float = 0.05) -> dict[str, float]:
    t, p = true_ehull <= thr, pred_ehull <= thr
    tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1}


def hull_benchmark(calc_name: str, relaxed_max_atoms: int = 0) -> dict[str, dict[str, float]]:
    """Hull MAE/F1 of one calculator on the Li-Co-Ni-O MP entries (three protocols)."""
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    from matscreen.physics.calculators import calculator_info, get_calculator
    from matscreen.physics.hull import (
        CORRECTION_ALPHA,
        NEAR_HULL_MAX_E,
        fit_element_shifts,
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

    def loo(candidates: list, idx: list[int] | None = None) -> np.ndarray:
        """E_above_hull of candidates[k] (standing for entries[idx[k]]) vs the other entries."""
        idx = list(range(len(entries))) if idx is None else idx
        out = np.empty(len(idx))
        for k, (cand, i) in enumerate(zip(candidates, idx, strict=True)):
            ref = entries[i]
            # only removing a hull vertex changes the hull: rebuild just then
            pd = (
                pd_full
                if ref.entry_id not in stable_ids
                else PhaseDiagram([e for e in entries if e.entry_id != ref.entry_id] + elem_refs)
            )
            out[k] = pd.get_e_above_hull(cand, allow_negative=True)
        return out

    results = {}
    pred_b = loo(mlip)
    # per-element MLIP->DFT shifts fitted on the *other* entries only (leave-one-out):
    # e_hull is linear in the candidate energy, so the shift adds to pred_b directly
    els = ["Li", "Co", "Ni", "O"]
    X = np.array([[e.composition.get_atomic_fraction(el) for el in els] for e in entries])
    resid = np.array(
        [d.energy_per_atom - m.energy_per_atom for d, m in zip(entries, mlip, strict=True)]
    )
    w_full = np.array(
        [
            float(pd_full.get_e_above_hull(e, allow_negative=True) <= NEAR_HULL_MAX_E)
            for e in entries
        ]
    )
    corrected = {"shift all": pred_b.copy(), "shift near-hull": pred_b.copy()}
    for i, ref in enumerate(entries):
        keep = np.arange(len(entries)) != i
        if ref.entry_id in stable_ids:  # removing a vertex changes the others' DFT e_hull
            pd_i = PhaseDiagram([e for e in entries if e.entry_id != ref.entry_id] + elem_refs)
            w = np.array(
                [
                    float(pd_i.get_e_above_hull(e, allow_negative=True) <= NEAR_HULL_MAX_E)
                    for e in entries
                ]
            )
        else:
            w = w_full
        for name, wt in (("shift all", None), ("shift near-hull", w[keep])):
            delta = fit_element_shifts(X[keep], resid[keep], wt, CORRECTION_ALPHA)
            corrected[name][i] += X[i] @ delta
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


def relax_speed_benchmark(n: int = 8, steps: int = 150, rounds: int = 2) -> dict[str, float]:
    """Relaxations per second: CHGNet one-by-one (ASE FIRE) vs batched FIRE."""
    from matscreen.physics.calculators import get_calculator
    from matscreen.physics.references import load_mp_entries
    from matscreen.physics.relax import batched_relax, relax_many

    pool = [e.structure for e in load_mp_entries() if 6 <= len(e.structure) <= 16]
    rng = np.random.default_rng(0)
    structures = []
    for s in pool[:: max(1, len(pool) // n)][:n]:
        s = s.copy()
        s.perturb(0.1, min_distance=0.05)
        s.apply_strain(float(rng.uniform(-0.02, 0.02)))
        structures.append(s)
    calc = get_calculator("chgnet")
    # alternate the two paths `rounds` times and keep the fastest of each: on shared
    # cores a neighbour's job can inflate any single timing several-fold
    t_serial = t_batched = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        serial = relax_many(structures, calc, fmax=0.05, steps=steps)
        t_serial = min(t_serial, time.perf_counter() - t0)
        t0 = time.perf_counter()
        batched = batched_relax(structures, fmax=0.05, steps=steps, batch_size=n)
        t_batched = min(t_batched, time.perf_counter() - t0)
    de = [
        abs(a.energy_per_atom - b.energy_per_atom)
        for a, b in zip(serial, batched, strict=True)
        if a.energy_per_atom is not None and b.energy_per_atom is not None
    ]
    return {
        "n": len(structures),
        "atoms": int(sum(len(s) for s in structures)),
        "serial_per_s": len(structures) / t_serial,
        "batched_per_s": len(structures) / t_batched,
        "serial_s": t_serial,
        "batched_s": t_batched,
        "speedup": t_serial / t_batched,
        "steps_serial": int(sum(r.steps for r in serial)),
        "steps_batched": int(sum(r.steps for r in batched)),
        "max_dE_meV": 1000 * max(de) if de else float("nan"),
        "rounds": rounds,
    }


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
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)
    t_all = time.perf_counter()
    calcs = [c.strip() for c in args.calculators.split(",") if c.strip()]

    print("== 1. Convex hull on MP Li-Co-Ni-O (535 entries, static MLIP on MP structures) ==")
    hull = {}
    relax_calcs = set(args.relaxed_subset_calculators.split(","))
    for c in calcs:
        hull[c] = hull_benchmark(c, args.relaxed_subset_max_atoms if c in relax_calcs else 0)
    print(
        f"{'calculator':<10} {'protocol':<27} {'n':>4} {'MAE eV/at':>9} {'prec':>6} "
        f"{'recall':>6} {'F1@50meV':>8}"
    )
    for c in calcs:
        for proto in [k for k in hull[c] if not k.startswith("_")]:
            r = hull[c][proto]
            print(
                f"{c:<10} {proto:<27} {r['n']:>4} {r['mae']:9.4f} {r['precision']:6.3f} "
                f"{r['recall']:6.3f} {r['f1']:8.3f}"
            )
        tm = hull[c]["_timing"]
        print(
            f"{c:<10} static energies: {tm['static_s']:.1f} s for {tm['n_atoms']} atoms "
            "(0 s when cached)"
        )

    print("\n== 2. Relaxation throughput (CHGNet, CPU, rattled MP cells) ==")
    sp = relax_speed_benchmark()
    print(
        f"one-by-one: {sp['serial_per_s']:.3f} relax/s ({sp['serial_s']:.1f} s, "
        f"{sp['steps_serial']} steps); batched: {sp['batched_per_s']:.3f} relax/s "
        f"({sp['batched_s']:.1f} s, {sp['steps_batched']} steps); n={sp['n']} cells, "
        f"{sp['atoms']} atoms; best of {sp['rounds']} alternating rounds; max |dE| serial vs "
        f"batched {sp['max_dE_meV']:.2f} meV/atom"
    )

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
    print(f"Mn group: n={int(mn.sum())}, MAE {np.mean(np.abs(cv['oof_pred'][mn] - y[mn])):.3f} V")

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

    head = calcs[0]
    total = time.perf_counter() - t_all
    raw = hull[head]["vs MP refs"]
    print(
        f"\n(total {total:.0f} s; headline = {head}, protocol '{HEADLINE_PROTOCOL}', static; "
        f"uncorrected 'vs MP refs': MAE {raw['mae']:.4f}, F1 {raw['f1']:.3f})"
    )
    print(f"hull_mae_eV: {hull[head][HEADLINE_PROTOCOL]['mae']:.4f}")
    print(f"hull_f1_50meV: {hull[head][HEADLINE_PROTOCOL]['f1']:.3f}")
    print(f"batched_relax_speedup: {sp['speedup']:.2f}")
    print(f"voltage_cv_mae: {cv['mae']:.3f}")


if __name__ == "__main__":
    main()
