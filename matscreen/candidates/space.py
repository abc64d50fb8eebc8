"""The candidate space: which substitutions to enumerate on which prototypes.

A workflow YAML's ``candidates:`` section (or a file in ``seeds/spaces/``)
validates into :class:`CandidateSpace`. Unknown keys are rejected, so a
misspelled field fails with its name. Example::

    name: halide_electrolytes
    family: halide_electrolyte
    max_atoms: 120
    prototypes:
      - prototype: Li3YCl6_P-3m1
        sites:                      # full replacement of every host site
          Y: [Y, In, Sc, Er]        # M in Li3MCl6
          Cl: [Cl, Br, {Cl: 0.5, Br: 0.5}]
        partial:                    # aliovalent / isovalent partial substitution
          - site: Y
            species: [Zr, Hf]
            fractions: [1/3, 1/2]   # site fractions: Li3-xY1-xZrxCl6 with x = 1/3, 1/2
        compensation: li            # restore neutrality with Li vacancies / interstitials

Site keys are the element that occupies the site in the prototype. Fractions
are *site fractions* (of that host site), given as numbers or ``"1/8"`` strings.
"""

import itertools
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from matscreen.candidates.oxidation import common_oxidation_states
from matscreen.core.config import format_validation_error

__all__ = ["CandidateSpace", "PartialSubstitution", "PrototypeSpace", "load_space", "space_names"]


def _parse_fraction(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = Fraction(value.strip())
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"not a fraction: {value!r}") from exc
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"site fraction {value} is outside [0, 1]")
    return value


SiteFraction = Annotated[float, BeforeValidator(_parse_fraction)]


def _check_species(symbol: str) -> str:
    common_oxidation_states(symbol)  # raises a ValueError naming the element
    return symbol


def _check_option(option: str | dict[str, SiteFraction]) -> str | dict[str, float]:
    if isinstance(option, str):
        return _check_species(option)
    for symbol in option:
        _check_species(symbol)
    total = sum(option.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"site fractions of {option} sum to {total:.4f}, not 1")
    return dict(option)


class PartialSubstitution(BaseModel):
    """Put a fraction of a host site on another species (doping, mixed anions, vacancies)."""

    model_config = ConfigDict(extra="forbid")

    site: str = Field(description="Host site, named by the prototype element on it (e.g. 'Y').")
    species: list[str] = Field(
        description="Species to put on a fraction of the site (elements, or 'Vac' for a vacancy)."
    )
    fractions: list[SiteFraction] = Field(
        description="Site fractions to try, numbers or 'p/q' strings, e.g. [1/3, 0.5]."
    )

    @field_validator("species")
    @classmethod
    def _species_known(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("empty list: name at least one species (or leave the entry out)")
        return [_check_species(s) for s in value]

    @field_validator("fractions")
    @classmethod
    def _fractions_open(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("empty list: give at least one site fraction")
        for f in value:
            if not 0.0 < f < 1.0:
                raise ValueError(f"partial fraction {f} must be strictly between 0 and 1")
        return value


class PrototypeSpace(BaseModel):
    """Substitutions to enumerate on one prototype."""

    model_config = ConfigDict(extra="forbid")

    prototype: str = Field(description="Prototype name from seeds/prototypes.yaml.")
    sites: dict[str, list[str | dict[str, SiteFraction]]] = Field(
        default_factory=dict,
        description="Per host site (prototype element), the species that may fully occupy it: an "
        "element, or a mixture {element: site fraction}. Sites not listed keep the host element.",
    )
    partial: list[PartialSubstitution] = Field(
        default_factory=list,
        description="Partial substitutions; each candidate combines at most `max_partial` of them "
        "(on different sites), and the plain full-substitution choice is always included.",
    )
    max_partial: int = Field(
        default=1, ge=0, le=3, description="Most partial substitutions combined in one candidate."
    )
    allow_same_site: bool = Field(
        default=False,
        description="Allow two partial substitutions on the same host site (co-doping, e.g. Ni and "
        "Ti on the Mn site); by default combined partial substitutions are on different sites.",
    )
    compensation: Literal["li", "none"] = Field(
        default="li",
        description="'li': restore neutrality by removing Li (vacancies on Li sites) or adding Li "
        "(prototype interstitial sites), using nominal oxidation states; 'none': keep only "
        "compositions that are neutral as they are (mixed valence allowed, e.g. Mn3+/Mn4+).",
    )

    @field_validator("sites")
    @classmethod
    def _sites_valid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [site for site, options in value.items() if not options]
        if empty:  # it dropped the whole prototype without a word
            raise ValueError(
                f"site {empty[0]}: empty list: name at least one species (the host element "
                "itself to keep it), or leave the site out"
            )
        return {site: [_check_option(o) for o in options] for site, options in value.items()}

    @model_validator(mode="after")
    def _prototype_known(self) -> "PrototypeSpace":
        from matscreen.candidates.prototypes import load_prototype

        try:
            host = load_prototype(self.prototype)
        except KeyError as exc:
            raise ValueError(str(exc).strip("\"'")) from None
        elements = {el.symbol for el in host.composition}
        for site in list(self.sites) + [p.site for p in self.partial]:
            if site not in elements:
                raise ValueError(
                    f"site {site!r} is not an element of prototype {self.prototype} "
                    f"(its sites: {', '.join(sorted(elements))})"
                )
        return self

    def n_combinations(self) -> int:
        """Upper bound on the candidates this entry enumerates (before filtering)."""
        n_full = 1
        for options in self.sites.values():
            n_full *= len(options)
        singles = [len(p.species) * len(p.fractions) for p in self.partial]
        n_partial = 1
        for k in range(1, self.max_partial + 1):
            for combo in itertools.combinations(singles, k):
                prod = 1
                for c in combo:
                    prod *= c
                n_partial += prod
        return n_full * n_partial


class CandidateSpace(BaseModel):
    """A set of substitutions on prototypes, enumerated by ``generate_candidates``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="candidates", description="Name of the space (for logs and ids).")
    description: str = Field(default="", description="Free text for people reading the file.")
    family: Literal["halide_electrolyte", "oxide_electrolyte", "mn_cathode"] | None = Field(
        default=None, description="Family of the candidates; None takes each prototype's family."
    )
    prototypes: list[PrototypeSpace] = Field(
        min_length=1, description="One entry per prototype (a prototype may appear more than once)."
    )
    max_atoms: int = Field(
        default=120,
        ge=1,
        description="Largest ordered cell allowed (atoms); a bigger one gives a failed record.",
    )
    n_orderings: int = Field(
        default=40,
        ge=1,
        description="Random orderings tried per candidate; the lowest Ewald energy is kept.",
    )
    volume_scaling: Literal["ionic_radii", "none"] = Field(
        default="ionic_radii",
        description="'ionic_radii': scale the prototype volume by the ratio of summed cubed "
        "Shannon radii (a starting guess; the MLIP relaxation refines it); 'none': keep the "
        "prototype cell.",
    )
    deduplicate: bool = Field(
        default=True,
        description="Remove duplicates (same substitution, or a StructureMatcher match).",
    )


def space_names() -> list[str]:
    """Return the names of the candidate spaces shipped in ``seeds/spaces/``."""
    from matscreen.core.paths import seeds_dir

    return sorted(p.stem for p in (seeds_dir() / "spaces").glob("*.yaml"))


def load_space(name_or_path: str | Path) -> CandidateSpace:
    """Read and validate a candidate-space YAML file.

    Parameters
    ----------
    name_or_path
        A path to a YAML file, or the name of a space shipped in
        ``seeds/spaces/`` (e.g. ``"halide_electrolytes"``). A file whose top
        level has a ``candidates:`` key (a workflow) is read from that key.

    Raises
    ------
    ValueError
        If the file is missing, is not valid YAML, or does not validate; the
        message names the file and the offending field.
    """
    import yaml

    from matscreen.core.paths import seeds_dir

    path = Path(name_or_path)
    if not path.is_file():
        shipped = seeds_dir() / "spaces" / f"{name_or_path}.yaml"
        if not shipped.is_file():
            raise ValueError(
                f"{name_or_path}: no such file, and not a shipped space "
                f"(known: {', '.join(space_names())})"
            )
        path = shipped
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML: {exc}") from None
    if isinstance(data, dict) and "candidates" in data:
        data = data["candidates"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return CandidateSpace.model_validate(data)
    except ValidationError as exc:
        raise ValueError(format_validation_error(exc, str(path))) from None
