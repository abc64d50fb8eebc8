"""The validated inverse-design workflow: :class:`DesignConfig` and its YAML loader.

A pydantic module (no ``from __future__ import annotations``: pydantic needs
the runtime types). Every section is a :class:`~matscreen.core.config.StrictSection`,
as in the screening workflow: unknown keys are rejected, so a misspelled
field fails with its name, and so are loose types (YAML ``true`` is not a
grid, ``"1"`` is not a weight; from Python, numpy integers and tuples are
refused too: build a config from such values with
``DesignConfig.model_validate(data, strict=False)``); :func:`load_design_config`
prefixes every error with the file name and the dotted field path.
"""

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from matscreen.core.config import (
    CalculatorName,
    StrictSection,
    format_validation_error,
    load_yaml,
    wrong_kind,
)

__all__ = [
    "DesignConfig",
    "LoopSettings",
    "ObjectiveSpec",
    "PhysicsSettings",
    "PrototypeDesign",
    "SearchSettings",
    "SiteDesign",
    "SurrogateSettings",
    "load_design_config",
]

ObjectiveKind = Literal["conductivity", "stability", "bvse", "voltage", "capacity", "mn3", "cost"]

#: Default scale (one "unit of benefit") per objective, in the objective's units.
DEFAULT_SCALES: dict[str, float] = {
    "conductivity": 1.0,  # log10 S/cm
    "stability": 0.05,  # eV/atom
    "bvse": 0.1,  # eV (BVSE Li migration barrier)
    "voltage": 0.3,  # V
    "capacity": 50.0,  # mAh/g
    "mn3": 0.2,  # fraction of Mn
    "cost": 50.0,  # USD/kg
}


class SiteDesign(StrictSection):
    """Allowed species and fraction grid on one host site of a prototype."""

    species: list[str] = Field(
        min_length=1,
        description="Species allowed on the site (elements, or 'Vac' for a vacancy).",
    )
    grid: int = Field(
        default=1,
        ge=1,
        le=24,
        description="Site fractions are multiples of 1/grid (1: one species fills the site).",
    )
    max_species: int = Field(
        default=2, ge=1, le=4, description="Most distinct species mixed on the site."
    )
    min_fraction: dict[str, float] = Field(
        default_factory=dict,
        description="Least site fraction of listed species (e.g. {Mn: 0.5} keeps a Mn-based "
        "cathode Mn-based); rounded up to the grid.",
    )

    @field_validator("species")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from matscreen.candidates.oxidation import common_oxidation_states

        for symbol in value:
            common_oxidation_states(symbol)  # ValueError naming the element
        if len(set(value)) != len(value):
            raise ValueError(f"species listed twice: {value}")
        return value

    @model_validator(mode="after")
    def _min_fraction_valid(self) -> "SiteDesign":
        for symbol, fraction in self.min_fraction.items():
            if symbol not in self.species:
                raise ValueError(
                    f"min_fraction names {symbol!r}, which is not among the site's species "
                    f"{self.species}"
                )
            if not 0.0 < fraction <= 1.0:
                raise ValueError(f"min_fraction of {symbol} must be in (0, 1], got {fraction}")
        if len(self.min_fraction) > self.max_species:
            raise ValueError(
                f"min_fraction floors {len(self.min_fraction)} species but max_species is "
                f"{self.max_species}: no point of the site could keep them all"
            )
        if sum(math.ceil(f * self.grid - 1e-9) for f in self.min_fraction.values()) > self.grid:
            raise ValueError(f"min_fraction {self.min_fraction} cannot fit one site (sum > 1)")
        return self


class PrototypeDesign(StrictSection):
    """One prototype of the design space and the per-site choices on it."""

    prototype: str = Field(description="Prototype name from seeds/prototypes.yaml.")
    sites: dict[str, SiteDesign] = Field(
        min_length=1,
        description="Per host site (named by the prototype element on it), allowed species and "
        "fraction grid. Sites not listed keep the host element.",
    )
    compensation: Literal["li", "none"] = Field(
        default="li",
        description="'li': restore neutrality with Li vacancies / interstitials (nominal "
        "oxidation states); 'none': keep compositions neutral as they are (mixed valence).",
    )

    @model_validator(mode="after")
    def _sites_exist(self) -> "PrototypeDesign":
        from matscreen.candidates.prototypes import load_prototype

        try:
            host = load_prototype(self.prototype)
        except KeyError as exc:
            raise ValueError(str(exc).strip("\"'")) from None
        elements = {el.symbol for el in host.composition}
        for site in self.sites:
            if site not in elements:
                raise ValueError(
                    f"site {site!r} is not an element of prototype {self.prototype} "
                    f"(its sites: {', '.join(sorted(elements))})"
                )
        return self


class ObjectiveSpec(StrictSection):
    """One objective (maximized, minimized, and/or held within bounds)."""

    kind: ObjectiveKind = Field(
        description="conductivity (log10 S/cm), stability (E above hull, eV/atom), voltage "
        "(V vs Li/Li+), capacity (mAh/g), mn3 (fraction of Mn as Mn3+), cost (USD/kg)."
    )
    goal: Literal["maximize", "minimize", "none"] = Field(
        default="none", description="Direction of improvement; 'none' for a pure constraint."
    )
    min: float | None = Field(default=None, description="Lower bound (constraint), in its units.")
    max: float | None = Field(default=None, description="Upper bound (constraint), in its units.")
    weight: float = Field(default=1.0, ge=0.0, description="Weight in the scalarized acquisition.")
    scale: float | None = Field(
        default=None, gt=0.0, description="Unit of benefit (default per kind, see DEFAULT_SCALES)."
    )

    @model_validator(mode="after")
    def _something_to_do(self) -> "ObjectiveSpec":
        if self.goal == "none" and self.min is None and self.max is None:
            raise ValueError(f"objective {self.kind!r} has no goal and no min/max bound")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"objective {self.kind!r}: min {self.min} > max {self.max}")
        return self

    @property
    def unit_scale(self) -> float:
        """The scale in use (explicit or the kind's default)."""
        return self.scale if self.scale is not None else DEFAULT_SCALES[self.kind]


class SearchSettings(StrictSection):
    """How proposals are searched for on the surrogates."""

    method: Literal["gradient", "evolutionary", "random"] = Field(
        default="gradient",
        description="'gradient': Adam on relaxed per-site weights (softmax logits), decoded to "
        "the grid; 'evolutionary': mutation/selection on the discrete grid; 'random': uniform "
        "sampling of the feasible grid (baseline).",
    )
    population: int = Field(default=256, ge=2, description="Candidates optimized at once.")
    steps: int = Field(default=150, ge=1, description="Gradient steps or generations.")
    learning_rate: float = Field(default=0.1, gt=0.0, description="Adam step on the logits.")
    kappa: float = Field(
        default=1.0, ge=0.0, description="UCB exploration weight: mean + kappa * std."
    )
    diversity: float = Field(
        default=0.5,
        ge=0.0,
        description="Strength of the similarity penalty among proposals (kernel on composition).",
    )
    diversity_length: float = Field(
        default=0.15, gt=0.0, description="Length scale of that kernel (atomic-fraction units)."
    )
    constraint_penalty: float = Field(
        default=5.0, ge=0.0, description="Weight of a violated (optimistic) constraint."
    )


class LoopSettings(StrictSection):
    """The closed loop: rounds of proposals, physics checks and retraining."""

    rounds: int = Field(default=3, ge=1, description="Design rounds.")
    batch_size: int = Field(default=8, ge=1, description="Proposals sent to physics per round.")
    budget: int | None = Field(
        default=None, ge=1, description="Cap on physics evaluations in total (None: no cap)."
    )
    exclude_known: bool = Field(
        default=True,
        description=(
            "Never propose a formula shipped in datasets/ (OBELiX, the known Li compounds of "
            "the hull references) or seeds/."
        ),
    )
    model_check: int = Field(
        default=256,
        ge=0,
        description="Decode this many of the best-ranked fresh candidates each round and score "
        "the objectives whose verdict comes from a model (not physics) run by the evaluator "
        "(the shipped conductivity model's log10_sigma_model) with that model before choosing "
        "the batch; a candidate that model already fails is picked only when nothing else is "
        "left. 0 disables (the batch is ranked on the loop's surrogates alone).",
    )
    initial_design: Literal["space_filling", "acquisition"] = Field(
        default="space_filling",
        description="The first round, before any physics result: 'space_filling' spreads the "
        "batch over the space (greedy max-min over atomic fractions among model_check points "
        "drawn uniformly from the feasible grid that pass the model check), so the loop-trained "
        "surrogates learn from the whole space; 'acquisition' ranks it like later rounds (on "
        "the model-judged objectives alone, since the loop-trained ones are still the prior).",
    )


class PhysicsSettings(StrictSection):
    """The physics checks run on each round's proposals (on Dask)."""

    calculator: CalculatorName = Field(default="chgnet", description="MLIP.")
    relax: bool = Field(
        default=False,
        description="Relax cell and positions with the MLIP before the hull (slow on CPU); "
        "False: single-point energy of the decoded structure (ionic-radius-scaled prototype).",
    )
    relax_steps: int = Field(default=100, ge=1, description="Step cap of the relaxation.")
    fmax: float = Field(default=0.1, gt=0.0, description="Force criterion of the relaxation, eV/A.")
    bvse: bool = Field(default=True, description="Compute the BVSE Li percolation barrier.")
    bvse_resolution: float = Field(
        default=0.3,
        gt=0.0,
        description="BVSE grid spacing, A. On a 0.4 A grid the barrier of one structure moves by "
        "~0.02 eV (std) when the structure is translated against the grid; 0.3 A: ~0.01 eV "
        "at ~3x the cost; 0.2 A: ~0.005 eV at ~9x (benchmarks/bvse_grid_noise.py).",
    )
    bvse_max: float = Field(
        default=0.35,
        gt=0.0,
        description="Largest BVSE barrier (eV, lowest-dimension percolation) for a 'pass' verdict.",
    )
    substitute_references: bool = Field(
        default=True,
        description="Add missing trivalent-metal halide references (MX3 in the built-in YCl3 "
        "structure, relaxed with the same MLIP and cached) so the hull is not a lower bound.",
    )
    workers: int = Field(default=2, ge=1, description="Local Dask workers when no client given.")
    n_orderings: int = Field(default=20, ge=1, description="Orderings tried when decoding.")


class SurrogateSettings(StrictSection):
    """The torch surrogates: deep-ensemble sizes, and the loop-trained model."""

    loop_model: Literal["gp", "ensemble"] = Field(
        default="gp",
        description="Model of the loop-trained objectives (stability, bvse): an exact Gaussian "
        "process ('gp') or a deep ensemble of the size below ('ensemble').",
    )
    n_members: int = Field(default=5, ge=2, description="Ensemble members.")
    hidden: int = Field(default=64, ge=4, description="Hidden width of each MLP.")
    epochs: int = Field(default=300, ge=1, description="Full-batch Adam epochs per member.")
    stability_prior_mean: float = Field(
        default=0.05, description="E_hull (eV/atom) predicted before any physics data."
    )
    stability_prior_std: float = Field(
        default=0.1, gt=0.0, description="Its std before any physics data."
    )
    bvse_prior_mean: float = Field(
        default=0.5, description="BVSE barrier (eV) predicted before any physics data."
    )
    bvse_prior_std: float = Field(default=0.3, gt=0.0, description="Its std before any data.")
    stability_features: Literal["composition", "chemistry"] = Field(
        default="composition",
        description="Input of the loop-trained E_hull model: the 48 Magpie composition "
        "statistics ('composition') or 7 crystal-chemistry descriptors ('chemistry': Li and "
        "cations per anion, ionic radii, electronegativity, valence).",
    )
    bvse_features: Literal["composition", "chemistry"] = Field(
        default="chemistry",
        description="Input of the loop-trained BVSE-barrier model (same choices).",
    )
    min_stability_points: int = Field(
        default=4,
        ge=2,
        description="Physics results needed before a loop-trained model (stability, bvse) is used.",
    )


class DesignSpaceSpec(StrictSection):
    """The design space: prototypes with per-site choices, and the cell-size cap."""

    prototypes: list[PrototypeDesign] = Field(min_length=1, description="Prototypes to design on.")
    max_atoms: int = Field(default=120, ge=1, description="Largest ordered cell allowed (atoms).")
    max_points: int = Field(
        default=200_000, ge=1, description="Cap on the feasible grid points enumerated."
    )


class DesignConfig(StrictSection):
    """A complete inverse-design workflow (the YAML given to ``matscreen design``)."""

    name: str = Field(default="design", description="Name of the run.")
    description: str = Field(default="", description="Free text.")
    family: Literal["halide_electrolyte", "oxide_electrolyte", "mn_cathode"] = Field(
        description="Materials family of the proposals."
    )
    seed: int = Field(default=0, description="Seed of every random choice (search, ordering).")
    space: DesignSpaceSpec = Field(description="The design space.")
    objectives: list[ObjectiveSpec] = Field(min_length=1, description="Objectives and bounds.")
    search: SearchSettings = Field(default_factory=SearchSettings, description="Search.")
    loop: LoopSettings = Field(default_factory=LoopSettings, description="Closed loop.")
    physics: PhysicsSettings = Field(default_factory=PhysicsSettings, description="Physics.")
    surrogates: SurrogateSettings = Field(
        default_factory=SurrogateSettings, description="Surrogates."
    )

    @model_validator(mode="after")
    def _unique_objectives(self) -> "DesignConfig":
        kinds = [o.kind for o in self.objectives]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"objective kinds must be unique, got {kinds}")
        if "bvse" in kinds and not self.physics.bvse:
            raise ValueError("a 'bvse' objective needs physics.bvse: true (its training data)")
        return self


def load_design_config(path: str | Path) -> DesignConfig:
    """Read and validate a design workflow YAML.

    Parameters
    ----------
    path
        The YAML file, or the name of a workflow in ``workflows/``
        (``"design_halide_electrolytes"``).

    Raises
    ------
    ValueError
        If the file is missing, not YAML, or does not validate; the message
        names the file and the offending field.
    """
    import yaml

    from matscreen.core.paths import workflows_dir

    p = Path(path)
    if not p.is_file():
        shipped = workflows_dir() / f"{path}.yaml"
        if not shipped.is_file():
            raise ValueError(f"{path}: no such design workflow file")
        p = shipped
    try:
        data = load_yaml(p.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{p}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping of fields, got {type(data).__name__}")
    wrong_kind(data, "design", str(p))
    try:
        return DesignConfig.model_validate(data)
    except ValidationError as exc:
        raise ValueError(format_validation_error(exc, str(p))) from None
