"""Vectorised CHGNet batch: the same energies, forces and stresses as CHGNet's own batching."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from matscreen.physics.calculators import load_chgnet
from matscreen.physics.chgnet_batch import batch_efs, build_batch_graph, crystal_graphs


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


def _odd_cells() -> list:
    """ASE cells that stress a neighbour search: skewed, unwrapped, one atom, isolated atom."""
    from ase import Atoms
    from ase.build import bulk

    rng = np.random.default_rng(7)
    out = [AseAtomsAdaptor.get_atoms(s) for s in _cells()]
    skewed = out[0].copy()
    skewed.set_cell(skewed.cell.array @ np.array([[1, 0.6, 0.3], [0, 1, 0.5], [0, 0, 1.0]]), True)
    unwrapped = out[1].copy()
    unwrapped.positions += rng.integers(-3, 4, (len(unwrapped), 1)) * unwrapped.cell.array[2]
    li = bulk("Li", "bcc", a=3.44)  # one atom; every neighbour is its own image
    isolated = Atoms("LiCl", positions=[[0, 0, 0], [2.3, 0, 0]], cell=[9, 9, 9], pbc=True)
    lone = Atoms("Li", positions=[[1, 1, 1]], cell=[6.5, 7, 8], pbc=True)  # no neighbour at all
    return [*out, skewed, unwrapped, li, isolated, lone]


def test_tensor_graph_equals_chgnet_converter(model) -> None:  # noqa: ANN001
    """build_batch_graph finds CHGNet's edges and angles, per crystal, and the same E, F, S."""
    import torch

    atoms = _odd_cells()
    ref_graphs = crystal_graphs(model, atoms)
    graph = build_batch_graph(model, atoms)
    n = len(atoms)
    edges = torch.bincount(graph.edge_owner, minlength=n).tolist()
    angles = torch.bincount(graph.atom_owner[graph.angles[:, 0]], minlength=n).tolist()
    assert edges == [len(g["atom_graph"]) for g in ref_graphs]
    assert angles == [len(g["bond_graph"]) for g in ref_graphs]
    assert edges[-1] == 0  # the lone atom
    assert (edges[-2], angles[-2]) == (2, 0)  # isolated LiCl: one bond, no angle
    # every undirected edge has two directed edges, reverse to each other
    ag, d2u = graph.atom_graph, graph.d2u
    assert torch.bincount(d2u).eq(2).all()
    first = graph.u2d
    other = torch.nonzero(d2u.unsqueeze(0) == torch.arange(len(first)).unsqueeze(1))[:, 1]
    other = other.view(-1, 2).max(dim=1).values
    assert torch.equal(ag[first].flip(1), ag[other])
    assert torch.equal(graph.image[first], -graph.image[other])
    ref = batch_efs(model, ref_graphs)
    new = batch_efs(model, graph)
    for r, x in zip(ref, new, strict=True):
        assert x["e"] == pytest.approx(r["e"], abs=1e-5)
        np.testing.assert_allclose(x["f"], r["f"], atol=1e-3)
        np.testing.assert_allclose(x["s"], r["s"], atol=5e-3)


def test_dense_and_cell_list_pair_searches_agree() -> None:
    """The GPU's dense enumeration and the CPU's cell list find the same pairs and lengths."""
    import torch

    from matscreen.physics.chgnet_batch import _pairs_within

    atoms = _odd_cells()
    n = torch.tensor([len(a) for a in atoms])
    frac = np.concatenate([a.get_scaled_positions() for a in atoms])
    frac = torch.from_numpy(frac - np.floor(frac))
    lattice = torch.from_numpy(np.stack([a.cell.array for a in atoms]))
    found = {}
    for dense in (True, False):
        i, j, image, dist = _pairs_within(frac, lattice, n, torch.cumsum(n, 0) - n, 6.0, dense)
        keys = [(a, b, *k) for a, b, k in zip(i.tolist(), j.tolist(), image.tolist(), strict=True)]
        assert len(set(keys)) == len(keys)  # one orientation of each pair
        found[dense] = dict(zip(keys, dist.tolist(), strict=True))
    assert found[True].keys() == found[False].keys() and len(found[True]) > 100
    for key, d in found[True].items():
        assert d == pytest.approx(found[False][key], abs=1e-9)


def test_a_large_cell_gives_chgnets_graph(model) -> None:  # noqa: ANN001
    """512 atoms: the cell list keeps memory linear; same graph as CHGNet's converter."""
    from ase.build import bulk

    atoms = [bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat((4, 4, 4))]
    atoms[0].rattle(0.05, seed=1)
    graph = build_batch_graph(model, atoms)
    ref = crystal_graphs(model, atoms)[0]
    assert len(graph.atom_graph) == len(ref["atom_graph"]) == 512 * 32
    assert len(graph.angles) == len(ref["bond_graph"])
    (new,), (old,) = batch_efs(model, graph), batch_efs(model, [ref])
    assert new["e"] == pytest.approx(old["e"], abs=1e-5)
    np.testing.assert_allclose(new["f"], old["f"], atol=1e-3)


def test_build_batch_graph_refuses_empty_input(model) -> None:  # noqa: ANN001
    from ase import Atoms

    with pytest.raises(ValueError, match="one or more cells"):
        build_batch_graph(model, [])
    with pytest.raises(ValueError, match="each with atoms"):
        build_batch_graph(model, [Atoms(cell=[3, 3, 3], pbc=True)])


@pytest.mark.gpu
def test_batch_efs_on_cuda_matches_cpu(model) -> None:  # noqa: ANN001
    import copy

    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    atoms = _odd_cells()
    on_gpu = copy.deepcopy(model).to("cuda")
    graph = build_batch_graph(on_gpu, atoms)  # built on the GPU
    assert graph.atom_graph.device.type == "cuda"
    cpu = batch_efs(model, build_batch_graph(model, atoms))
    gpu = batch_efs(on_gpu, graph)
    for a, b in zip(cpu, gpu, strict=True):
        assert b["e"] == pytest.approx(a["e"], abs=1e-4)
        np.testing.assert_allclose(b["f"], a["f"], atol=1e-3)


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
        model, build_batch_graph(model, [AseAtomsAdaptor.get_atoms(s) for s in cells]), forces=False
    )
    assert [set(n) for n in new] == [{"e"}] * len(cells)
    for r, n in zip(ref, new, strict=True):
        assert n["e"] == pytest.approx(float(r["e"]), abs=1e-5)
