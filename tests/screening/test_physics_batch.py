"""Physics stage: a chunk of candidates relaxed together gives what one by one gives."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

from matscreen.core.io import structure_to_json
from matscreen.screening.stages import physics_stage


def _rocksalt(anion: str, a: float) -> str:
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Li", anion], [[0] * 3, [0.5] * 3])
    return structure_to_json(s.get_primitive_structure())


def _rows() -> list[dict]:
    return [
        {"id": "a", "status": "ok", "error": None, "structure": _rocksalt("Cl", 5.0)},
        {"id": "bad", "status": "ok", "error": None, "structure": "{not json"},
        {"id": "b", "status": "ok", "error": None, "structure": _rocksalt("Br", 5.7)},
    ]


def test_batched_chunk_matches_one_by_one() -> None:
    options = {"calculator": "chgnet", "electrolyte": False, "fmax": 0.05, "steps": 80}
    rows = _rows()
    together = physics_stage(rows, options).set_index("id")
    alone = {r["id"]: physics_stage([r], options).set_index("id").loc[r["id"]] for r in rows}
    assert together.loc["bad", "physics_status"] == "failed"
    assert "unreadable structure" in together.loc["bad", "physics_error"]
    for key in ("a", "b"):
        t, a = together.loc[key], alone[key]
        assert t["physics_status"] == a["physics_status"] == "ok", t["physics_error"]
        assert t["relax_steps"] == a["relax_steps"]
        assert np.isclose(t["relaxed_energy_per_atom"], a["relaxed_energy_per_atom"], atol=1e-4)
        assert np.isclose(t["e_above_hull"], a["e_above_hull"], atol=1e-4)
    assert together.loc["b", "relax_volume_change"] < 0  # LiBr started 5% too large
