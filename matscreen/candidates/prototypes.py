"""Access to the prototype structures shipped in ``seeds/prototypes/``.

The index ``seeds/prototypes.yaml`` (written by ``seeds/build_prototypes.py``)
lists each prototype with its space group, family, literature reference and
notes; the structures are CIF files beside it.

Examples
--------
>>> "LiMn2O4_Fd-3m" in list_prototypes("mn_cathode")
True
>>> load_prototype("Li3OCl_Pm-3m").composition.reduced_formula
'Li3ClO'
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from matscreen.core.paths import seeds_dir

if TYPE_CHECKING:
    from pymatgen.core import Structure

LOG = logging.getLogger(__name__)

__all__ = [
    "FAMILIES",
    "PrototypeInfo",
    "Reference",
    "list_prototypes",
    "load_prototype",
    "prototype_info",
    "prototype_interstitials",
]

FAMILIES = ("halide_electrolyte", "oxide_electrolyte", "mn_cathode")


class Reference(BaseModel):
    """Literature reference of a prototype."""

    authors: str = Field(description="Author list.")
    title: str = Field(description="Article title.")
    journal: str = Field(description="Journal, volume and first page.")
    year: int = Field(description="Publication year.")
    doi: str = Field(description="DOI (without the https://doi.org/ prefix).")


class PrototypeInfo(BaseModel):
    """Metadata of one prototype (one entry of ``seeds/prototypes.yaml``)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="Unique prototype name, formula plus space group.")
    formula: str = Field(description="Formula as usually written in the literature.")
    spacegroup: str = Field(description="Space-group symbol used to build the structure.")
    spacegroup_number: int = Field(description="International space-group number.")
    family: str = Field(description="halide_electrolyte, oxide_electrolyte or mn_cathode.")
    cif: str = Field(description="CIF path relative to the seeds folder.")
    n_atoms: int = Field(description="Atoms in the CIF (conventional) cell.")
    reference: Reference = Field(description="Where the structure comes from.")
    notes: str = Field(description="Ordering choices, idealised coordinates, caveats.")
    li_interstitials: list[list[float]] = Field(
        default_factory=list,
        description="Fractional coordinates (CIF cell) of empty sites where excess Li can go.",
    )
    sites: list[dict[str, Any]] = Field(
        default_factory=list, description="Published Wyckoff sites (species, wyckoff, coords)."
    )
    lattice: dict[str, float] = Field(
        default_factory=dict, description="Cell constants (angstrom, degrees)."
    )


@functools.lru_cache(maxsize=4)
def _index(folder: str) -> dict[str, PrototypeInfo]:
    from pathlib import Path

    import yaml

    path = Path(folder) / "prototypes.yaml"
    data = yaml.safe_load(path.read_text())
    return {entry["name"]: PrototypeInfo.model_validate(entry) for entry in data["prototypes"]}


def _all() -> dict[str, PrototypeInfo]:
    return _index(str(seeds_dir()))


def list_prototypes(family: str | None = None) -> list[str]:
    """Return the names of the shipped prototypes.

    Parameters
    ----------
    family
        Keep only this family (``halide_electrolyte``, ``oxide_electrolyte``,
        ``mn_cathode``); None for all.
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    return [name for name, info in _all().items() if family is None or info.family == family]


def prototype_info(name: str) -> PrototypeInfo:
    """Return the metadata of a prototype.

    Raises
    ------
    KeyError
        If ``name`` is not a shipped prototype (the message lists the known names).
    """
    index = _all()
    if name not in index:
        raise KeyError(f"unknown prototype {name!r}; known prototypes: {', '.join(index)}")
    return index[name]


def load_prototype(name: str) -> Structure:
    """Load the ordered structure of a prototype (conventional cell, from its CIF).

    Raises
    ------
    KeyError
        If ``name`` is not a shipped prototype.
    """
    return _load_cached(name).copy()


@functools.lru_cache(maxsize=64)
def _load_cached(name: str) -> Structure:
    from pymatgen.core import Structure

    info = prototype_info(name)
    with warnings.catch_warnings():  # "coordinates rounded to ideal values" is expected
        warnings.simplefilter("ignore", UserWarning)
        structure = Structure.from_file(seeds_dir() / info.cif)
    for i, site in enumerate(structure):  # unique labels (CIF site labels repeat per orbit)
        site.label = f"{site.specie.symbol}{i}"
    return structure


def prototype_interstitials(name: str) -> list[list[float]]:
    """Return fractional coordinates (CIF cell) of the Li interstitial sites of a prototype."""
    return [list(c) for c in prototype_info(name).li_interstitials]
