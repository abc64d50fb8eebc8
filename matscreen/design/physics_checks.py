"""Physics checks of design proposals, fanned out on Dask.

:class:`MLIPPhysicsEvaluator` (the default evaluator of the loop) runs, per
decoded structure, on a Dask worker:

1. the MLIP energy (:mod:`matscreen.physics`): a relaxation when
   ``physics.relax`` is true (step-capped; with CHGNet all of a round's
   structures relax together in one task, :func:`relax_batch`, the same FIRE
   per cell as one by one), otherwise a single point
   (:func:`~matscreen.physics.hull.static_energies`) of the decoded structure
   (prototype geometry with an ionic-radius volume guess; a cheap stand-in
   for the relaxation that gives an upper bound of the relaxed energy);
2. the energy above the hull (:func:`~matscreen.physics.hull.hull_record`)
   against :func:`~matscreen.physics.hull.reference_entries`, plus, when a
   trivalent-metal halide MX3 is missing from the built-in references,
   one made by substitution into the built-in YCl3 structure and relaxed with
   the same MLIP (cached by the physics module). ``hull_complete`` is False
   (and ``hull_missing`` names the elements) when an element of the candidate
   is in no reference compound, or is left as the element by the
   decomposition (:func:`~matscreen.physics.checks.hull_gap_elements`):
   competing phases are missing, the
   ``e_above_hull`` is only a lower bound, and the verdict fails the row;
3. the BVSE Li percolation barrier (:class:`~matscreen.featurize.transport.BVSEBarrier`).

In the main process it adds the shipped conductivity model's prediction
(:func:`~matscreen.surrogates.conductivity.predict_conductivity_table`), and
for cathodes the physics voltage surrogate, the Mn3+ fraction and the
theoretical capacity. Any failure is a row with ``status="failed"``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from matscreen.candidates.records import CandidateRecord

LOG = logging.getLogger(__name__)

__all__ = ["MLIPPhysicsEvaluator", "check_structure", "relax_batch"]


def relax_batch(payloads: list[str], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Relax structures (JSON) together with the workflow's MLIP (one Dask task), once each.

    Relaxations are kept on disk and read back for the same cell
    (:func:`~matscreen.physics.relax_cache.cached_relax_together`).

    Returns, per payload, ``structure`` (dict), ``energy_per_atom`` and
    ``converged``, or ``error`` when that relaxation failed.
    """
    import torch
    from pymatgen.core import Structure

    from matscreen.physics.relax_cache import cached_relax_together

    torch.set_num_threads(1)
    structures = [Structure.from_dict(json.loads(p)) for p in payloads]
    recs = cached_relax_together(  # a structure relaxed before (a rerun, a repeat) is read back
        structures, settings["calculator"], fmax=settings["fmax"], steps=settings["relax_steps"]
    )
    out = []
    for rec in recs:
        if rec.energy_per_atom is None or rec.structure is None:
            out.append({"error": f"relaxation: {rec.error}"})
        else:
            out.append({
                "structure": rec.structure.as_dict(), "energy_per_atom": rec.energy_per_atom,
                "converged": bool(rec.converged),
            })  # fmt: skip
    return out


def check_structure(
    structure_json: str, settings: dict[str, Any], relaxed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """MLIP energy, hull and BVSE barrier of one structure (runs on a Dask worker).

    ``relaxed``: this structure's entry of :func:`relax_batch`, used instead of
    relaxing it here. Never raises: a failure is ``{"status": "failed", "error": ...}``.
    """
    import time

    import torch
    from pymatgen.core import Structure

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"status": "ok", "error": None}
    try:
        from matscreen.physics.calculators import calculator_info, get_calculator
        from matscreen.physics.hull import (
            cached_reference_entries,
            hull_record,
            static_energies,
            to_mp2020_entry,
        )

        s = Structure.from_dict(json.loads(structure_json))
        calc = get_calculator(settings["calculator"])
        info = calculator_info(calc)
        if settings["relax"] and relaxed is not None:
            if "error" in relaxed:
                raise RuntimeError(relaxed["error"])
            s, energy = Structure.from_dict(relaxed["structure"]), relaxed["energy_per_atom"]
            out["relax_converged"] = relaxed["converged"]
        elif settings["relax"]:
            from matscreen.physics.relax import relax_structure

            rec = relax_structure(s, calc, fmax=settings["fmax"], steps=settings["relax_steps"])
            if rec.energy_per_atom is None:
                raise RuntimeError(f"relaxation: {rec.error}")
            s, energy = rec.structure, rec.energy_per_atom
            out["relax_converged"] = bool(rec.converged)
        else:
            energy = static_energies([s], calc)[0]
        out["energy_per_atom"] = float(energy)
        elements = tuple(sorted(el.symbol for el in s.composition))
        refs = cached_reference_entries(
            settings["calculator"], elements, settings["substitute_references"]
        )
        hull = hull_record(to_mp2020_entry(s, energy, info, entry_id="candidate"), refs, info)
        if hull.status != "ok":
            raise RuntimeError(f"hull: {hull.error}")
        out["e_above_hull"] = float(hull.e_above_hull)
        out["decomposition"] = " + ".join(hull.decomposition or [])
        from matscreen.physics.checks import hull_gap_record

        # hull_complete False: e_above_hull is only a lower bound
        out.update(hull_gap_record(set(elements), refs, hull.decomposition or ())[0])
        out["calculator"] = f"{info.name}@{info.version}"
        out["energy_method"] = "relax" if settings["relax"] else "static"
    except Exception as exc:  # noqa: BLE001 - recorded per row
        out.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    if settings["bvse"] and out["status"] == "ok":
        try:
            from matscreen.featurize.transport import BVSEBarrier

            barriers = BVSEBarrier(resolution=settings["bvse_resolution"]).featurize(s)
            out["bvse_barrier"] = float(min(barriers))  # lowest-dimension percolation barrier
            out["bvse_barrier_3d"] = float(barriers[2])
        except Exception as exc:  # noqa: BLE001
            out["bvse_error"] = f"{type(exc).__name__}: {exc}"
    out["physics_s"] = time.perf_counter() - t0
    return out


@dataclass
class MLIPPhysicsEvaluator:
    """Physics verdicts for decoded proposals (see module docstring).

    Attributes
    ----------
    settings
        ``PhysicsSettings`` of the workflow as a dict.
    family
        Materials family (cathodes also get voltage, Mn3+ and capacity).
    cache
        Results already computed, by candidate id and decoded structure (a
        rerun or another method proposing the same decoded candidate reuses
        them; the same candidate ordered by another seed is computed anew).
    """

    settings: dict[str, Any]
    family: str = "halide_electrolyte"
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def evaluate(self, records: list[CandidateRecord], client: Any = None) -> pd.DataFrame:
        """One row per record, in order: physics columns plus ``status``/``error``."""
        import pandas as pd

        payload = {r.id: json.dumps(r.structure.as_dict()) for r in records if r.status == "ok"}
        # the decoded structure is part of the key: another seed orders the same candidate
        # (prototype and substitution, hence id) differently, and that is other physics
        key = {i: f"{i}:{hashlib.sha1(p.encode()).hexdigest()[:16]}" for i, p in payload.items()}
        todo = [r for r in records if r.status == "ok" and key[r.id] not in self.cache]
        payloads = [payload[r.id] for r in todo]
        if todo:
            relaxed = self._relax_round(payloads, client)
            if client is not None:
                settings = [self.settings] * len(payloads)  # positional, in signature order
                futures = client.map(check_structure, payloads, settings, relaxed, pure=False)
                results = client.gather(futures, errors="skip")
                if len(results) != len(todo):  # a lost worker: redo the missing ones here
                    LOG.warning("%d of %d physics checks lost on the cluster; redone here",
                                len(todo) - len(results), len(todo))  # fmt: skip
                    redo = zip(futures, payloads, relaxed, strict=True)
                    results = [
                        f.result() if f.status == "finished"
                        else check_structure(p, self.settings, x)
                        for f, p, x in redo
                    ]  # fmt: skip
            else:
                results = [
                    check_structure(p, self.settings, x)
                    for p, x in zip(payloads, relaxed, strict=True)
                ]
            for r, res in zip(todo, results, strict=True):
                self.cache[key[r.id]] = res
        rows = []
        for r in records:
            if r.status != "ok":
                rows.append({"status": "failed", "error": f"decode: {r.error}"})
            else:
                rows.append(dict(self.cache[key[r.id]]))
        table = pd.DataFrame(rows, index=range(len(records)))
        model = self.model_columns(records)
        for col in model.columns:
            table[col] = model[col].to_numpy()
        return table

    def _relax_round(self, payloads: list[str], client: Any) -> list[Any]:
        """Relax a round's structures together, one batch per Dask worker (CHGNet only).

        Returns per payload a :func:`relax_batch` entry, or None where
        :func:`check_structure` should relax it itself (other MLIPs, single points,
        a batch whose task failed).
        """
        none: list[Any] = [None] * len(payloads)
        if not (self.settings["relax"] and self.settings["calculator"] == "chgnet"):
            return none
        n_workers = len(client.scheduler_info().get("workers", {})) if client is not None else 1
        n_batches = max(1, min(n_workers, len(payloads) // 2))
        if len(payloads) < 2:
            return none
        parts = [list(range(k, len(payloads), n_batches)) for k in range(n_batches)]
        chunks = [[payloads[i] for i in idx] for idx in parts]
        if client is not None:  # all batches in flight at once, one per worker
            futures = [client.submit(relax_batch, c, self.settings, pure=False) for c in chunks]
        out = list(none)
        for k, idx in enumerate(parts):
            try:
                res = (
                    futures[k].result()
                    if client is not None
                    else relax_batch(chunks[k], self.settings)
                )
            except Exception as exc:  # noqa: BLE001 - then each structure relaxes on its own
                LOG.warning("batched relaxation of %d proposals failed: %s", len(idx), exc)
                continue
            for i, r in zip(idx, res, strict=True):
                out[i] = r
        return out

    def model_columns(self, records: list[CandidateRecord]) -> pd.DataFrame:
        """Return the columns of :meth:`evaluate` that come from models, not from physics.

        They cost no physics evaluation (a fraction of a second per structure),
        so the loop can check proposals against them before choosing a batch:
        ``log10_sigma_model`` (the shipped conductivity model on the decoded
        structure) and, for cathodes, ``voltage_model``, ``voltage_model_std``,
        ``mn3_fraction`` and ``capacity_mAh_g``.

        Parameters
        ----------
        records
            Decoded candidates (a record whose decoding failed gets NaN).

        Returns
        -------
        pandas.DataFrame
            One row per record, in order.
        """
        import pandas as pd

        table = pd.DataFrame(index=range(len(records)))
        table["log10_sigma_model"] = self._conductivity(records)
        if self.family == "mn_cathode":
            table = self._cathode_columns(table, [r.formula for r in records])
        return table

    @staticmethod
    def _conductivity(records: list[CandidateRecord]) -> np.ndarray:
        import pandas as pd

        from matscreen.surrogates.conductivity import predict_conductivity_table

        if not records:
            return np.zeros(0)
        df = pd.DataFrame(
            {"formula": [r.formula for r in records],
             "structure": [r.structure for r in records]}
        )  # fmt: skip
        try:
            out = predict_conductivity_table(df)
            return out["log10_sigma"].to_numpy(dtype=float)
        except Exception as exc:  # noqa: BLE001 - judged missing
            LOG.warning("conductivity model failed: %s", exc)
            return np.full(len(records), np.nan)

    @staticmethod
    def _cathode_columns(table: pd.DataFrame, formulas: list[str]) -> pd.DataFrame:
        from pymatgen.core import Composition

        from matscreen.physics.voltage import default_voltage_surrogate, mn3_fraction
        from matscreen.screening.properties import capacities_mAh_g

        charged = [
            Composition({e: a for e, a in Composition(f).items() if e.symbol != "Li"}).formula
            for f in formulas
        ]
        try:
            v, vs = default_voltage_surrogate().predict(
                pd_pairs(charged, formulas), return_std=True
            )
        except Exception as exc:  # noqa: BLE001
            LOG.warning("voltage surrogate failed: %s", exc)
            v = vs = np.full(len(formulas), np.nan)
        table["voltage_model"] = v
        table["voltage_model_std"] = vs
        table["mn3_fraction"] = [mn3_fraction(f) for f in formulas]
        table["capacity_mAh_g"] = [
            capacities_mAh_g(Composition(f))[1] for f in formulas
        ]  # redox-limited
        return table


def pd_pairs(charge: list[str], discharge: list[str]) -> Any:
    """Return the (charge, discharge) table the physics voltage surrogate takes."""
    import pandas as pd

    return pd.DataFrame({"formula_charge": charge, "formula_discharge": discharge})
