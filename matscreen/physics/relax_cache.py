"""Relaxations kept on disk, so the same structure is not relaxed twice.

A formula given without a structure is placed on the hull through trial
cells of its stoichiometry (:mod:`matscreen.physics.templates`), each
relaxed with the MLIP: minutes per trial on a CPU for the larger ordered
cells, every time the formula is asked for again. A CIF named by several
rows of a table is ordered to the same cell and relaxed once per row.

:func:`cached_relax` keys each relaxation by the input cell (its
:func:`~matscreen.core.hashing.structure_hash`, site order ignored), the
registry MLIP's name and version and the relaxation settings, and keeps the
:class:`~matscreen.physics.relax.RelaxRecord` as one JSON file per key under
``<cache>/physics/relaxed/<calculator>/``. Only registry calculators
(:func:`~matscreen.physics.calculators.get_calculator`, which carry their
model version) are cached: any other ASE calculator may hold parameters a
key cannot see. Records without an energy (a calculator error, a structure
refused before running) are not kept, so a transient failure is retried.
The ``RELAX_CACHE`` setting (``MATSCREEN_RELAX_CACHE=false``) turns it off;
``RELAX_CACHE_MAX_MB`` caps its size (:func:`prune_relax_cache`: the files used
longest ago go first, a read counting as a use).

:func:`cached_relax_together` does the same for many cells at once (the
screen's physics stage, ``predict stability`` over a table of structures):
those not on disk are relaxed batched (CHGNet) and kept under the same keys,
the batched FIRE being the same per cell as the one-by-one relaxation. A cell
given twice is relaxed once, with the cache off too.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matscreen.core.io import to_structure
from matscreen.physics.relax import RelaxRecord, relax_structure

logger = logging.getLogger(__name__)

CACHE_SCHEMA = 1  # bump when RelaxRecord's meaning changes: old files are then ignored
_SIGNATURE = inspect.signature(relax_structure)  # the settings a key holds, defaults included


def relax_cache_enabled() -> bool:
    """Return the ``RELAX_CACHE`` setting (True unless turned off)."""
    from matscreen.core.settings import get_settings

    return bool(get_settings().RELAX_CACHE)


def relax_key(structure: Any, calculator: Any, **settings: Any) -> str | None:
    """Return the cache key of one relaxation, or None when it cannot be cached.

    Parameters
    ----------
    structure
        The input cell (pymatgen ``Structure``, ASE ``Atoms`` or a dict).
    calculator
        A resolved ASE calculator; only registry calculators have a key.
    **settings
        The keyword arguments given to
        :func:`~matscreen.physics.relax.relax_structure` (fmax, steps, ...).

    Returns
    -------
    str or None
        ``<calculator>/<hash>``; None for a calculator outside the registry
        or a structure that cannot be read.
    """
    from matscreen.core.hashing import config_hash, structure_hash
    from matscreen.physics.calculators import CalculatorInfo

    info = getattr(calculator, "matscreen_info", None)
    if not isinstance(info, CalculatorInfo):
        return None
    try:
        struct = to_structure(structure)
        cell = structure_hash(struct, decimals=5)
        # every setting, defaults included: a changed default is another relaxation
        bound = _SIGNATURE.bind(struct, calculator, **settings)
    except Exception:  # noqa: BLE001 - relax_structure reports a bad input itself
        return None
    bound.apply_defaults()
    used = {k: v for k, v in bound.arguments.items() if k not in ("structure", "calculator")}
    fixed = struct.site_properties.get("selective_dynamics")  # ASE turns it into FixAtoms
    payload = {
        "schema": CACHE_SCHEMA,
        "calculator": info.name,
        "version": info.version,
        "packages": _package_versions(info.name),  # registry names are the package names
        "cell": cell,
        "fixed": None if fixed is None else sorted(map(str, fixed)),
        "settings": used,
    }
    return f"{info.name}/{config_hash(payload)}"


def _package_versions(package: str) -> dict[str, str]:
    """Versions of the code a relaxation ran: the calculator's package, ASE, matscreen."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (package, "ase", "matscreen"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def _path(key: str) -> Path:
    from matscreen.physics.references import cache_dir

    return cache_dir() / "relaxed" / f"{key}.json"


def _read(key: str) -> RelaxRecord | None:
    """Read the record kept under ``key``; None when there is none or it cannot be read."""
    path = _path(key)
    try:
        record = RelaxRecord.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file is relaxed again
        logger.warning("relaxation cache file %s unreadable (%s); relaxing again", path, exc)
        return None
    logger.info("%s (%d atoms): relaxation reused from %s", record.formula, record.n_atoms, path)
    with contextlib.suppress(OSError):  # a use: the size cap deletes the least recently used
        path.touch()
    return record


def _keep(key: str | None, record: RelaxRecord) -> None:
    """Store a record that has an energy under ``key`` (None: not cacheable)."""
    from matscreen.core.io import atomic_write_text

    if key is None or record.energy_per_atom is None:
        return
    path = _path(key)
    try:
        atomic_write_text(path, record.model_dump_json())
    except OSError as exc:
        logger.warning("cannot write the relaxation cache file %s (%s)", path, exc)
        return
    global _WRITES
    _WRITES += 1
    if _WRITES % PRUNE_EVERY == 1:  # the first write of a process, then every PRUNE_EVERY-th
        prune_relax_cache()


#: Writes between two size checks of the cache in one process (the first write checks too).
PRUNE_EVERY = 100
_WRITES = 0


def prune_relax_cache(max_mb: float | None = None) -> int:
    """Delete the relaxation files used longest ago while the cache is over its cap.

    Parameters
    ----------
    max_mb
        The cap in MB (None: the ``RELAX_CACHE_MAX_MB`` setting). Past it,
        files are deleted oldest modification time first (a read touches its
        file) until the cache is at 90 % of the cap.

    Returns
    -------
    int
        Number of files deleted. Several processes may prune at once: a file
        another one deleted first is skipped.
    """
    from matscreen.core.settings import get_settings
    from matscreen.physics.references import cache_dir

    cap = (get_settings().RELAX_CACHE_MAX_MB if max_mb is None else max_mb) * 1e6
    files = []
    for path in (cache_dir() / "relaxed").glob("*/*.json"):
        with contextlib.suppress(OSError):
            st = path.stat()
            files.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in files)
    if total <= cap:
        return 0
    deleted = 0
    for _, size, path in sorted(files):
        if total <= 0.9 * cap:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            deleted += 1
        total -= size
    logger.info(
        "relaxation cache over %.0f MB: %d file(s) used longest ago deleted", cap / 1e6, deleted
    )
    return deleted


def cached_relax(structure: Any, calculator: Any = None, **settings: Any) -> RelaxRecord:
    """Relax a structure as :func:`~matscreen.physics.relax.relax_structure` does, once.

    Parameters
    ----------
    structure
        pymatgen ``Structure``, ASE ``Atoms`` or a Structure dict.
    calculator
        ASE calculator, registry name or None (the DEFAULT_CALCULATOR setting).
    **settings
        Passed to :func:`~matscreen.physics.relax.relax_structure` and part
        of the key (``fmax``, ``steps``, ``optimizer``, ...).

    Returns
    -------
    RelaxRecord
        The record of an earlier identical relaxation when one is on disk
        (its ``wall_time_s`` is that run's), else a new one, stored when it
        has an energy. A cache file that cannot be read or written only
        costs the relaxation (a warning is logged).
    """
    from matscreen.physics.calculators import resolve_calculator

    calc = resolve_calculator(calculator)
    key = relax_key(structure, calc, **settings) if relax_cache_enabled() else None
    record = _read(key) if key is not None else None
    if record is None:
        record = relax_structure(structure, calc, **settings)
        _keep(key, record)
    return record


#: Cells per batched relaxation (one CHGNet forward pass over all unconverged ones per step).
BATCH_CELLS = 32


def cached_relax_together(
    structures: Sequence[Any],
    calculator: Any = None,
    *,
    fmax: float = 0.05,
    steps: int = 300,
    device: str = "cpu",
) -> list[RelaxRecord]:
    """Relax many structures once each, batched where the MLIP allows it.

    The cells found on disk (:func:`cached_relax`'s keys) are read back; the
    others are relaxed together, :data:`BATCH_CELLS` at a time
    (:func:`~matscreen.physics.relax.relax_together`: batched CHGNet, the same
    FIRE per cell as :func:`~matscreen.physics.relax.relax_structure`, else one
    by one), and kept.

    Parameters
    ----------
    structures
        Structures (pymatgen, ASE or dicts).
    calculator
        ASE calculator, registry name or None (the DEFAULT_CALCULATOR setting).
    fmax, steps
        As in :func:`~matscreen.physics.relax.relax_structure`.
    device
        Torch device of a registry MLIP.

    Returns
    -------
    list[RelaxRecord]
        In input order; a structure that cannot be relaxed has a failed record.
    """
    from matscreen.physics.calculators import resolve_calculator
    from matscreen.physics.relax import relax_together

    calc = resolve_calculator(calculator, device=device)
    enabled = relax_cache_enabled()
    # keys also without the cache: the same cell twice (the same key) is relaxed once
    keys = [relax_key(s, calc, fmax=fmax, steps=steps) for s in structures]
    records: list[RelaxRecord | None] = [
        _read(k) if enabled and k is not None else None for k in keys
    ]
    first_of: dict[str, int] = {}
    todo, copies = [], []
    for i, record in enumerate(records):
        if record is not None:
            continue
        if keys[i] is not None and keys[i] in first_of:
            copies.append(i)
            continue
        todo.append(i)
        if keys[i] is not None:
            first_of[keys[i]] = i
    if todo:
        logger.info(
            "relaxing %d cell(s) together (%d read from the cache, %d repeated)",
            len(todo), len(structures) - len(todo) - len(copies), len(copies),
        )  # fmt: skip
    for start in range(0, len(todo), BATCH_CELLS):
        part = todo[start : start + BATCH_CELLS]
        fresh = relax_together(
            [structures[i] for i in part], calc, fmax=fmax, steps=steps, device=device
        )
        for i, record in zip(part, fresh, strict=True):
            records[i] = record
            if enabled:
                _keep(keys[i], record)
    for i in copies:
        records[i] = records[first_of[keys[i]]].model_copy(deep=True)
    return [r for r in records if r is not None]


__all__ = [
    "BATCH_CELLS",
    "CACHE_SCHEMA",
    "cached_relax",
    "cached_relax_together",
    "prune_relax_cache",
    "relax_cache_enabled",
    "relax_key",
]
