"""Design physics: a round relaxed together gives what relaxing one by one gives."""

from __future__ import annotations

import json

import pytest
from pymatgen.core import Lattice, Structure

from matscreen.design.config import PhysicsSettings
from matscreen.design.physics_checks import check_structure, relax_batch


def _payload(anion: str, a: float) -> str:
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Li", anion], [[0] * 3, [0.5] * 3])
    return json.dumps(s.get_primitive_structure().as_dict())


def test_round_relaxed_together_matches_one_by_one() -> None:
    settings = PhysicsSettings(relax=True, bvse=False, relax_steps=60, fmax=0.05).model_dump()
    payloads = [_payload("Cl", 5.0), _payload("Br", 5.7)]
    together = relax_batch(payloads, settings)
    assert all("error" not in r for r in together)
    for p, pre in zip(payloads, together, strict=True):
        a = check_structure(p, settings, pre)
        b = check_structure(p, settings)
        assert a["status"] == b["status"] == "ok", (a.get("error"), b.get("error"))
        assert a["energy_method"] == "relax"
        assert a["energy_per_atom"] == pytest.approx(b["energy_per_atom"], abs=1e-4)
        assert a["e_above_hull"] == pytest.approx(b["e_above_hull"], abs=1e-4)
        assert a["relax_converged"] == b["relax_converged"]


def test_a_round_relaxed_before_is_read_back(
    own_cache_dir,  # noqa: ANN001
    relax_together_sizes: list[int],
) -> None:
    """relax_batch keeps its relaxations (relax_cache): a rerun of the loop, or a structure
    proposed again, reads them back instead of relaxing again."""
    settings = PhysicsSettings(relax=True, bvse=False, relax_steps=30, fmax=0.05).model_dump()
    payloads = [_payload("Cl", 5.0), _payload("Br", 5.7)]
    sizes = relax_together_sizes
    first = relax_batch(payloads, settings)
    again = relax_batch([payloads[1], _payload("Cl", 5.0)], settings)
    assert sizes == [2]  # the second round relaxed nothing
    assert [r["energy_per_atom"] for r in again] == [r["energy_per_atom"] for r in first[::-1]]
    assert len(list((own_cache_dir / "physics" / "relaxed").rglob("*.json"))) == 2


def test_failed_relaxation_in_a_batch_is_a_failed_row() -> None:
    settings = PhysicsSettings(relax=True, bvse=False).model_dump()
    out = check_structure(_payload("Cl", 5.0), settings, {"error": "relaxation: exploding"})
    assert out["status"] == "failed" and "exploding" in out["error"]


def test_evaluation_runs_on_the_dask_cluster(make_config, caplog) -> None:
    """With a client, the physics checks run as Dask tasks (not lost and redone in the driver)
    and give what the in-process path gives."""
    import logging

    import numpy as np
    from distributed import Client, LocalCluster, get_task_stream

    from matscreen.design import physics_checks
    from matscreen.design.space import DesignSpace

    config = make_config()
    space = DesignSpace.from_spec(config.space, config.family)
    points = space.sample(2, np.random.default_rng(0))
    records = [space.decode(p, seed=0, n_orderings=2) for p in points]
    settings = PhysicsSettings(relax=False, bvse=False).model_dump()
    local = physics_checks.MLIPPhysicsEvaluator(settings, config.family).evaluate(records)
    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        host="127.0.0.1",
        protocol="tcp://",
    )
    with cluster, Client(cluster) as client, caplog.at_level(logging.WARNING):
        evaluator = physics_checks.MLIPPhysicsEvaluator(settings, config.family)
        with get_task_stream(client) as stream:
            remote = evaluator.evaluate(records, client)
    assert "lost on the cluster" not in caplog.text
    ran = [t for t in stream.data if "check_structure" in str(t["key"])]
    assert len(ran) == len(records) and all(t["status"] == "OK" for t in ran)
    assert (remote["status"] == "ok").all()
    expected = local["e_above_hull"].to_numpy()
    assert remote["e_above_hull"].to_numpy() == pytest.approx(expected, abs=1e-5)


def test_incomplete_hull_is_flagged() -> None:
    """A candidate with elements in no reference compound (no iodide is built in) gets
    hull_complete False and the elements named; LiCl's hull is complete."""
    settings = PhysicsSettings(relax=False, bvse=False).model_dump()
    chloride = check_structure(_payload("Cl", 5.13), settings)
    iodide = check_structure(_payload("I", 6.0), settings)
    assert chloride["status"] == iodide["status"] == "ok", (chloride["error"], iodide["error"])
    assert chloride["hull_complete"] is True and chloride["hull_missing"] == ""
    assert iodide["hull_complete"] is False and iodide["hull_missing"] == "I,Li"  # no Li-I compound


def test_cache_keys_on_the_decoded_structure_not_only_the_id(make_config, monkeypatch) -> None:
    """A candidate id names a prototype and substitution; another seed orders it into
    another structure, which must not reuse the first one's physics. The same structure
    (a rerun, another method) does."""
    import numpy as np

    from matscreen.design import physics_checks
    from matscreen.design.space import DesignSpace

    calls: list[str] = []

    def fake_check(payload: str, settings: dict, relaxed: object = None) -> dict:
        calls.append(payload)
        return {"status": "ok", "error": None, "energy_per_atom": float(len(calls))}

    monkeypatch.setattr(physics_checks, "check_structure", fake_check)
    config = make_config()
    space = DesignSpace.from_spec(config.space, config.family)
    record = space.decode(space.sample(1, np.random.default_rng(0))[0], seed=0, n_orderings=2)
    moved = record.structure.copy()
    moved.translate_sites([0], [0.01, 0.0, 0.0])
    other = record.model_copy(update={"structure": moved})
    assert other.id == record.id
    settings = PhysicsSettings(relax=False, bvse=False).model_dump()
    evaluator = physics_checks.MLIPPhysicsEvaluator(settings, config.family)
    first = evaluator.evaluate([record])
    again = evaluator.evaluate([record])
    assert len(calls) == 1
    assert again["energy_per_atom"].tolist() == first["energy_per_atom"].tolist()
    assert evaluator.evaluate([other])["energy_per_atom"].tolist() == [2.0]
    assert len(calls) == 2 and len(evaluator.cache) == 2
