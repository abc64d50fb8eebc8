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

:func:`build_batch_graph` builds the batch graph itself with tensor operations on
the model's device: the same edges and angles as CHGNet's per-crystal converter,
which on a GPU was the larger share of a batched relaxation step (64 cells: 730 ms
of graph construction against 45 ms of model). :func:`crystal_graphs` keeps
CHGNet's converter as the reference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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


def crystal_graphs(model: Any, atoms_list: list) -> list[dict[str, Any]]:
    """CHGNet's own crystal graphs (``CrystalGraphConverter``) of ASE cells, as numpy arrays.

    The reference for :func:`build_batch_graph`, and a second way into :func:`batch_efs`.

    Parameters
    ----------
    model
        A ``chgnet.model.CHGNet`` (its converter's cutoffs are used).
    atoms_list
        ASE ``Atoms`` with periodic cells.

    Returns
    -------
    list[dict]
        Per cell, the arrays of a ``chgnet.graph.CrystalGraph``, in input order.
    """
    from pymatgen.core import Lattice, Structure

    conv = model.graph_converter
    converter = _graph_converter((conv.atom_graph_cutoff, conv.bond_graph_cutoff, conv.algorithm))
    out = []
    for atoms in atoms_list:
        frac = atoms.get_scaled_positions(wrap=False)
        g = converter(Structure(Lattice(atoms.cell.array), atoms.numbers, frac))
        out.append({k: getattr(g, k).detach().numpy() for k in _GRAPH_TENSORS})
    return out


@dataclass
class BatchGraph:
    """The batched CHGNet graph of many crystals, as tensors on the model's device.

    Atoms, directed edges (``atom_graph`` rows ``[center, neighbor]`` with the
    neighbor's lattice ``image``), undirected edges (``u2d``: one directed edge each;
    ``d2u``: each directed edge's undirected one) and angles (``angles`` rows
    ``[center, undirected 1, directed 1, undirected 2, directed 2]``), all indexed
    over the whole batch, as ``chgnet.graph.CrystalGraph`` defines them per crystal.
    """

    z: Any  # (N,) int64 atomic numbers
    frac: Any  # (N, 3) float32 fractional coordinates
    lattice: Any  # (B, 3, 3) float32, rows are lattice vectors
    atom_graph: Any  # (E, 2) int64
    image: Any  # (E, 3) float32
    d2u: Any  # (E,) int64
    u2d: Any  # (U,) int64
    angles: Any  # (A, 5) int64
    atom_owner: Any  # (N,) int64 crystal of each atom
    edge_owner: Any  # (E,) int64 crystal of each directed edge
    n_atoms: np.ndarray  # (B,) atoms per crystal


def _cat(arrays: list[dict[str, Any]], key: str, width: int, dtype: Any, device: Any) -> Any:
    import torch

    parts = [np.asarray(a[key]).reshape(-1, width) if width else np.asarray(a[key]) for a in arrays]
    return torch.from_numpy(np.concatenate(parts).astype(dtype, copy=False)).to(device)


def _stack_graphs(graphs: list[dict[str, Any]], device: Any) -> BatchGraph:
    """Batch the per-crystal graphs of :func:`crystal_graphs` (offsets added)."""
    import torch

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

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).to(device)

    return BatchGraph(
        z=_cat(graphs, "atomic_number", 0, np.int64, device),
        frac=_cat(graphs, "atom_frac_coord", 3, np.float32, device),
        lattice=t(np.stack([np.asarray(g["lattice"], dtype=np.float32) for g in graphs])),
        atom_graph=t(atom_graph),
        image=_cat(graphs, "neighbor_image", 3, np.float32, device),
        d2u=t(d2u),
        u2d=t(u2d),
        angles=t(ang + ang_off),
        atom_owner=t(np.repeat(np.arange(n_batch), n_atoms)),
        edge_owner=t(np.repeat(np.arange(n_batch), n_dir)),
        n_atoms=n_atoms,
    )


#: candidate (atom pair, image) triples screened at once by :func:`build_batch_graph`; a
#: crystal with more goes through pymatgen's cell-list neighbour search instead
_MAX_CANDIDATES = 2_000_000
#: pairs this much beyond a cutoff still count (pymatgen's tolerance; ties at the cutoff)
_CUTOFF_TOL = 1e-8


def _pairs_cell_list(frac: np.ndarray, lattice: np.ndarray, cutoff: float) -> tuple:
    """One orientation of every pair within ``cutoff`` of one crystal, by pymatgen's cell list.

    For crystals too large for the dense enumeration of :func:`_pairs_within`
    (its cost grows with atoms squared times images).
    """
    from pymatgen.optimization.neighbors import find_points_in_spheres

    cart = np.ascontiguousarray(frac @ lattice)
    i, j, image, dist = find_points_in_spheres(
        cart, cart, float(cutoff), np.array([1, 1, 1], dtype=np.int64),
        np.ascontiguousarray(lattice), tol=_CUTOFF_TOL,
    )  # fmt: skip
    image = np.rint(image).astype(np.int64)
    k1, k2, k3 = image.T
    positive = (k1 > 0) | ((k1 == 0) & ((k2 > 0) | ((k2 == 0) & (k3 > 0))))
    keep = (i < j) | ((i == j) & positive)
    return i[keep], j[keep], image[keep], dist[keep]


def _pairs_within(
    frac: Any,
    lattice: Any,
    n_atoms: Any,
    atom_off: Any,
    cutoff: float,
    dense: bool | None = None,
) -> tuple[Any, Any, Any, Any]:
    """Atom pairs within ``cutoff`` over periodic images, one orientation each.

    Every crystal's pairs ``(i, j, image)`` are enumerated over the images a
    sphere of radius ``cutoff`` can reach (``ceil(cutoff / interplanar spacing)``
    cells along each lattice vector, for coordinates wrapped into the cell), and
    only the orientation with ``i < j`` (or ``i == j`` and the image
    lexicographically positive) is kept, so the reverse edge need not be searched.
    That dense enumeration runs on a GPU without leaving it; on a CPU, and for
    crystals of more than :data:`_MAX_CANDIDATES` candidates anywhere, pymatgen's
    cell list (:func:`_pairs_cell_list`) is faster (64 cells of 6-16 atoms: 9 ms
    against 53 ms on 2 cores) and its memory grows with the atoms, not their
    square. Distinct atoms at the same place stay a pair (of length 0, which the
    model turns into NaN, as CHGNet's converter does). ``dense`` forces one way
    (True: dense for every crystal within :data:`_MAX_CANDIDATES`; False: cell
    list for all).

    Returns
    -------
    tuple
        Global atom indices ``i`` and ``j``, images (int64, ``(P, 3)``) and
        distances (float64), for ``frac[j] + image - frac[i]`` in the lattice.
    """
    import torch

    device = frac.device
    reach = torch.ceil(cutoff * torch.linalg.inv(lattice).norm(dim=-2) - 1e-9).to(torch.int64)
    width = 2 * reach + 1
    n_cand = (width.prod(dim=1) * n_atoms * n_atoms).cpu().numpy()
    out: list[tuple[Any, Any, Any, Any]] = []
    # on a CPU, and for large crystals anywhere: pymatgen's cell list (O(atoms))
    on_cpu = device.type == "cpu" if dense is None else not dense
    cell_list = (n_cand > _MAX_CANDIDATES) | on_cpu
    offsets = atom_off.cpu().numpy()
    counts_np = n_atoms.cpu().numpy()
    for c in np.flatnonzero(cell_list):
        lo, n = int(offsets[c]), int(counts_np[c])
        i, j, image, dist = _pairs_cell_list(
            frac[lo : lo + n].cpu().numpy(), lattice[c].cpu().numpy(), cutoff
        )
        out.append(
            (
                torch.from_numpy(i.astype(np.int64) + lo).to(device),
                torch.from_numpy(j.astype(np.int64) + lo).to(device),
                torch.from_numpy(image).to(device),
                torch.from_numpy(dist).to(device=device, dtype=frac.dtype),
            )
        )
    # the others: dense enumeration, in groups of at most _MAX_CANDIDATES candidates
    groups: list[list[int]] = [[]]
    total = 0
    for c in np.flatnonzero(~cell_list):
        if total + n_cand[c] > _MAX_CANDIDATES and groups[-1]:
            groups.append([])
            total = 0
        groups[-1].append(int(c))
        total += int(n_cand[c])
    for group in groups:
        if not group:
            continue
        sel = torch.tensor(group, device=device)
        counts = torch.from_numpy(n_cand[group]).to(device)
        owner = torch.repeat_interleave(sel, counts)
        first = torch.cumsum(counts, 0) - counts
        local = torch.arange(int(counts.sum()), device=device) - torch.repeat_interleave(
            first, counts
        )
        n = n_atoms[owner]
        n2 = n * n
        img, rem = local // n2, local % n2
        i, j = rem // n, rem % n
        w, r = width[owner], reach[owner]
        k3 = img % w[:, 2] - r[:, 2]
        img = img // w[:, 2]
        k2 = img % w[:, 1] - r[:, 1]
        k1 = img // w[:, 1] - r[:, 0]
        positive = (k1 > 0) | ((k1 == 0) & ((k2 > 0) | ((k2 == 0) & (k3 > 0))))
        keep = (i < j) | ((i == j) & positive)
        owner, i, j = owner[keep], i[keep] + atom_off[owner[keep]], j[keep]
        j = j + atom_off[owner]
        image = torch.stack([k1[keep], k2[keep], k3[keep]], dim=1)
        delta = frac[j] - frac[i] + image
        dist = torch.einsum("pi,pij->pj", delta, lattice[owner]).norm(dim=1)
        close = dist <= cutoff + _CUTOFF_TOL
        out.append((i[close], j[close], image[close], dist[close]))
    return tuple(torch.cat(parts) for parts in zip(*out, strict=True))  # type: ignore[return-value]


def build_batch_graph(model: Any, atoms_list: list) -> BatchGraph:
    """CHGNet crystal graphs of many ASE cells, built by tensor operations on the model's device.

    The same graph as ``chgnet.graph.CrystalGraphConverter`` (atom graph within the
    model's atom cutoff, angles between bonds within its bond cutoff; isolated
    atoms allowed), up to the order of edges, which CHGNet's sums do not see.
    Coordinates are wrapped into the cell, which changes no vector between atoms.
    Ties at exactly a cutoff may fall either way (such edges carry zero weight in
    CHGNet's smooth basis). On a GPU this replaces the per-crystal Python graph
    construction that otherwise dominates a batched relaxation step
    (``benchmarks/results/gpu_h200_2026-11-27b/prof_split.log``).

    Parameters
    ----------
    model
        A ``chgnet.model.CHGNet`` (its cutoffs and device are used).
    atoms_list
        ASE ``Atoms`` with periodic cells.

    Returns
    -------
    BatchGraph
    """
    import torch

    device = next(model.parameters()).device
    conv = model.graph_converter
    f64 = torch.float64
    n_atoms = np.array([len(a) for a in atoms_list])
    if len(atoms_list) == 0 or (n_atoms == 0).any():
        raise ValueError("build_batch_graph needs one or more cells, each with atoms")
    frac = np.concatenate([a.get_scaled_positions(wrap=False) for a in atoms_list])
    frac = torch.from_numpy(frac - np.floor(frac)).to(device=device, dtype=f64)
    lattice = torch.from_numpy(np.stack([a.cell.array for a in atoms_list])).to(device, f64)
    counts = torch.from_numpy(n_atoms).to(device)
    atom_off = torch.cumsum(counts, 0) - counts
    i, j, image, dist = _pairs_within(frac, lattice, counts, atom_off, conv.atom_graph_cutoff)

    # both orientations of every pair: undirected edge u is directed edges u and u + P
    n_pairs = len(i)
    und = torch.arange(n_pairs, device=device)
    atom_graph = torch.cat([torch.stack([i, j], 1), torch.stack([j, i], 1)])
    d2u = torch.cat([und, und])
    atom_owner = torch.repeat_interleave(torch.arange(len(n_atoms), device=device), counts)

    # angles: ordered pairs of distinct short directed edges around the same center (as
    # CHGNet's converter: the first bond up to the bond cutoff, the second shorter than it)
    lengths = torch.cat([dist, dist])
    bond_cut = conv.bond_graph_cutoff
    short = torch.nonzero(lengths <= bond_cut).flatten()
    center, order = torch.sort(atom_graph[short, 0], stable=True)
    short = short[order]
    per_center = torch.bincount(center, minlength=len(frac))
    group_start = (torch.cumsum(per_center, 0) - per_center)[center]
    position = torch.arange(len(short), device=device) - group_start
    partners = per_center[center] - 1
    first = torch.repeat_interleave(torch.arange(len(short), device=device), partners)
    rank = torch.arange(len(first), device=device) - torch.repeat_interleave(
        torch.cumsum(partners, 0) - partners, partners
    )
    second = group_start[first] + rank + (rank >= position[first]).to(rank.dtype)
    d1, d2 = short[first], short[second]
    strict = lengths[d2] < bond_cut
    d1, d2, first = d1[strict], d2[strict], first[strict]
    angles = torch.stack([center[first], d2u[d1], d1, d2u[d2], d2], dim=1)

    numbers = np.concatenate([a.numbers for a in atoms_list]).astype(np.int64)
    return BatchGraph(
        z=torch.from_numpy(numbers).to(device),
        frac=frac.float(),
        lattice=lattice.float(),
        atom_graph=atom_graph,
        image=torch.cat([image, -image]).float(),
        d2u=d2u,
        u2d=und,
        angles=angles,
        atom_owner=atom_owner,
        edge_owner=atom_owner[atom_graph[:, 0]],
        n_atoms=n_atoms,
    )


def batch_efs(
    model: Any, graphs: list[dict[str, Any]] | BatchGraph, *, forces: bool = True
) -> list[dict[str, np.ndarray | float]]:
    """Energy, forces and stress of many crystals in one vectorised CHGNet pass.

    Parameters
    ----------
    model
        A ``chgnet.model.CHGNet`` in eval mode, on any device.
    graphs
        From :func:`build_batch_graph`, or CHGNet's own per-crystal graphs from
        :func:`crystal_graphs`.
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
    g = graphs if isinstance(graphs, BatchGraph) else _stack_graphs(graphs, device)
    n_atoms, n_batch = g.n_atoms, len(g.n_atoms)
    f32 = torch.float32
    with torch.set_grad_enabled(forces):  # no autograd graph for energies only
        strain = torch.zeros((n_batch, 3, 3), dtype=f32, device=device, requires_grad=forces)
        eye = torch.eye(3, dtype=f32, device=device)
        lat = g.lattice @ (eye + strain)
        # |det|: the physical stress also for left-handed cells, where CHGNet's own
        # predict_structure returns it with the opposite sign
        volumes = torch.linalg.det(lat).abs()
        cart = torch.einsum("ni,nij->nj", g.frac, lat[g.atom_owner])
        neighbor = cart[g.atom_graph[:, 1]] + torch.einsum("ei,eij->ej", g.image, lat[g.edge_owner])
        vectors = cart[g.atom_graph[:, 0]] - neighbor
        lengths = torch.norm(vectors, dim=1)
        vectors = vectors / lengths[:, None]
        und_lengths = torch.index_select(lengths, 0, g.u2d)
        enc = model.bond_basis_expansion
        bond_ag = enc.rbf_expansion_ag(und_lengths)
        bond_bg = enc.rbf_expansion_bg(und_lengths)
        if len(g.angles):
            angle_bases = model.angle_basis_expansion(
                vectors[g.angles[:, 2]], vectors[g.angles[:, 4]]
            )
            bond_graph = g.angles[:, [0, 1, 3]].to(torch.int32)
        else:
            angle_bases = torch.tensor([], device=device)
            bond_graph = torch.tensor([], device=device)

        batched = BatchedGraph(
            atomic_numbers=g.z.to(torch.int32),
            bond_bases_ag=bond_ag,
            bond_bases_bg=bond_bg,
            angle_bases=angle_bases,
            batched_atom_graph=g.atom_graph.to(torch.int32),
            batched_bond_graph=bond_graph,
            atom_owners=g.atom_owner.to(torch.int32),
            directed2undirected=g.d2u.to(torch.int32),
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
            z = g.z
            feas.index_put_((g.atom_owner, z - 1), torch.ones_like(z, dtype=f32), accumulate=True)
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


def ase_results(model: Any, atoms_list: list, batch_size: int = 64) -> list[dict[str, Any]]:
    """ASE calculator results of many cells through :func:`batch_efs`, in batches.

    Returns, per cell, ``energy`` (eV/cell), ``free_energy``, ``forces`` (eV/A) and
    ``stress`` (Voigt, eV/A^3, ASE convention).
    """
    from ase.stress import full_3x3_to_voigt_6_stress
    from ase.units import GPa

    preds: list[dict] = []
    for start in range(0, len(atoms_list), batch_size):
        chunk = atoms_list[start : start + batch_size]
        preds.extend(batch_efs(model, build_batch_graph(model, chunk)))
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
