"""The candidate record: one generated (or failed) candidate structure.

A pydantic v2 model (no ``from __future__ import annotations``: pydantic needs
the runtime types). The structure is kept as a pymatgen ``Structure`` and
serialised through ``Structure.as_dict`` so that ``model_dump_json`` /
``model_validate_json`` round-trip, and :meth:`CandidateRecord.to_row` gives a
flat dict (structure as a JSON string) for Parquet tables.
"""

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator
from pymatgen.core import Structure

__all__ = ["CandidateRecord"]


class CandidateRecord(BaseModel):
    """One candidate from :func:`matscreen.candidates.generate_candidates`."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    id: str = Field(
        description="Stable identifier: prototype name plus a short hash of the substitution "
        "(same substitution and seed -> same id)."
    )
    formula: str = Field(
        description="Reduced formula of the candidate (pymatgen order; no amount of 1 written)."
    )
    family: str = Field(
        description="Materials family: halide_electrolyte, oxide_electrolyte or mn_cathode."
    )
    prototype: str = Field(description="Name of the parent prototype in seeds/prototypes.yaml.")
    substitution: dict[str, Any] = Field(
        description="What was put on each host site: {host element: {species: site fraction}}; "
        "'Vac' is a vacancy. Li compensation is under 'Li' (vacancies) and 'Li_interstitial' "
        "(fraction of the interstitial sites filled)."
    )
    structure: Structure | None = Field(
        default=None,
        description="Ordered pymatgen Structure (lengths in angstrom); None if failed.",
    )
    n_atoms: int = Field(
        default=0, description="Number of atoms in the ordered cell (0 if failed)."
    )
    supercell: list[int] | None = Field(
        default=None,
        description="Diagonal supercell multipliers applied to the primitive prototype cell.",
    )
    ewald_energy_eV: float | None = Field(
        default=None,
        description="Ewald energy (eV per cell, nominal charges) of the chosen ordering; lower is "
        "better among orderings of the same candidate, not comparable across candidates.",
    )
    volume_scale: float | None = Field(
        default=None,
        description="Volume ratio applied to the prototype cell (ionic-radius estimate).",
    )
    seed: int = Field(default=0, description="Random seed used for the ordering.")
    status: Literal["ok", "failed"] = Field(
        default="ok", description="'ok' if a structure was built, 'failed' otherwise."
    )
    error: str | None = Field(default=None, description="Why the candidate failed (None if ok).")

    @field_validator("structure", mode="before")
    @classmethod
    def _structure_from_dict(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value)
        if isinstance(value, dict):
            return Structure.from_dict(value)
        return value

    @field_serializer("structure")
    def _structure_to_dict(self, structure: Structure | None) -> dict[str, Any] | None:
        return None if structure is None else structure.as_dict()

    def to_row(self) -> dict[str, Any]:
        """Return a flat dict for a table row (structure and substitution as JSON strings)."""
        row = self.model_dump(mode="json")
        row["structure"] = None if self.structure is None else json.dumps(row["structure"])
        row["substitution"] = json.dumps(row["substitution"], sort_keys=True)
        row["supercell"] = None if self.supercell is None else json.dumps(self.supercell)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "CandidateRecord":
        """Rebuild a record from :meth:`to_row` output (e.g. a Parquet row)."""
        data = dict(row)
        for key in ("substitution", "supercell"):
            if isinstance(data.get(key), str):
                data[key] = json.loads(data[key])
        for key, value in list(data.items()):  # pandas gives NaN for missing values
            if isinstance(value, float) and value != value:
                data[key] = None
        return cls.model_validate(data)
