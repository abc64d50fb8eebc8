"""Li transport from short MLIP molecular dynamics: diffusivity, Arrhenius fit, sigma at 300 K.

The check researchers run on the few candidates that survive the hull and BVSE
filters: NVT (Langevin) MD with the registry MLIP at a few elevated temperatures,
the Li mean square displacement and Nernst-Einstein conductivity (Haven ratio 1)
from pymatgen-analysis-diffusion's ``DiffusionAnalyzer``, and an Arrhenius
extrapolation of the diffusivities to room temperature.

Short runs on small cells give rough numbers (a factor of a few in D, ~0.05 eV in
the activation energy), enough to tell a superionic conductor from an insulator.
A run with too few Li hops (a diffusivity below ``min_diffusivity`` or below
:data:`MIN_HOPS` hops over the run: at the lowest temperatures a few ps may see
none) is left out of the Arrhenius fit and named in the record; with fewer than two
temperatures left the estimate fails with that reason rather than extrapolate noise.
The MLIP runs on ``device`` (``"cuda"`` when given a GPU).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field
from pymatgen.core import Structure

logger = logging.getLogger(__name__)

#: Below this diffusivity (cm^2/s) a run of a few ps has seen no Li hop worth fitting.
MIN_DIFFUSIVITY = 1e-7
#: A run must show this many Li hops (of :data:`HOP_LENGTH_A`) to enter an Arrhenius fit.
MIN_HOPS = 2.0
#: Typical Li site-to-site distance in halide and oxide conductors, A.
HOP_LENGTH_A = 2.5


def _hop_floor(run: MDRecord, min_hops: float) -> float:
    """Diffusivity (cm^2/s) at which ``run`` saw ``min_hops`` Li hops in all (0 if unknown).

    ``hops = 6 D t N_Li / d^2``: below it the mean square displacement is vibration
    plus a hop or two, and its slope is noise (runs of a few ps, tens of Li).
    """
    if not run.n_li or run.time_ps <= 0:
        return 0.0
    d2_cm2 = (HOP_LENGTH_A * 1e-8) ** 2
    return min_hops * d2_cm2 / (6 * run.time_ps * 1e-12 * run.n_li)


class MDRecord(BaseModel):
    """One MD run at one temperature."""

    formula: str = Field(description="Reduced formula.")
    status: Literal["ok", "failed"] = Field(description="'ok' or 'failed'.")
    error: str | None = Field(None, description="Why the run failed; None when ok.")
    temperature_K: float = Field(description="Thermostat temperature, K.")
    n_atoms: int = Field(description="Atoms in the simulated cell.")
    n_li: int | None = Field(None, description="Li atoms in the simulated cell.")
    time_ps: float = Field(0.0, description="Production time analysed, ps.")
    diffusivity_cm2_s: float | None = Field(None, description="Li tracer diffusivity, cm^2/s.")
    diffusivity_std_cm2_s: float | None = Field(None, description="Its standard deviation.")
    conductivity_mS_cm: float | None = Field(
        None, description="Nernst-Einstein Li conductivity at this temperature, mS/cm."
    )
    kinetic_temperature_K: float | None = Field(
        None, description="Mean kinetic temperature over the stored frames, K (thermostat check)."
    )
    calculator: str = Field(description="MLIP name and version.")
    wall_time_s: float = Field(
        0.0, description="Wall-clock time of the run, s (of the whole batch for batched runs)."
    )


class TransportRecord(BaseModel):
    """Arrhenius estimate of room-temperature Li transport from several MD runs."""

    formula: str = Field(description="Reduced formula.")
    status: Literal["ok", "failed"] = Field(description="'ok' or 'failed'.")
    error: str | None = Field(None, description="Why no estimate; None when ok.")
    activation_energy_eV: float | None = Field(None, description="Arrhenius activation energy.")
    activation_energy_std_eV: float | None = Field(None, description="Its standard error.")
    diffusivity_300K_cm2_s: float | None = Field(None, description="Extrapolated D(300 K).")
    conductivity_300K_S_cm: float | None = Field(
        None, description="Extrapolated Nernst-Einstein conductivity at 300 K, S/cm."
    )
    log10_sigma_300K: float | None = Field(None, description="log10 of it.")
    runs: list[MDRecord] = Field(default_factory=list, description="The MD runs.")
    temperatures_fitted_K: list[float] = Field(
        default_factory=list, description="Temperatures in the Arrhenius fit (runs with hops)."
    )
    note: str | None = Field(None, description="Runs left out of the fit, and why.")


def _supercell(structure: Structure, min_atoms: int) -> Structure:
    """Smallest near-cubic multiple of ``structure`` with at least ``min_atoms`` atoms."""
    s = structure.copy()
    while len(s) < min_atoms:
        abc = np.array(s.lattice.abc) * 1.0
        scale = [1, 1, 1]
        scale[int(np.argmin(abc))] = 2
        s.make_supercell(scale)
    return s


def _md_setup(
    structure: Structure, cell: Structure, calc: Any, temperatures: Sequence[float]
) -> tuple[list[dict[str, Any]], str | None]:
    """Per temperature, the fields every :class:`MDRecord` of this run shares; why it cannot run."""
    from matscreen.physics.calculators import calculator_info
    from matscreen.physics.relax import precheck_structure

    info = calculator_info(calc)
    bases = [
        dict(
            formula=structure.composition.reduced_formula,
            temperature_K=float(t),
            n_atoms=len(cell),
            n_li=sum(1 for site in cell if site.specie.symbol == "Li"),
            calculator=f"{info.name}@{info.version}",
        )
        for t in temperatures
    ]
    if "Li" not in {el.symbol for el in structure.composition}:
        return bases, "no Li in the structure"
    return bases, precheck_structure(cell, calc)


def md_diffusivity(
    structure: Structure,
    temperature: float,
    calculator: Any = "chgnet",
    *,
    time_ps: float = 5.0,
    equilibration_ps: float | None = None,
    timestep_fs: float = 2.0,
    sample_every: int = 5,
    min_atoms: int = 40,
    friction_per_fs: float = 0.02,
    seed: int = 0,
    device: str = "cpu",
) -> MDRecord:
    """Li diffusivity from one NVT Langevin run.

    Parameters
    ----------
    structure
        Ordered structure (relaxed, ideally); replicated to at least ``min_atoms``.
    temperature
        Thermostat temperature, K.
    calculator
        Registry name (``"chgnet"``, ``"sevenn"``) or an ASE calculator.
    time_ps, equilibration_ps
        Production time analysed and equilibration discarded before it, ps
        (default a fifth of ``time_ps``).
    timestep_fs
        MD time step, fs.
    sample_every
        Steps between stored frames (frames must be closer than half a cell
        in displacement, which any MD step size satisfies).
    min_atoms
        Replicate the cell to at least this many atoms.
    friction_per_fs
        Langevin friction, 1/fs.
    seed
        Seed of the initial velocities and the thermostat noise.
    device
        Torch device of a registry MLIP.

    Returns
    -------
    MDRecord
        ``failed`` with the reason for a crash, exploding energies or no Li.
    """
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary
    from pymatgen.io.ase import AseAtomsAdaptor

    from matscreen.physics.calculators import resolve_calculator

    calc = resolve_calculator(calculator, device=device)
    cell = _supercell(structure, min_atoms)
    t0 = time.perf_counter()
    (base,), reason = _md_setup(structure, cell, calc, [temperature])
    if reason:
        return MDRecord(status="failed", error=reason, **base)
    atoms = AseAtomsAdaptor.get_atoms(cell)
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    _thermalize(atoms, temperature, rng)
    Stationary(atoms)
    atoms.constraints += [FixCom()]  # ASE's way since 3.28 (Langevin's fixcm is deprecated)
    dyn = Langevin(
        atoms,
        timestep=timestep_fs * units.fs,
        temperature_K=temperature,
        friction=friction_per_fs / units.fs,
        fixcm=False,
        rng=rng,
    )
    if equilibration_ps is None:
        equilibration_ps = 0.2 * time_ps
    n_eq = int(round(equilibration_ps * 1000 / timestep_fs))
    n_prod = int(round(time_ps * 1000 / timestep_fs))
    frames: list[Structure] = []
    kinetic: list[float] = []
    try:
        dyn.run(n_eq)
        for _ in range(max(n_prod // sample_every, 2)):
            dyn.run(sample_every)
            reason = _unphysical(atoms.get_potential_energy(), atoms.get_forces(), atoms.positions)
            if reason:
                raise RuntimeError(reason)
            # not AseAtomsAdaptor.get_structure: it warns about the FixCom constraint each frame
            frames.append(
                Structure(cell.lattice, cell.species, atoms.get_positions(),
                          coords_are_cartesian=True)
            )  # fmt: skip
            # 3(N - 1) degrees of freedom: the Langevin run keeps the centre of mass fixed
            kinetic.append(2 * atoms.get_kinetic_energy() / (3 * (len(atoms) - 1) * units.kB))
    except Exception as exc:  # noqa: BLE001 - a crashed run is a failed record
        return MDRecord(
            status="failed", error=f"MD: {type(exc).__name__}: {exc}",
            wall_time_s=time.perf_counter() - t0, **base,
        )  # fmt: skip
    base["kinetic_temperature_K"] = float(np.mean(kinetic))
    return _analyse(frames, temperature, timestep_fs, sample_every, base, t0)


def _thermalize(atoms: Any, temperature: float, rng: np.random.Generator) -> None:
    """Maxwell-Boltzmann momenta at ``temperature`` (ASE >= 3.29 name, older fallback)."""
    try:
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:  # ASE < 3.29
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    else:
        thermalize_momenta(atoms, temperature, rng=rng)


def _unphysical(energy: float, forces: np.ndarray, positions: np.ndarray) -> str | None:
    """Why an MD state cannot be trusted (non-finite, exploding energy or forces), or None."""
    from matscreen.physics.relax import _sanity

    if not np.isfinite(positions).all():
        return "non-finite positions"
    return _sanity(energy / len(positions), forces)


def _analyse(
    frames: list[Structure],
    temperature: float,
    timestep_fs: float,
    sample_every: int,
    base: dict[str, Any],
    t0: float,
) -> MDRecord:
    """Li diffusivity and Nernst-Einstein conductivity of one trajectory's frames."""
    from pymatgen.analysis.diffusion.analyzer import DiffusionAnalyzer

    try:
        # "max" smoothing averages over time origins but needs > 1 ps of frames
        long_run = len(frames) * sample_every * timestep_fs >= 2000.0
        da = DiffusionAnalyzer.from_structures(
            frames, "Li", temperature, time_step=timestep_fs, step_skip=sample_every,
            smoothed="max" if long_run else False, min_obs=min(30, len(frames)),
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - a failed analysis is a failed record
        return MDRecord(
            status="failed", error=f"MD: {type(exc).__name__}: {exc}",
            wall_time_s=time.perf_counter() - t0, **base,
        )  # fmt: skip
    if not np.isfinite(da.diffusivity):
        return MDRecord(
            status="failed", error="MD: non-finite Li diffusivity",
            wall_time_s=time.perf_counter() - t0, **base,
        )  # fmt: skip
    return MDRecord(
        status="ok",
        time_ps=len(frames) * sample_every * timestep_fs / 1000,
        diffusivity_cm2_s=float(da.diffusivity),
        diffusivity_std_cm2_s=float(da.diffusivity_std_dev),
        conductivity_mS_cm=float(da.conductivity),
        wall_time_s=time.perf_counter() - t0,
        **base,
    )


def md_diffusivities_batched(
    structure: Structure,
    temperatures: Sequence[float],
    calculator: Any = "chgnet",
    *,
    time_ps: float = 5.0,
    equilibration_ps: float | None = None,
    timestep_fs: float = 2.0,
    sample_every: int = 5,
    min_atoms: int = 40,
    friction_per_fs: float = 0.02,
    seed: int = 0,
    device: str = "cpu",
) -> list[MDRecord]:
    """One NVT Langevin run per temperature, all advanced together by batched CHGNet passes.

    Each temperature is a replica of the same supercell; every MD step evaluates
    all replicas in one vectorised CHGNet pass
    (:func:`~matscreen.physics.chgnet_batch.ase_results`), so on a GPU the
    temperatures of an Arrhenius fit cost about as much as one.
    The integrator is BAOAB Langevin (Leimkuhler and Matthews, 2013) with the
    centre-of-mass velocity removed after each thermostat step; parameters and
    records as in :func:`md_diffusivity`. A replica whose state turns non-finite
    or explodes is dropped from the batch with a failed record; the others go on.

    Parameters
    ----------
    structure, time_ps, equilibration_ps, timestep_fs, sample_every, min_atoms
        As in :func:`md_diffusivity`.
    friction_per_fs, seed, device
        As in :func:`md_diffusivity` (each replica gets its own streams, spawned
        from ``seed``, for its initial velocities and its thermostat noise).
    temperatures
        Thermostat temperatures, K.
    calculator
        A registry CHGNet: its name (placed on ``device``) or calculator.

    Returns
    -------
    list[MDRecord]
        One per temperature, in order.
    """
    from ase import units
    from ase.md.velocitydistribution import Stationary
    from pymatgen.io.ase import AseAtomsAdaptor

    from matscreen.physics.calculators import calculator_info, resolve_calculator
    from matscreen.physics.chgnet_batch import ase_results

    calc = resolve_calculator(calculator, device=device)
    info = calculator_info(calc)
    if info.name != "chgnet" or not hasattr(calc, "model"):
        raise ValueError(f"batched MD runs a registry CHGNet, not {info.name}")
    model = calc.model
    if len(temperatures) == 0:
        return []
    cell = _supercell(structure, min_atoms)
    t0 = time.perf_counter()
    bases, reason = _md_setup(structure, cell, calc, temperatures)
    if reason:
        return [MDRecord(status="failed", error=reason, **b) for b in bases]
    replicas = []
    # independent streams per replica: initial velocities and thermostat noise
    streams = np.random.SeedSequence(seed).spawn(2 * len(temperatures))
    for k, t in enumerate(temperatures):
        atoms = AseAtomsAdaptor.get_atoms(cell)
        _thermalize(atoms, t, np.random.default_rng(streams[2 * k]))
        Stationary(atoms)
        replicas.append(atoms)
    rngs = [np.random.default_rng(streams[2 * k + 1]) for k in range(len(replicas))]
    mass = replicas[0].get_masses()[:, None]
    dt = timestep_fs * units.fs
    c1 = np.exp(-friction_per_fs / units.fs * dt)
    kts = [units.kB * t for t in temperatures]
    vel = [a.get_velocities() for a in replicas]
    active = list(range(len(replicas)))
    records: dict[int, MDRecord] = {}
    frames: dict[int, list[Structure]] = {k: [] for k in active}
    kinetic: dict[int, list[float]] = {k: [] for k in active}
    kb_n = units.kB * (len(cell) - 1)  # 3(N - 1) degrees of freedom: no centre-of-mass motion
    if equilibration_ps is None:
        equilibration_ps = 0.2 * time_ps
    n_eq = int(round(equilibration_ps * 1000 / timestep_fs))
    n_samples = max(int(round(time_ps * 1000 / timestep_fs)) // sample_every, 2)

    def fail(k: int, reason: str) -> None:
        """Record replica ``k`` as failed (a first reason is kept)."""
        records.setdefault(
            k,
            MDRecord(
                status="failed", error=f"MD: {reason}",
                wall_time_s=time.perf_counter() - t0, **bases[k],
            ),
        )  # fmt: skip

    def forces(ids: list[int]) -> dict[int, np.ndarray]:
        out = {}
        for k in ids:
            if not np.isfinite(replicas[k].positions).all():
                fail(k, "non-finite positions")
        ids = [k for k in ids if k not in records]
        for k, res in zip(ids, ase_results(model, [replicas[i] for i in ids]), strict=True):
            reason = _unphysical(res["energy"], res["forces"], replicas[k].positions)
            if reason:
                fail(k, reason)
                continue
            out[k] = res["forces"]
        return out

    try:
        f = forces(active)
        for step in range(1, n_eq + n_samples * sample_every + 1):
            active = [k for k in active if k in f]
            if not active:
                break
            for k in active:  # B A O A: half kick, half drift, thermostat, half drift
                atoms, v = replicas[k], vel[k]
                v += 0.5 * dt * f[k] / mass
                atoms.positions += 0.5 * dt * v
                noise = rngs[k].standard_normal(v.shape)
                v[:] = c1 * v + np.sqrt((1 - c1**2) * kts[k] / mass) * noise
                v -= (mass * v).sum(axis=0) / mass.sum()  # no centre-of-mass drift
                atoms.positions += 0.5 * dt * v
            f = forces(active)
            for k in active:
                if k in f:  # the closing half kick (B)
                    vel[k] += 0.5 * dt * f[k] / mass
                    if step > n_eq and (step - n_eq) % sample_every == 0:
                        frames[k].append(AseAtomsAdaptor.get_structure(replicas[k]))
                        kinetic[k].append(float((mass * vel[k] ** 2).sum()) / (3 * kb_n))
    except Exception as exc:  # noqa: BLE001 - a crashed batch fails its unfinished replicas
        for k in active:
            fail(k, f"{type(exc).__name__}: {exc}")
    for k in range(len(replicas)):
        if k not in records:
            bases[k]["kinetic_temperature_K"] = float(np.mean(kinetic[k])) if kinetic[k] else None
            records[k] = _analyse(
                frames[k], temperatures[k], timestep_fs, sample_every, bases[k], t0
            )
    return [records[k] for k in range(len(replicas))]


def arrhenius_estimate(
    structure: Structure,
    runs: Sequence[MDRecord],
    *,
    room_temperature: float = 300.0,
    min_diffusivity: float = MIN_DIFFUSIVITY,
    min_hops: float = MIN_HOPS,
) -> TransportRecord:
    """Activation energy and room-temperature D and sigma from MD runs at several temperatures.

    Parameters
    ----------
    structure
        The structure simulated (its Li density sets the Nernst-Einstein sigma).
    runs
        :class:`MDRecord` at two or more temperatures.
    room_temperature
        Temperature of the extrapolation, K.
    min_diffusivity
        Runs below this diffusivity (cm^2/s) saw no hops to fit.
    min_hops
        Runs whose diffusivity means fewer Li hops than this over the run
        (:func:`_hop_floor`) are vibration, not diffusion, and are left out too.

    A run that failed, or an ok run without a finite diffusivity, fails the
    estimate; runs without enough hops are left out of the fit and named in
    ``note``; fewer than two fitted temperatures, or an activation energy that is
    not positive, fail it.
    """
    from pymatgen.analysis.diffusion.analyzer import (
        fit_arrhenius,
        get_extrapolated_conductivity,
        get_extrapolated_diffusivity,
    )

    formula = structure.composition.reduced_formula
    runs = list(runs)
    bad = [
        r
        for r in runs
        if r.status != "ok" or r.diffusivity_cm2_s is None or not np.isfinite(r.diffusivity_cm2_s)
    ]
    if bad:
        err = "; ".join(f"{r.temperature_K:.0f} K: {r.error or 'no diffusivity'}" for r in bad)
        return TransportRecord(formula=formula, status="failed", error=err, runs=runs)
    floors = [max(min_diffusivity, _hop_floor(r, min_hops)) for r in runs]
    slow = [(r, f) for r, f in zip(runs, floors, strict=True) if r.diffusivity_cm2_s < f]
    runs_fit = [r for r, f in zip(runs, floors, strict=True) if r.diffusivity_cm2_s >= f]
    temps = [r.temperature_K for r in runs_fit]
    note = (
        "left out of the fit (fewer hops than needed): "
        + ", ".join(
            f"{r.temperature_K:.0f} K (D = {r.diffusivity_cm2_s:.2g} < {f:.2g} cm2/s)"
            for r, f in slow
        )
        if slow
        else None
    )
    if len(set(temps)) < 2:
        err = (
            f"no Li diffusion to fit: {note}; the Arrhenius fit needs two or more temperatures"
            " with hops"
            if slow
            else "needs two or more temperatures"
        )
        return TransportRecord(formula=formula, status="failed", error=err, runs=runs)
    if note:
        logger.info("%s: %s", formula, note)
    ds = [float(r.diffusivity_cm2_s) for r in runs_fit]  # type: ignore[arg-type]
    ea, _, ea_std = fit_arrhenius(temps, ds)
    if not ea > 0:
        return TransportRecord(
            formula=formula, status="failed", runs=runs, temperatures_fitted_K=temps, note=note,
            error=f"D does not rise with temperature over {temps} K (Ea = {ea:.3g} eV): runs"
            " too short to resolve it",
        )  # fmt: skip
    if ea_std is not None and ea_std > 0.5 * ea:
        uncertain = f"Ea uncertain: {ea:.2f} +- {ea_std:.2f} eV (runs too short or too few)"
        note = f"{note}; {uncertain}" if note else uncertain
    d_rt = get_extrapolated_diffusivity(temps, ds, room_temperature)
    sigma_mS = get_extrapolated_conductivity(temps, ds, room_temperature, structure, "Li")
    sigma = float(sigma_mS) / 1000.0
    return TransportRecord(
        formula=formula,
        status="ok",
        activation_energy_eV=float(ea),
        activation_energy_std_eV=None if ea_std is None else float(ea_std),
        diffusivity_300K_cm2_s=float(d_rt),
        conductivity_300K_S_cm=sigma,
        log10_sigma_300K=float(np.log10(sigma)) if sigma > 0 else None,
        runs=runs,
        temperatures_fitted_K=temps,
        note=note,
    )


def li_transport(
    structure: Structure,
    temperatures: Sequence[float] = (700.0, 900.0, 1100.0),
    calculator: Any = "chgnet",
    **md_kwargs: Any,
) -> TransportRecord:
    """MD at each temperature and the Arrhenius estimate.

    With CHGNet (the registry's, by name or calculator) the temperatures run
    together (:func:`md_diffusivities_batched`); any other calculator runs them
    one after another (:func:`md_diffusivity`).

    Parameters
    ----------
    structure
        Ordered candidate structure.
    temperatures
        MD temperatures, K (high enough that Li hops within a few ps).
    calculator
        Registry name or ASE calculator.
    **md_kwargs
        Passed to the MD function (``time_ps``, ``device``, ``seed``, ...).
    """
    from matscreen.physics.calculators import calculator_info, resolve_calculator

    calc = resolve_calculator(calculator, device=md_kwargs.get("device", "cpu"))
    if calculator_info(calc).name == "chgnet" and hasattr(calc, "model"):
        runs = md_diffusivities_batched(structure, temperatures, calc, **md_kwargs)
    else:
        runs = [md_diffusivity(structure, t, calc, **md_kwargs) for t in temperatures]
    for r in runs:
        logger.info(
            "%s MD %.0f K: %s D=%s (%.0f s)", r.formula, r.temperature_K, r.status,
            r.diffusivity_cm2_s, r.wall_time_s,
        )  # fmt: skip
    return arrhenius_estimate(structure, runs)
