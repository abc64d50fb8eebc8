"""Vectorised CHGNet evaluation of many crystals at once (energy, forces, stress).

``CHGNet.predict_graph`` batches the message passing, but assembles the batch graph
one crystal at a time (bond vectors, radial and angular bases, strain and volume
per crystal, each a handful of tiny tensor operations) and differentiates with
``create_graph=True``. On a GPU that makes the cost grow with the number of
crystals through kernel launches, not arithmetic: for 48 cells of 6-16 atoms an
H200 spent 40 ms computing and 326 ms launching 17,000 kernels
(``benchmarks/results/gpu_h200_2026-11-27/prof.log``).

:func:`batch_efs` assembles the same batch graph with one operation per quantity
over all crystals (per-edge lattices gathered by crystal index, one strain leaf of
shape ``(B, 3, 3)``), runs CHGNet's own layers (``CHGNet._compute``) on it, and
takes forces and stress from one first-order ``torch.autograd.grad``. Energies,
forces and stresses equal ``predict_graph``'s to float32 rounding (tested).

:func:`crystal_graphs` builds the CHGNet crystal graphs of ASE cells, optionally
in worker processes (graph construction is the CPU share of a GPU step).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: GPa per eV/A^3 (CHGNet's conversion factor).
EV_A3_TO_GPA = 160.21766208

_GRAPH_TENSORS = (
    "atomic_number",
    "atom_frac_coord",
    "atom_graph",
    "neighbor_image",
    "directed2undirected",
    "undirected2directed",
    "bond_graph",
    "lattice",
)
_CONVERTERS: dict[tuple[float, float, str], Any] = {}
_POOLS: dict[int, Any] = {}


def _graph_converter(cutoffs: tuple[float, float, str]) -> Any:
    """Return a CHGNet graph converter with the model's cutoffs (one per process)."""
    if cutoffs not in _CONVERTERS:
        from chgnet.graph import CrystalGraphConverter

        atom_cut, bond_cut, algorithm = cutoffs
        _CONVERTERS[cutoffs] = CrystalGraphConverter(
            atom_graph_cutoff=atom_cut,
            bond_graph_cutoff=bond_cut,
            algorithm=algorithm,  # type: ignore[arg-type]
            on_isolated_atoms="ignore",
        )
    return _CONVERTERS[cutoffs]


def _graph_arrays(
    cutoffs: tuple[float, float, str], cells: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> list[dict[str, Any]]:
    """CHGNet crystal graphs of ``(lattice, Z, frac_coords)`` cells, as numpy arrays.

    Runs here or in a graph worker process: numpy arrays pickle cheaply, torch
    tensors do not.
    """
    from pymatgen.core import Lattice, Structure

    converter = _graph_converter(cutoffs)
    out = []
    for lattice, numbers, frac in cells:
        g = converter(Structure(Lattice(lattice), numbers, frac))
        arrays = {k: getattr(g, k).detach().numpy() for k in _GRAPH_TENSORS}
        out.append(arrays)
    return out


def _graph_pool(n_workers: int) -> Any:
    """Return a process pool for graph construction (spawned once per process and size)."""
    if n_workers not in _POOLS:
        import atexit
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(pool.shutdown)  # before interpreter teardown, not in a weakref callback
        _POOLS[n_workers] = pool
    return _POOLS[n_workers]


def crystal_graphs(model: Any, atoms_list: list, graph_workers: int = 0) -> list[dict[str, Any]]:
    """CHGNet crystal graphs (as numpy arrays) of ASE cells.

    Parameters
    ----------
    model
        A ``chgnet.model.CHGNet`` (its converter's cutoffs are used).
    atoms_list
        ASE ``Atoms`` with periodic cells.
    graph_workers
        Build the graphs in this many spawned processes when there are at least
        two cells per process; 0 or 1 builds them here, and so does a daemonic
        process (a Dask worker), which cannot start processes.

    Returns
    -------
    list[dict]
        Per cell, the arrays of a ``chgnet.graph.CrystalGraph``, in input order.
    """
    conv = model.graph_converter
    cutoffs = (conv.atom_graph_cutoff, conv.bond_graph_cutoff, conv.algorithm)
    cells = [(a.cell.array, a.numbers, a.get_scaled_positions(wrap=False)) for a in atoms_list]
    import multiprocessing

    daemon = multiprocessing.current_process().daemon  # Dask workers cannot have children
    if graph_workers <= 1 or len(cells) < 2 * graph_workers or daemon:
        return _graph_arrays(cutoffs, cells)
    pool = _graph_pool(graph_workers)
    chunks = [cells[k::graph_workers] for k in range(graph_workers)]
    parts = list(pool.map(_graph_arrays, [cutoffs] * graph_workers, chunks))
    arrays: list[dict[str, Any]] = [{}] * len(cells)
    for k, part in enumerate(parts):
        for j, arr in enumerate(part):
            arrays[k + j * graph_workers] = arr
    return arrays


def _cat(arrays: list[dict[str, Any]], key: str, width: int, dtype: Any, device: Any) -> Any:
    import torch

    parts = [np.asarray(a[key]).reshape(-1, width) if width else np.asarray(a[key]) for a in arrays]
    return torch.from_numpy(np.concatenate(parts).astype(dtype, copy=False)).to(device)


def batch_efs(
    model: Any, graphs: list[dict[str, Any]], *, forces: bool = True
) -> list[dict[str, np.ndarray | float]]:
    """Energy, forces and stress of many crystals in one vectorised CHGNet pass.

    Parameters
    ----------
    model
        A ``chgnet.model.CHGNet`` in eval mode, on any device.
    graphs
        From :func:`crystal_graphs`.
    forces
        False: energies only, without building the autograd graph (single points).

    Returns
    -------
    list[dict]
        Per crystal: ``e`` (eV/atom, as CHGNet reports it) and, with ``forces``,
        ``f`` (eV/A, ``(n_atoms, 3)``) and ``s`` (GPa, ``(3, 3)``; CHGNet's sign
        convention).
    """
    import torch
    from chgnet.model.model import BatchedGraph

    device = next(model.parameters()).device
    n_atoms = np.array([len(g["atomic_number"]) for g in graphs])
    edges = [np.asarray(g["atom_graph"]).reshape(-1, 2) for g in graphs]
    n_dir = np.array([len(e) for e in edges])
    n_und = np.array([len(np.asarray(g["undirected2directed"])) for g in graphs])
    angles = [np.asarray(g["bond_graph"]).reshape(-1, 5) for g in graphs]
    n_ang = np.array([len(a) for a in angles])
    atom_off = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    dir_off = np.concatenate([[0], np.cumsum(n_dir)[:-1]])
    und_off = np.concatenate([[0], np.cumsum(n_und)[:-1]])
    n_batch = len(graphs)

    # integer bookkeeping (numpy, once per batch)
    atom_graph = np.concatenate(edges).astype(np.int64) + np.repeat(atom_off, n_dir)[:, None]
    d2u = np.concatenate([np.asarray(g["directed2undirected"]) for g in graphs]).astype(np.int64)
    d2u += np.repeat(und_off, n_dir)
    u2d = np.concatenate([np.asarray(g["undirected2directed"]) for g in graphs]).astype(np.int64)
    u2d += np.repeat(dir_off, n_und)
    ang = np.concatenate(angles).astype(np.int64)
    ang_off = np.stack(
        [
            np.repeat(atom_off, n_ang),
            np.repeat(und_off, n_ang),
            np.repeat(dir_off, n_ang),
            np.repeat(und_off, n_ang),
            np.repeat(dir_off, n_ang),
        ],
        axis=1,
    )
    ang += ang_off
    atom_owner = np.repeat(np.arange(n_batch), n_atoms)
    edge_owner = np.repeat(np.arange(n_batch), n_dir)

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).to(device)

    f32 = torch.float32
    z = _cat(graphs, "atomic_number", 0, np.int64, device)
    frac = _cat(graphs, "atom_frac_coord", 3, np.float32, device)
    image = _cat(graphs, "neighbor_image", 3, np.float32, device)
    lattice = t(np.stack([np.asarray(g["lattice"], dtype=np.float32) for g in graphs]))
    atom_owner_t, edge_owner_t = t(atom_owner), t(edge_owner)
    atom_graph_t, u2d_t, ang_t = t(atom_graph), t(u2d), t(ang)

    with torch.set_grad_enabled(forces):  # no autograd graph for energies only
        strain = torch.zeros((n_batch, 3, 3), dtype=f32, device=device, requires_grad=forces)
        eye = torch.eye(3, dtype=f32, device=device)
        lat = lattice @ (eye + strain)
        volumes = torch.linalg.det(lat).abs()  # signed, CHGNet flips left-handed cells' stress
        cart = torch.einsum("ni,nij->nj", frac, lat[atom_owner_t])
        neighbor = cart[atom_graph_t[:, 1]] + torch.einsum("ei,eij->ej", image, lat[edge_owner_t])
        vectors = cart[atom_graph_t[:, 0]] - neighbor
        lengths = torch.norm(vectors, dim=1)
        vectors = vectors / lengths[:, None]
        und_lengths = torch.index_select(lengths, 0, u2d_t)
        enc = model.bond_basis_expansion
        bond_ag = enc.rbf_expansion_ag(und_lengths)
        bond_bg = enc.rbf_expansion_bg(und_lengths)
        if len(ang):
            angle_bases = model.angle_basis_expansion(vectors[ang_t[:, 2]], vectors[ang_t[:, 4]])
            bond_graph = ang_t[:, [0, 1, 3]].to(torch.int32)
        else:
            angle_bases = torch.tensor([], device=device)
            bond_graph = torch.tensor([], device=device)

        batched = BatchedGraph(
            atomic_numbers=z.to(torch.int32),
            bond_bases_ag=bond_ag,
            bond_bases_bg=bond_bg,
            angle_bases=angle_bases,
            batched_atom_graph=atom_graph_t.to(torch.int32),
            batched_bond_graph=bond_graph,
            atom_owners=atom_owner_t.to(torch.int32),
            directed2undirected=t(d2u).to(torch.int32),
            atom_positions=[cart],
            strains=[strain],
            volumes=volumes.detach(),
        )
        pred = model._compute(batched, compute_force=False, compute_stress=False)  # noqa: SLF001
        energy = pred["e"]  # per atom if the model is intensive, as predict_graph reports it
        counts = torch.from_numpy(n_atoms).to(device=device, dtype=f32)
        comp = model.composition_model
        if comp is not None:
            feas = torch.zeros((n_batch, comp.max_num_elements), dtype=f32, device=device)
            feas.index_put_((atom_owner_t, z - 1), torch.ones_like(z, dtype=f32), accumulate=True)
            if comp.is_intensive:
                feas = feas / counts[:, None]
            energy = energy + comp._get_energy(feas)  # noqa: SLF001
    if not forces:
        return [{"e": float(v)} for v in energy.detach().cpu().numpy()]
    total = energy * counts if model.is_intensive else energy
    g_cart, g_strain = torch.autograd.grad(total.sum(), [cart, strain])
    stress = g_strain / volumes.detach()[:, None, None] * EV_A3_TO_GPA
    e = energy.detach().cpu().numpy()
    f_all = (-g_cart).detach().cpu().numpy()
    s = stress.detach().cpu().numpy()
    bounds = np.concatenate([[0], np.cumsum(n_atoms)])
    return [
        {"e": float(e[k]), "f": f_all[bounds[k] : bounds[k + 1]], "s": s[k]} for k in range(n_batch)
    ]


def ase_results(
    model: Any, atoms_list: list, batch_size: int = 64, graph_workers: int = 0
) -> list[dict[str, Any]]:
    """ASE calculator results of many cells through :func:`batch_efs`, in batches.

    Returns, per cell, ``energy`` (eV/cell), ``free_energy``, ``forces`` (eV/A) and
    ``stress`` (Voigt, eV/A^3, ASE convention).
    """
    from ase.stress import full_3x3_to_voigt_6_stress
    from ase.units import GPa

    graphs = crystal_graphs(model, atoms_list, graph_workers)
    preds: list[dict] = []
    for start in range(0, len(graphs), batch_size):
        preds.extend(batch_efs(model, graphs[start : start + batch_size]))
    out = []
    for atoms, pred in zip(atoms_list, preds, strict=True):
        energy = float(pred["e"]) * (len(atoms) if model.is_intensive else 1)
        out.append(
            {
                "energy": energy,
                "free_energy": energy,
                "forces": np.asarray(pred["f"], dtype=float),
                "stress": full_3x3_to_voigt_6_stress(np.asarray(pred["s"], dtype=float) * GPa),
            }
        )
    return out


def chgnet_calculator(model: Any) -> Any:
    """Return an ASE calculator running ``model`` through :func:`batch_efs` (one cell a call).

    Same energies, forces and stresses as ``chgnet.model.dynamics.CHGNetCalculator``
    to float32 rounding (no magnetic moments), ~1.6x faster per call on a CPU: the
    forces are a first-order gradient instead of CHGNet's ``create_graph=True`` one.

    Parameters
    ----------
    model
        A ``chgnet.model.CHGNet`` in eval mode, on the device to run on.

    Returns
    -------
    ase.calculators.calculator.Calculator
        With ``energy``, ``free_energy``, ``forces`` and ``stress`` (Voigt, eV/A^3);
        the model is its ``model`` attribute.
    """
    from ase.calculators.calculator import Calculator, all_changes

    class CHGNetBatchCalculator(Calculator):
        implemented_properties = ["energy", "free_energy", "forces", "stress"]  # noqa: RUF012

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def calculate(
            self,
            atoms: Any = None,
            properties: Any = None,
            system_changes: Any = all_changes,
        ) -> None:
            super().calculate(atoms, properties, system_changes)
            self.results = ase_results(self.model, [self.atoms])[0]

    return CHGNetBatchCalculator()
