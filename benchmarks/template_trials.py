"""Formula-only stability: template trial cells relaxed together vs one by one.

Run::

    python benchmarks/template_trials.py                 # ~3 min on 2 cores
    python benchmarks/template_trials.py --device cuda   # on a GPU machine

A formula with no structure and no reference phase is placed on the hull
through the known structure types of its stoichiometry, each relaxed with the
MLIP (:func:`matscreen.physics.tables.predict_stability_table`, method
``template``). The trial cells of a formula are relaxed together (batched
CHGNet, :func:`matscreen.physics.relax_cache.cached_relax_together`); the
baseline relaxes them one by one as before (``cached_relax`` per cell), in the
same process, alternating, best of ``--rounds``. The relaxation cache is off
and the reference phases are built in an untimed warm-up. Both must give the
same ``e_above_hull`` (to 1 meV/atom). Prints
``template_trials_batch_speedup`` last.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

# 3 trials each, 4-30 atoms; no reference phase of their own (LiScO2, LiInO2 and Li3ScCl6,
# used until 2026-11-29, became known compounds and were placed as references, with no trials)
FORMULAS = ("LiInS2", "LiScS2", "Li3HoBr6")


def _one_by_one(
    structures: Any, calculator: Any = None, *, fmax: float = 0.05, steps: int = 300,
    device: str = "cpu",
) -> list[Any]:  # fmt: skip
    from matscreen.physics.relax_cache import cached_relax

    return [cached_relax(s, calculator, fmax=fmax, steps=steps) for s in structures]


def main(argv: list[str] | None = None) -> int:
    """Time both ways and print the headline last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the MLIP's device)")
    args = parser.parse_args(argv)
    os.environ["MATSCREEN_RELAX_CACHE"] = "false"  # before the settings are first read

    import pandas as pd

    import matscreen.physics.relax_cache as relax_cache
    from matscreen.physics.tables import predict_stability_table

    df = pd.DataFrame({"formula": list(FORMULAS)})
    batched = relax_cache.cached_relax_together
    device = args.device
    warm = predict_stability_table(df, window=False, device=device, progress=False)  # references
    if set(warm["method"]) != {"template"}:  # a formula that became a reference has no trials
        raise SystemExit(f"not every formula was placed through templates: {list(warm['method'])}")
    best: dict[str, float] = {}
    hulls: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, fn in (("batched", batched), ("one by one", _one_by_one)):
            relax_cache.cached_relax_together = fn
            t0 = time.perf_counter()
            out = predict_stability_table(df, window=False, device=device, progress=False)
            seconds = time.perf_counter() - t0
            best[name] = min(best.get(name, seconds), seconds)
            hulls[name] = list(out["e_above_hull"])
            shown = [round(h, 4) for h in hulls[name]]
            print(f"{name:>10}: {seconds:6.1f} s  e_above_hull {shown}")
    relax_cache.cached_relax_together = batched
    pairs = zip(hulls["batched"], hulls["one by one"], strict=True)
    same = all(abs(a - b) < 1e-3 for a, b in pairs)
    print(f"{', '.join(FORMULAS)}: same e_above_hull both ways (1 meV/atom): {same}")
    print(
        f"best of {args.rounds}: one by one {best['one by one']:.1f} s, "
        f"batched {best['batched']:.1f} s"
    )
    print()
    if same:
        print(f"template_trials_batch_speedup: {best['one by one'] / best['batched']:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
