"""Cell and position relaxation with any ASE calculator.

:func:`relax_structure` relaxes one structure with an ASE optimizer (FIRE or
BFGS) acting on a cell filter (``FrechetCellFilter`` by default), and returns
a :class:`RelaxRecord` whatever happens: a structure that cannot be relaxed
(overlapping atoms, elements the model does not cover, exploding energies or
forces, no convergence within the step cap, an exception inside the
calculator) gives ``status="failed"`` with the reason in ``error``.

:func:`relax_many` runs that per structure; :func:`batched_relax` relaxes a
list of structures together with one batched CHGNet evaluation per step
driving a vectorised FIRE over ASE cell filters (CHGNet itself has no batched
relaxation, CHGNet issue #73).
"""

import logging
import time
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator
from pymatgen.core import Structure

from matscreen.core.io import to_structure
from matscreen.physics.calculators import (
    calculator_info,
    resolve_calculator,
    unsupported_elements,
)

logger = logging.getLogger(__name__)

MAX_ABS_ENERGY_PER_ATOM = 50.0  # eV/atom; beyond this an MLIP has left its domain
MAX_FORCE = 500.0  # eV/A


class RelaxRecord(BaseModel):
    """Result of one relaxation (or one failed attempt)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    formula: str = Field(description="Reduced formula of the input structure.")
    status: Literal["ok", "failed"] = Field(description="'ok' or 'failed'.")
    error: str | None = Field(None, description="Why the relaxation failed; None when ok.")
    structure: Structure | None = Field(
        None, description="Relaxed structure (last structure reached when not converged)."
    )
    n_atoms: int = Field(description="Number of atoms in the cell.")
    energy_per_atom: float | None = Field(
        None, description="Final potential energy in eV/atom (calculator's energy scale)."
    )
    initial_energy_per_atom: float | None = Field(
        None, description="Energy of the input structure in eV/atom."
    )
    fmax: float | None = Field(
        None, description="Largest final (generalised) force in eV/A, cell DOFs included."
    )
    steps: int = Field(0, description="Optimizer steps taken.")
    converged: bool = Field(False, description="Whether fmax fell below the criterion.")
    volume_change: float | None = Field(
        None, description="Relative volume change (V_final - V_initial) / V_initial."
    )
    calculator: str = Field(description="Calculator name (registry name or class name).")
    calculator_version: str = Field(description="Model or package version of the calculator.")
    energy_scale: str = Field(description="Energy scale of the calculator (see calculators).")
    wall_time_s: float = Field(0.0, description="Wall-clock time of the relaxation in s.")

    @field_validator("structure", mode="before")
    @classmethod
    def _structure_from_dict(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return Structure.from_dict(value)
        return value

    @field_serializer("structure")
    def _structure_to_dict(self, value: Structure | None) -> dict | None:
        if value is None:
            return None
        import json

        from monty.json import MontyEncoder

        return json.loads(json.dumps(value.as_dict(), cls=MontyEncoder))


def min_interatomic_distance(structure: Structure) -> float:
    """Return the shortest distance between two sites (periodic images included), in A."""
    if len(structure) == 1:
        return float(min(structure.lattice.abc))
    dm = structure.distance_matrix
    np.fill_diagonal(dm, np.inf)
    d = float(dm.min())
    # the periodic self-image distance matters for tiny cells
    return min(d, float(min(structure.lattice.abc)))


def precheck_structure(
    structure: Structure, calculator: Any, *, min_distance: float = 0.6
) -> str | None:
    """Return why ``structure`` should not be relaxed with ``calculator``, or None.

    Parameters
    ----------
    structure
        The input structure.
    calculator
        An ASE calculator (its covered elements are checked).
    min_distance
        Shortest interatomic distance allowed, in A.
    """
    if len(structure) == 0:
        return "empty structure"
    if not structure.is_ordered:
        return (
            "structure has partial occupancies; order it first "
            "(matscreen.candidates.ordering.order_structure)"
        )
    missing = unsupported_elements(calculator, {el.symbol for el in structure.composition})
    if missing:
        name = calculator_info(calculator).name
        return f"element(s) {', '.join(missing)} not covered by calculator {name}"
    if structure.volume <= 1e-3 or not np.isfinite(structure.lattice.matrix).all():
        return "degenerate lattice"
    d = min_interatomic_distance(structure)
    if d < min_distance:
        return f"overlapping atoms: shortest distance {d:.3f} A < {min_distance} A"
    return None


def _sanity(energy_per_atom: float, forces: np.ndarray) -> str | None:
    if not np.isfinite(energy_per_atom) or not np.isfinite(forces).all():
        return "non-finite energy or forces"
    if abs(energy_per_atom) > MAX_ABS_ENERGY_PER_ATOM:
        return f"exploding energy: {energy_per_atom:.3g} eV/atom"
    fmax = float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0
    if fmax > MAX_FORCE:
        return f"exploding forces: max |F| = {fmax:.3g} eV/A"
    return None


def logm_near_identity(matrix: np.ndarray) -> np.ndarray:
    """Matrix logarithm of a 3x3 deformation gradient, fast near the identity.

    ``log(I + X) = X - X^2/2 + X^3/3 - ...`` summed to double precision when the
    spectral norm of ``X`` is below 0.5 (a few dozen 3x3 products, ~30x faster than
    :func:`scipy.linalg.logm`, which the cell filters call twice per step); scipy's
    real logarithm otherwise.
    """
    from scipy.linalg import logm

    x = np.asarray(matrix, dtype=float) - np.eye(3)
    if np.linalg.norm(x, 2) >= 0.5:
        with warnings.catch_warnings():  # "may be inaccurate, err = 2e-13": harmless noise
            warnings.filterwarnings("ignore", message="logm result may be inaccurate")
            return np.real(logm(matrix))
    out = np.zeros((3, 3))
    term = np.eye(3)
    for k in range(1, 200):
        term = term @ x
        out += ((-1) ** (k + 1) / k) * term
        if np.abs(term).max() / k < 1e-17:
            break
    return out


def _cell_filter(atoms: Any, kind: str) -> Any:
    from ase.filters import ExpCellFilter, FrechetCellFilter

    if kind == "frechet":
        flt = FrechetCellFilter(atoms)
        utility = getattr(flt, "_utility", None)  # ASE >= 3.23 computes through this helper
        if utility is not None and hasattr(utility, "logm"):
            utility.logm = logm_near_identity
        return flt
    if kind == "exp":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ExpCellFilter(atoms)
    raise ValueError(f"unknown cell filter {kind!r}; use 'frechet' or 'exp'")


def relax_structure(
    structure: Any,
    calculator: Any = None,
    *,
    fmax: float = 0.05,
    steps: int = 300,
    optimizer: Literal["FIRE", "BFGS"] = "FIRE",
    relax_cell: bool = True,
    cell_filter: Literal["frechet", "exp"] = "frechet",
    min_distance: float = 0.6,
) -> RelaxRecord:
    """Relax cell and positions of one structure.

    Parameters
    ----------
    structure
        pymatgen ``Structure``, ASE ``Atoms`` or a Structure dict.
    calculator
        Any ASE calculator, a registry name (``"chgnet"``, ``"sevenn"``) or None
        for the DEFAULT_CALCULATOR setting (CHGNet unless set).
    fmax
        Convergence criterion on the largest force (and scaled stress), eV/A.
    steps
        Step cap; reaching it without convergence gives ``status="failed"``
        (the last structure is still returned).
    optimizer
        ``"FIRE"`` or ``"BFGS"``.
    relax_cell
        Relax the cell too (through ``cell_filter``); positions only if False.
    cell_filter
        ``"frechet"`` (ASE ``FrechetCellFilter``) or ``"exp"`` (``ExpCellFilter``).
    min_distance
        Shortest interatomic distance (A) accepted before running.

    Returns
    -------
    RelaxRecord
        Never raises for a bad structure; failures are recorded.
    """
    from ase.optimize import BFGS, FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    calc = resolve_calculator(calculator)
    info = calculator_info(calc)
    t0 = time.perf_counter()
    base = dict(
        calculator=info.name, calculator_version=info.version, energy_scale=info.energy_scale
    )
    try:
        struct = to_structure(structure)
    except Exception as exc:  # noqa: BLE001 - a bad input is a failed record
        return RelaxRecord(
            formula="?", status="failed", error=f"bad structure: {exc}", n_atoms=0, **base
        )
    formula = struct.composition.reduced_formula
    n = len(struct)
    reason = precheck_structure(struct, calc, min_distance=min_distance)
    if reason:
        return RelaxRecord(
            formula=formula, status="failed", error=reason, n_atoms=n, structure=struct, **base
        )
    atoms = AseAtomsAdaptor.get_atoms(struct)
    atoms.calc = calc
    v0 = atoms.get_volume()
    try:
        e0 = atoms.get_potential_energy() / n
        reason = _sanity(e0, atoms.get_forces())
        if reason:
            return RelaxRecord(
                formula=formula,
                status="failed",
                error=reason,
                n_atoms=n,
                structure=struct,
                initial_energy_per_atom=float(e0),
                **base,
            )
        target = _cell_filter(atoms, cell_filter) if relax_cell else atoms
        opt_cls = {"FIRE": FIRE, "BFGS": BFGS}[optimizer]
        opt = opt_cls(target, logfile=None)
        exploded: str | None = None
        for converged in opt.irun(fmax=fmax, steps=steps):
            e = atoms.get_potential_energy() / n
            exploded = _sanity(e, atoms.get_forces())
            if exploded or converged:
                break
        n_steps = int(opt.nsteps)
        forces = target.get_forces()
        f_final = float(np.sqrt((forces**2).sum(axis=1).max()))
        e_final = float(atoms.get_potential_energy() / n)
    except Exception as exc:  # noqa: BLE001 - calculator crashes become failed rows
        logger.warning("relaxation of %s failed: %s", formula, exc)
        return RelaxRecord(
            formula=formula,
            status="failed",
            error=f"calculator error: {exc}",
            n_atoms=n,
            structure=struct,
            wall_time_s=time.perf_counter() - t0,
            **base,
        )
    converged = f_final <= fmax
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    error = exploded
    if error is None and not converged:
        error = f"not converged: fmax {f_final:.3f} eV/A > {fmax} after {n_steps} steps"
    return RelaxRecord(
        formula=formula,
        status="ok" if error is None else "failed",
        error=error,
        structure=relaxed,
        n_atoms=n,
        energy_per_atom=e_final,
        initial_energy_per_atom=float(e0),
        fmax=f_final,
        steps=n_steps,
        converged=converged,
        volume_change=float(atoms.get_volume() / v0 - 1.0),
        wall_time_s=time.perf_counter() - t0,
        **base,
    )


def static_energy(structure: Any, calculator: Any = None) -> float:
    """Return the potential energy per atom (eV/atom) of ``structure`` as is."""
    from pymatgen.io.ase import AseAtomsAdaptor

    calc = resolve_calculator(calculator)
    atoms = AseAtomsAdaptor.get_atoms(to_structure(structure))
    atoms.calc = calc
    return float(atoms.get_potential_energy() / len(atoms))


def relax_many(
    structures: Sequence[Any], calculator: Any = None, **kwargs: Any
) -> list[RelaxRecord]:
    """Relax structures one by one (see :func:`relax_structure` for ``kwargs``).

    One failing structure gives one failed record; the others are unaffected.
    """
    calc = resolve_calculator(calculator)
    return [relax_structure(s, calc, **kwargs) for s in structures]


def relax_together(
    structures: Sequence[Any],
    calculator: Any = "chgnet",
    *,
    fmax: float = 0.05,
    steps: int = 300,
    device: str = "cpu",
) -> list[RelaxRecord]:
    """Relax structures batched when the MLIP is CHGNet, else one by one.

    The batched path (:func:`batched_relax`) runs the same FIRE per cell as
    :func:`relax_structure`; it pays off from a few cells on a CPU and more so on
    a GPU. If it raises (a cell that breaks the batch, GPU memory), the cells are
    relaxed one by one, where each failure is that cell's record.

    Parameters
    ----------
    structures
        Structures (pymatgen, ASE or dicts).
    calculator
        Registry name or ASE calculator.
    fmax, steps
        As in :func:`relax_structure`.
    device
        Torch device of a registry MLIP.
    """
    calc = resolve_calculator(calculator, device=device)
    model = getattr(calc, "model", None)
    if calculator_info(calc).name == "chgnet" and model is not None and len(structures) > 1:
        try:
            return batched_relax(
                structures, model, fmax=fmax, steps=steps, batch_size=len(structures)
            )
        except Exception as exc:  # noqa: BLE001 - one bad cell must not fail the others
            logger.warning("batched relaxation failed (%s); relaxing one by one", exc)
    return relax_many(structures, calc, fmax=fmax, steps=steps)


class FixedCell:
    """Positions-only degrees of freedom of an ASE ``Atoms`` (the cell stays)."""

    def __init__(self, atoms: Any) -> None:
        self.atoms = atoms

    def generalized_forces(self, forces: np.ndarray, stress: np.ndarray) -> np.ndarray:
        """Return the atomic forces (``stress`` is ignored)."""
        return np.asarray(forces, dtype=float)

    def step(self, dr: np.ndarray) -> None:
        """Move the atoms by ``dr`` (Angstrom)."""
        self.atoms.set_positions(self.atoms.get_positions() + dr)


class FrechetCell:
    """Positions and cell as generalized coordinates, as ASE's ``FrechetCellFilter``.

    The cell coordinates are ``n_atoms * logm(F)`` for the deformation gradient
    ``F`` from the starting cell, the atomic ones the positions with ``F`` taken
    out; the generalized forces are the atomic forces times ``F`` and the virial
    pulled back through the Frechet derivative of the matrix exponential. This is
    ASE's filter (scalar pressure 0, no mask) with two shortcuts that change no
    number beyond rounding: ``logm`` by its series near the identity
    (:func:`logm_near_identity`), and the nine directional Frechet derivatives as
    one adjoint one, ``<L(A, E), G> = <E, L(A^T, G)>``. The constant ``log(n_atoms)``
    offset of ASE's cell coordinates is left out (it moves nothing).
    """

    def __init__(self, atoms: Any) -> None:
        self.atoms = atoms
        self.orig_cell = atoms.cell.array.copy()
        self.n = len(atoms)
        self.factor = float(self.n)

    def _deform_grad(self) -> np.ndarray:
        return np.linalg.solve(self.orig_cell, self.atoms.cell.array).T

    def generalized_forces(self, forces: np.ndarray, stress: np.ndarray) -> np.ndarray:
        """``(n_atoms + 3, 3)`` forces on the generalized coordinates.

        Parameters
        ----------
        forces
            Atomic forces, eV/A.
        stress
            Voigt stress, eV/A^3 (ASE sign convention).
        """
        from ase.stress import voigt_6_to_full_3x3_stress
        from scipy.linalg import expm_frechet

        volume = self.atoms.get_volume()
        virial = -volume * voigt_6_to_full_3x3_stress(np.asarray(stress, dtype=float))
        grad = self._deform_grad()
        log_grad = logm_near_identity(grad)
        cell_grad = virial @ np.linalg.inv(grad.T)
        log_force = expm_frechet(log_grad.T, cell_grad, compute_expm=False)
        out = np.empty((self.n + 3, 3))
        out[: self.n] = np.asarray(forces, dtype=float) @ grad
        out[self.n :] = log_force / self.factor
        return out

    def step(self, dr: np.ndarray) -> None:
        """Move the generalized coordinates by ``dr`` ``(n_atoms + 3, 3)``."""
        from scipy.linalg import expm

        grad = self._deform_grad()
        ref_positions = np.linalg.solve(grad, self.atoms.get_positions().T).T + dr[: self.n]
        log_grad = logm_near_identity(grad) + dr[self.n :] / self.factor
        new_grad = expm(log_grad)
        self.atoms.set_cell(self.orig_cell @ new_grad.T, scale_atoms=False)
        self.atoms.set_positions(ref_positions @ new_grad.T)


def batched_relax(
    structures: Sequence[Any],
    model: Any = None,
    *,
    fmax: float = 0.05,
    steps: int = 300,
    batch_size: int = 64,
    relax_cell: bool = True,
    min_distance: float = 0.6,
    device: str = "cpu",
) -> list[RelaxRecord]:
    """Relax many structures together with batched CHGNet evaluations.

    At every step the unconverged structures are evaluated together, ``batch_size``
    at a time, by the vectorised CHGNet pass (:mod:`matscreen.physics.chgnet_batch`:
    the batch graph built by tensor operations, one forward and one backward pass on
    the model's device); each structure
    keeps its own FIRE state (velocity, time step, mixing) acting on the
    generalised coordinates of an ASE ``FrechetCellFilter``, so the update is
    the same as ASE's FIRE per structure (maxstep 0.2 A).

    Parameters
    ----------
    structures
        Structures (pymatgen, ASE or dicts).
    model
        A ``chgnet.model.CHGNet``; None loads CHGNet 0.3.0 from the wheel onto ``device``.
    fmax, steps, relax_cell, min_distance
        As in :func:`relax_structure`.
    batch_size
        Graphs per CHGNet forward pass.
    device
        ``"cpu"`` or ``"cuda"``: where a model loaded here runs (a given model stays put).

    Returns
    -------
    list[RelaxRecord]
        In input order.
    """
    from ase.calculators.singlepoint import SinglePointCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    from matscreen.physics.calculators import get_calculator
    from matscreen.physics.chgnet_batch import ase_results

    if model is None:  # the registry's cached CHGNet 0.3.0 on that device
        model = get_calculator("chgnet", device=device).model
    calc = get_calculator("chgnet")
    info = calculator_info(calc)
    base = dict(
        calculator=info.name, calculator_version=info.version, energy_scale=info.energy_scale
    )
    t0 = time.perf_counter()
    records: list[RelaxRecord | None] = [None] * len(structures)
    active: list[int] = []
    atoms_l: dict[int, Any] = {}
    targets: dict[int, Any] = {}
    for i, s in enumerate(structures):
        try:
            struct = to_structure(s)
        except Exception as exc:  # noqa: BLE001
            records[i] = RelaxRecord(
                formula="?", status="failed", error=f"bad structure: {exc}", n_atoms=0, **base
            )
            continue
        reason = precheck_structure(struct, calc, min_distance=min_distance)
        if reason:
            records[i] = RelaxRecord(
                formula=struct.composition.reduced_formula,
                status="failed",
                error=reason,
                n_atoms=len(struct),
                structure=struct,
                **base,
            )
            continue
        atoms = AseAtomsAdaptor.get_atoms(struct)
        atoms_l[i] = atoms
        targets[i] = FrechetCell(atoms) if relax_cell else FixedCell(atoms)
        active.append(i)

    # FIRE parameters (ASE defaults)
    dt0, dtmax, maxstep, nmin, finc, fdec, astart, fa = 0.1, 1.0, 0.2, 5, 1.1, 0.5, 0.1, 0.99
    state = {i: {"v": None, "dt": dt0, "a": astart, "n": 0} for i in active}
    v0 = {i: atoms_l[i].get_volume() for i in active}
    e_init: dict[int, float] = {}
    nsteps = dict.fromkeys(active, 0)
    last_f: dict[int, float] = {}
    failed: dict[int, str] = {}

    for _step in range(steps + 1):
        if not active:
            break
        results = ase_results(model, [atoms_l[i] for i in active], batch_size)
        still = []
        for i, res in zip(active, results, strict=True):
            atoms = atoms_l[i]
            atoms.calc = SinglePointCalculator(atoms, **res)
            n = len(atoms)
            e_init.setdefault(i, res["energy"] / n)
            bad = _sanity(res["energy"] / n, res["forces"])
            if bad:
                failed[i] = bad
                continue
            f = targets[i].generalized_forces(res["forces"], res["stress"])
            fnorm = float(np.sqrt((f**2).sum(axis=1).max()))
            last_f[i] = fnorm
            if fnorm <= fmax or nsteps[i] >= steps:
                continue
            st = state[i]
            if st["v"] is None:
                st["v"] = np.zeros_like(f)
            else:
                vf = float(np.vdot(f, st["v"]))
                if vf > 0.0:
                    st["v"] = (1.0 - st["a"]) * st["v"] + st["a"] * f / np.sqrt(
                        np.vdot(f, f)
                    ) * np.sqrt(np.vdot(st["v"], st["v"]))
                    if st["n"] > nmin:
                        st["dt"] = min(st["dt"] * finc, dtmax)
                        st["a"] *= fa
                    st["n"] += 1
                else:
                    st["v"][:] = 0.0
                    st["a"] = astart
                    st["dt"] *= fdec
                    st["n"] = 0
            st["v"] = st["v"] + st["dt"] * f
            dr = st["dt"] * st["v"]
            norm = float(np.sqrt(np.vdot(dr, dr)))
            if norm > maxstep:
                dr = maxstep * dr / norm
            targets[i].step(dr)
            nsteps[i] += 1
            still.append(i)
        active = still

    elapsed = time.perf_counter() - t0
    for i in atoms_l:
        atoms = atoms_l[i]
        n = len(atoms)
        struct_out = AseAtomsAdaptor.get_structure(atoms)
        formula = struct_out.composition.reduced_formula
        if i in failed:
            records[i] = RelaxRecord(
                formula=formula,
                status="failed",
                error=failed[i],
                n_atoms=n,
                structure=struct_out,
                steps=nsteps[i],
                **base,
            )
            continue
        e_final = float(atoms.calc.results["energy"]) / n
        conv = last_f.get(i, np.inf) <= fmax
        err = (
            None
            if conv
            else (
                f"not converged: fmax {last_f.get(i, np.nan):.3f} eV/A > {fmax} after "
                f"{nsteps[i]} steps"
            )
        )
        records[i] = RelaxRecord(
            formula=formula,
            status="ok" if conv else "failed",
            error=err,
            structure=struct_out,
            n_atoms=n,
            energy_per_atom=e_final,
            initial_energy_per_atom=e_init.get(i),
            fmax=last_f.get(i),
            steps=nsteps[i],
            converged=conv,
            volume_change=float(atoms.get_volume() / v0[i] - 1.0),
            wall_time_s=elapsed / max(len(atoms_l), 1),
            **base,
        )
    return [r for r in records if r is not None]
