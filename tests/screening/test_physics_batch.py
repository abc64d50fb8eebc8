"""Physics stage: a chunk of candidates relaxed together gives what one by one gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
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


def test_uncovered_elements_says_what_the_built_references_say() -> None:
    """The check before any MLIP run agrees with the one on the references it would build."""
    from matscreen.physics.checks import missing_reference_elements
    from matscreen.physics.hull import cached_reference_entries, uncovered_elements

    for system in (("Cl", "La", "Li"), ("Cl", "Li", "Y"), ("Li", "Mn", "O")):
        refs = cached_reference_entries("chgnet", system)
        assert uncovered_elements(system) == missing_reference_elements(set(system), refs)
    assert uncovered_elements(("Cl", "La", "Li")) == ["La"] and uncovered_elements(["Li"]) == []


def test_mlip_slots_go_first_to_candidates_whose_hull_can_be_complete(monkeypatch) -> None:
    """A La halide (no La compound among the references) with the lowest barrier waits
    behind the Y and In halides: its hull could only be a lower bound."""
    import matscreen.screening.run as run
    from matscreen.core.config import load_workflow
    from matscreen.core.paths import workflows_dir

    cfg = load_workflow(workflows_dir() / "halide_electrolytes.yaml")
    cfg.screening.mlip_top_k = 2
    table = pd.DataFrame(
        {
            "id": ["la", "y", "in", "y2"],
            "formula": ["Li3LaCl6", "Li3YCl6", "Li3InCl6", "Li3YBr6"],
            "bvse_barrier_3d": [0.1, 0.3, 0.2, np.nan],
            "stage1_score": [0.0, 0.0, 0.0, 1.0],
            "structure": [None] * 4,
            "status": ["ok"] * 4,
            "error": [None] * 4,
        }
    )
    sent: list[str] = []

    def fake_run_chunks(client, fn, chunks, options, store, stage, progress=False):
        sent.extend(row["id"] for chunk in chunks for row in chunk)
        return pd.DataFrame()

    monkeypatch.setattr(run, "run_chunks", fake_run_chunks)
    run._physics(cfg, table, np.ones(4, bool), None, None, {}, False)
    assert sent == ["in", "y"]
