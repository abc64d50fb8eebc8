"""Vectorised CHGNet batch: the same energies, forces and stresses as CHGNet's own batching."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from matscreen.physics.calculators import load_chgnet
from matscreen.physics.chgnet_batch import batch_efs, crystal_graphs


@pytest.fixture(scope="module")
def model():  # noqa: ANN201
    return load_chgnet("0.3.0")


def _cells() -> list[Structure]:
    rng = np.random.default_rng(3)
    licl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0] * 3, [0.5] * 3]
    )
    li2o = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.61), ["Li", "O"], [[0.25] * 3, [0] * 3]
    ).get_primitive_structure()
    cells = []
    for base in (licl, li2o, licl.copy().make_supercell([2, 1, 1])):
        s = base.copy()
        s.perturb(0.08, min_distance=0.02)
        s.lattice = Lattice(s.lattice.matrix @ (np.eye(3) + rng.normal(0, 0.01, (3, 3))))
        cells.append(s)
    return cells


def test_batch_efs_matches_predict_structure(model) -> None:  # noqa: ANN001
    cells = _cells()
    ref = model.predict_structure(cells, task="efs", batch_size=len(cells))
    new = batch_efs(model, crystal_graphs(model, [AseAtomsAdaptor.get_atoms(s) for s in cells]))
    assert len(new) == len(cells)
    for r, n, s in zip(ref, new, cells, strict=True):
        assert n["e"] == pytest.approx(float(r["e"]), abs=1e-5)  # eV/atom
        assert n["f"].shape == (len(s), 3)
        np.testing.assert_allclose(n["f"], r["f"], atol=1e-4)  # eV/A
        np.testing.assert_allclose(n["s"], r["s"], atol=1e-3)  # GPa
    assert np.abs(new[0]["f"]).max() > 0.01  # perturbed cells: real forces were compared


def test_graph_workers_give_the_same_graphs(model) -> None:  # noqa: ANN001
    atoms = [AseAtomsAdaptor.get_atoms(s) for s in _cells() * 2]
    here = crystal_graphs(model, atoms, graph_workers=0)
    pooled = crystal_graphs(model, atoms, graph_workers=2)
    for a, b in zip(here, pooled, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.gpu
def test_batch_efs_on_cuda_matches_cpu(model) -> None:  # noqa: ANN001
    import copy

    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    graphs = crystal_graphs(model, [AseAtomsAdaptor.get_atoms(s) for s in _cells()])
    cpu = batch_efs(model, graphs)
    gpu = batch_efs(copy.deepcopy(model).to("cuda"), graphs)
    for a, b in zip(cpu, gpu, strict=True):
        assert b["e"] == pytest.approx(a["e"], abs=1e-4)
        np.testing.assert_allclose(b["f"], a["f"], atol=1e-3)


def test_inside_a_daemonic_process_graphs_are_built_in_place(model, monkeypatch) -> None:  # noqa: ANN001
    """Dask workers are daemonic and cannot start the graph-worker processes."""
    import multiprocessing
    from types import SimpleNamespace

    from matscreen.physics import chgnet_batch

    monkeypatch.setattr(multiprocessing, "current_process", lambda: SimpleNamespace(daemon=True))

    def no_pool(n: int) -> None:
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(chgnet_batch, "_graph_pool", no_pool)
    atoms = [AseAtomsAdaptor.get_atoms(s) for s in _cells() * 2]
    assert len(crystal_graphs(model, atoms, graph_workers=2)) == len(atoms)


def test_a_device_copy_leaves_the_shared_cpu_model_in_place() -> None:
    """The registry copies CHGNet per device; the cached CPU model never moves."""
    from matscreen.physics.calculators import get_calculator

    cpu = get_calculator("chgnet")
    other = get_calculator("chgnet", device="meta")  # any non-CPU device, no GPU needed
    assert other.model is not cpu.model
    assert next(other.model.parameters()).device.type == "meta"
    assert next(cpu.model.parameters()).device.type == "cpu"
    assert next(load_chgnet("0.3.0").parameters()).device.type == "cpu"


def test_energies_only_match_predict_structure(model) -> None:  # noqa: ANN001
    cells = _cells()
    ref = model.predict_structure(cells, task="e", batch_size=len(cells))
    new = batch_efs(
        model, crystal_graphs(model, [AseAtomsAdaptor.get_atoms(s) for s in cells]), forces=False
    )
    assert [set(n) for n in new] == [{"e"}] * len(cells)
    for r, n in zip(ref, new, strict=True):
        assert n["e"] == pytest.approx(float(r["e"]), abs=1e-5)
