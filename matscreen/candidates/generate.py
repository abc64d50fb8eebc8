"""Enumerate substitutions on prototypes into ordered, charge-balanced candidates.

For every entry of a :class:`~matscreen.candidates.space.CandidateSpace`:

1. take the product of the full-site choices (``sites``), and combine each with
   none or up to ``max_partial`` partial substitutions (``partial``);
2. restore neutrality with Li vacancies / Li interstitials (``compensation: li``)
   and keep only compositions that are charge balanced with common oxidation
   states (:func:`~matscreen.candidates.oxidation.is_charge_balanced`);
3. order the partial occupancies in the smallest supercell of the primitive
   prototype cell that makes them integral (capped by ``max_atoms``), keeping
   the lowest-Ewald-energy of ``n_orderings`` seeded random orderings;
4. scale the cell volume by the ratio of summed cubed ionic radii (a starting
   guess only: the MLIP relaxation later in the pipeline sets the real volume);
5. remove duplicates (same substitution; then ``StructureMatcher`` within each
   reduced formula).

Candidates that cannot be built come out as ``status="failed"`` records with
the reason in ``error``. The output is deterministic for a given ``seed``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import time
import warnings
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.candidates.ordering import INTERSTITIAL, OrderingError, host_cell, order_occupancy
from matscreen.candidates.oxidation import (
    VACANCY,
    average_oxidation_states,
    is_charge_balanced,
    nominal_oxidation_state,
)
from matscreen.candidates.records import CandidateRecord

if TYPE_CHECKING:
    from matscreen.candidates.space import CandidateSpace, PrototypeSpace

LOG = logging.getLogger(__name__)

__all__ = ["enumerate_occupancies", "generate_candidates", "generate_one"]

Occupancy = dict[str, dict[str, Fraction]]
_MAX_DENOMINATOR = 1000


def _frac(value: float) -> Fraction:
    return Fraction(value).limit_denominator(_MAX_DENOMINATOR)


def _option_to_mix(option: str | dict[str, float]) -> dict[str, Fraction]:
    if isinstance(option, str):
        return {option: Fraction(1)}
    return {sp: _frac(f) for sp, f in option.items() if f > 0}


def enumerate_occupancies(entry: PrototypeSpace) -> Iterator[Occupancy]:
    """Yield the site occupancies of one space entry, before charge compensation.

    The order is deterministic: full-site choices in YAML order, each followed
    by its partial substitutions in YAML order.
    """
    _prim, labels = host_cell(entry.prototype)
    hosts = [label for label in dict.fromkeys(labels)]
    site_names = list(entry.sites)
    choices = [entry.sites[name] for name in site_names]
    singles = [
        (rule.site, species, _frac(x))
        for rule in entry.partial
        for species in rule.species
        for x in rule.fractions
    ]
    for combo in itertools.product(*choices):
        base: Occupancy = {
            h: ({h: Fraction(1)} if h != INTERSTITIAL else {VACANCY: Fraction(1)}) for h in hosts
        }
        for name, option in zip(site_names, combo, strict=True):
            base[name] = _option_to_mix(option)
        yield base
        for n in range(1, entry.max_partial + 1):
            for group in itertools.combinations(singles, n):
                sites_used = [g[0] for g in group]
                if len({(g[0], g[1]) for g in group}) < n:  # same species twice on a site
                    continue
                if not entry.allow_same_site and len(set(sites_used)) < n:
                    continue
                occ = {k: dict(v) for k, v in base.items()}
                skip = False
                for site, species, x in group:
                    mix = occ[site]
                    if mix.get(species, 0) == 1:
                        skip = True  # dopant equals the full occupant
                        break
                    host = max(mix, key=lambda sp: (mix[sp], sp))  # dope the main occupant
                    if mix[host] <= x:
                        skip = True
                        break
                    new = dict(mix)
                    new[host] = mix[host] - x
                    new[species] = new.get(species, Fraction(0)) + x
                    occ[site] = new
                if not skip:
                    yield occ


def _compensate(
    occ: Occupancy, counts: dict[str, int], mode: str
) -> tuple[Occupancy | None, str | None]:
    """Apply Li compensation; return (occupancy, None) or (None, reason)."""
    if mode == "none":
        return occ, None
    charge = Fraction(0)
    for label, mix in occ.items():
        for sp, f in mix.items():
            if sp != VACANCY:
                charge += Fraction(nominal_oxidation_state(sp)) * f * counts[label]
    if charge == 0:
        return occ, None
    occ = {k: dict(v) for k, v in occ.items()}
    if charge > 0:  # remove Li: vacancies on the Li sublattice
        if "Li" not in occ:
            return None, "positive charge and no Li sites to remove"
        v = charge / counts["Li"]
        if occ["Li"].get("Li", 0) < v:
            return None, "not enough Li to compensate"
        occ["Li"]["Li"] -= v
        occ["Li"][VACANCY] = occ["Li"].get(VACANCY, Fraction(0)) + v
        occ["Li"] = {sp: f for sp, f in occ["Li"].items() if f > 0}
        return occ, None
    if INTERSTITIAL not in occ:
        return None, "negative charge and the prototype has no Li interstitial sites"
    fill = -charge / counts[INTERSTITIAL]
    if fill > 1:
        return None, "more excess Li than interstitial sites"
    occ[INTERSTITIAL] = {"Li": fill, VACANCY: 1 - fill} if fill < 1 else {"Li": Fraction(1)}
    return occ, None


def _amounts(occ: Occupancy, counts: dict[str, int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, mix in occ.items():
        for sp, f in mix.items():
            if sp != VACANCY:
                out[sp] = out.get(sp, 0.0) + float(f) * counts[label]
    return out


def _substitution(occ: Occupancy) -> dict[str, dict[str, float]]:
    """Return the part of the occupancy that differs from the host (canonical, JSON-friendly)."""
    out: dict[str, dict[str, float]] = {}
    for label, mix in sorted(occ.items()):
        host = {VACANCY: Fraction(1)} if label == INTERSTITIAL else {label: Fraction(1)}
        if mix != host:
            out[label] = {sp: round(float(f), 6) for sp, f in sorted(mix.items())}
    return out


@functools.lru_cache(maxsize=512)
def _radius(symbol: str) -> float:
    from pymatgen.core import Element, Species

    try:
        with warnings.catch_warnings():  # "no default ionic radius ... using ls data"
            warnings.simplefilter("ignore", UserWarning)
            r = Species(symbol, nominal_oxidation_state(symbol)).ionic_radius
    except (ValueError, KeyError):
        r = None
    if r is None:
        r = Element(symbol).average_ionic_radius or Element(symbol).atomic_radius or 1.0
    return float(r)


def _volume_scale(occ: Occupancy, counts: dict[str, int]) -> float:
    host = new = 0.0
    for label, mix in occ.items():
        if label == INTERSTITIAL:
            continue
        r_host = _radius(label) ** 3 * counts[label]
        host += r_host
        for sp, f in mix.items():
            r = _radius(label) if sp == VACANCY else _radius(sp)
            new += float(f) * counts[label] * r**3
    return float(np.clip(new / host, 0.6, 1.6))


def _record_id(prototype: str, substitution: dict[str, Any]) -> str:
    key = json.dumps({"p": prototype, "s": substitution}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return f"{prototype}-{digest}"


def _formula(amounts: dict[str, float]) -> str:
    """Reduced formula as people write it (``Li2.5Ca0.25Br0.5Cl0.5O``, no ``O1``)."""
    from pymatgen.core import Composition

    from matscreen.core.formula import display_formula

    return display_formula(Composition(amounts))


def generate_one(
    prototype: str,
    occupancy: Occupancy,
    *,
    family: str,
    max_atoms: int = 120,
    n_orderings: int = 40,
    volume_scaling: str = "ionic_radii",
    seed: int = 0,
) -> CandidateRecord:
    """Order one (already compensated) occupancy on a prototype into a record.

    Never raises for a candidate that cannot be built: returns a record with
    ``status="failed"`` and the reason in ``error``.
    """
    _prim, labels = host_cell(prototype)
    counts = {label: labels.count(label) for label in dict.fromkeys(labels)}
    occ = {label: occupancy.get(label, {label: Fraction(1)}) for label in counts}
    if INTERSTITIAL in counts and INTERSTITIAL not in occupancy:
        occ[INTERSTITIAL] = {VACANCY: Fraction(1)}
    substitution = _substitution(occ)
    rid = _record_id(prototype, substitution)
    amounts = _amounts(occ, counts)
    common = {
        "id": rid,
        "formula": _formula(amounts),
        "family": family,
        "prototype": prototype,
        "substitution": substitution,
        "seed": seed,
    }
    try:
        charges = average_oxidation_states(amounts)
        rng = np.random.default_rng([seed, int(rid.rsplit("-", 1)[1], 16)])
        structure, scaling, energy = order_occupancy(
            prototype, occ, charges, max_atoms=max_atoms, n_orderings=n_orderings, rng=rng
        )
    except (OrderingError, ValueError) as exc:
        return CandidateRecord(**common, status="failed", error=str(exc))
    scale = _volume_scale(occ, counts) if volume_scaling == "ionic_radii" else 1.0
    if scale != 1.0:
        structure.scale_lattice(structure.volume * scale)
    return CandidateRecord(
        **common,
        structure=structure,
        n_atoms=len(structure),
        supercell=list(scaling),
        ewald_energy_eV=None if energy is None else round(energy, 6),
        volume_scale=round(scale, 6),
        status="ok",
    )


def _deduplicate(records: list[CandidateRecord]) -> list[CandidateRecord]:
    """Drop repeated ids, then structural duplicates within each reduced formula."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    seen: set[str] = set()
    unique: list[CandidateRecord] = []
    for rec in records:
        if rec.id not in seen:
            seen.add(rec.id)
            unique.append(rec)
    groups: dict[str, list[int]] = {}
    for i, rec in enumerate(unique):
        if rec.status == "ok":
            groups.setdefault(rec.formula, []).append(i)
    matcher = StructureMatcher(attempt_supercell=False)
    drop: set[int] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        for a, b in itertools.combinations(members, 2):
            if a in drop or b in drop:
                continue
            if matcher.fit(unique[a].structure, unique[b].structure):
                LOG.debug("duplicate: %s matches %s", unique[b].id, unique[a].id)
                drop.add(b)
    return [rec for i, rec in enumerate(unique) if i not in drop]


def generate_candidates(
    space: CandidateSpace, *, seed: int = 0, family: str | None = None
) -> list[CandidateRecord]:
    """Enumerate a candidate space into ordered candidate records.

    Parameters
    ----------
    space
        The validated candidate space.
    seed
        Seed for the random orderings; the same seed gives the same records,
        ids and order.
    family
        Keep only prototypes of this family (None: all).

    Returns
    -------
    list of CandidateRecord
        Charge-balanced, unique candidates (``status="ok"``) and the ones that
        could not be built (``status="failed"``, with ``error``), in
        enumeration order.
    """
    from matscreen.candidates.prototypes import prototype_info

    t0 = time.perf_counter()
    records: list[CandidateRecord] = []
    n_unbalanced = 0
    seen: set[str] = set()
    for entry in space.prototypes:
        info = prototype_info(entry.prototype)
        fam = space.family or info.family
        if family is not None and info.family != family:
            continue
        _prim, labels = host_cell(entry.prototype)
        counts = {label: labels.count(label) for label in dict.fromkeys(labels)}
        for occ in enumerate_occupancies(entry):
            occ2, reason = _compensate(occ, counts, entry.compensation)
            if occ2 is None or not is_charge_balanced(_amounts(occ2, counts)):
                n_unbalanced += 1
                LOG.debug("dropped %s: %s", occ, reason or "not charge balanced")
                continue
            key = _record_id(entry.prototype, _substitution(occ2))
            if key in seen:
                continue
            seen.add(key)
            records.append(
                generate_one(
                    entry.prototype,
                    occ2,
                    family=fam,
                    max_atoms=space.max_atoms,
                    n_orderings=space.n_orderings,
                    volume_scaling=space.volume_scaling,
                    seed=seed,
                )
            )
    n_built = len(records)
    if space.deduplicate:
        records = _deduplicate(records)
    n_ok = sum(r.status == "ok" for r in records)
    LOG.info(
        "%s: %d candidates (%d ok, %d failed), %d not charge balanced, %d duplicates, %.1f s",
        space.name,
        len(records),
        n_ok,
        len(records) - n_ok,
        n_unbalanced,
        n_built - len(records),
        time.perf_counter() - t0,
    )
    return records
