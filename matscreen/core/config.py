"""The workflow file: one YAML document per screening run, validated on load.

A workflow names the candidate space (a definition in ``seeds/spaces/`` or a
path to one), the family of materials, the seed, and options per stage.
Unknown or misspelled keys are errors, and every error message names the file
and the field.
"""

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from matscreen.core.errors import MatscreenInputError

Family = Literal["halide_electrolyte", "oxide_electrolyte", "mn_cathode"]
ELECTROLYTE_FAMILIES = ("halide_electrolyte", "oxide_electrolyte")

#: Registry names of the shipped MLIPs (:class:`matscreen.physics.calculators.MLIP`).
CALCULATOR_NAMES: tuple[str, ...] = ("chgnet", "sevenn")
#: Other spellings accepted for them (the models' own names).
CALCULATOR_ALIASES: dict[str, str] = {
    "sevennet": "sevenn", "sevennet-0": "sevenn", "7net": "sevenn",
}  # fmt: skip


def canonical_calculator_name(name: object) -> object:
    """Return the registry name of an MLIP name or alias (case and spaces ignored).

    Anything that is not a string is returned unchanged (for the validator
    to judge), so are unknown names.

    Examples
    --------
    >>> canonical_calculator_name(" SevenNet ")
    'sevenn'
    """
    if not isinstance(name, str):
        return name
    key = name.strip().lower()
    return CALCULATOR_ALIASES.get(key, key)


#: An MLIP registry name in a validated setting; aliases are mapped to it.
CalculatorName = Annotated[Literal["chgnet", "sevenn"], BeforeValidator(canonical_calculator_name)]


class StrictSection(BaseModel):
    """Base of every workflow section: unknown keys and loose types are refused.

    Strict: YAML ``true`` is not a count and ``"0"`` is not a seed (ints still
    fill floats).
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class CandidatesSection(StrictSection):
    """Where candidates come from."""

    space: str = Field(
        description="Candidate-space definition: a name in seeds/spaces/ (without .yaml) "
        "or a path to a YAML file (relative paths are resolved against the workflow's folder)."
    )
    limit: int | None = Field(
        default=None, ge=1, description="Keep only the first N candidates (for quick runs)."
    )


class FeaturizeSection(StrictSection):
    """Which featurizers run in the cheap first stage."""

    composition: bool = Field(default=True, description="Magpie statistics, stoichiometry, ...")
    structure: bool = Field(default=True, description="Density, symmetry, coordination.")
    transport: bool = Field(default=True, description="Li-transport geometric descriptors.")
    chunk_size: int | None = Field(
        default=None, ge=1, description="Candidates per Dask task (default: settings CHUNK_SIZE)."
    )


class ScreeningSection(StrictSection):
    """Stage-by-stage screening: cheap descriptors first, costly checks on survivors."""

    bvse_top_k: int = Field(
        default=40,
        ge=0,
        description="Electrolytes: compute the bond-valence (BVSE) Li barrier for the top K "
        "candidates by the first-stage score (0 disables).",
    )
    bvse_resolution: float = Field(
        default=0.3, gt=0.05, le=1.0, description="BVSE grid spacing in Å."
    )
    max_cost_usd_per_kg: float | None = Field(
        default=None, gt=0, description="Filter out candidates whose raw-element cost is higher."
    )
    mlip_top_k: int = Field(
        default=0,
        ge=0,
        description="Physics stage: relax the top K candidates (electrolytes: lowest BVSE "
        "barriers among the BVSE survivors; cathodes: highest energy density; candidates with "
        "an element in no shipped reference compound after the rest) with the MLIP, "
        "place them on the convex hull of the reference phases and, for electrolytes, compute "
        "the Li stability window (0 disables; about 10-60 s per candidate on 2 CPU cores).",
    )
    calculator: CalculatorName = Field(
        default="chgnet", description="MLIP of the physics stage (alias: sevennet = sevenn)."
    )
    mlip_fmax: float = Field(
        default=0.05, gt=0, le=1.0, description="Relaxation force criterion, eV/Å."
    )
    mlip_steps: int = Field(default=300, ge=1, le=5000, description="Relaxation step cap.")
    mlip_batch: int = Field(
        default=1,
        ge=1,
        le=512,
        description="Physics stage: candidates per Dask task. Above 1 (CHGNet) they are relaxed "
        "together, one vectorised MLIP pass over all unconverged cells per step (the setting "
        "for a GPU: 32-128); 1 relaxes one candidate per task, which spreads them over workers.",
    )
    md_top_k: int = Field(
        default=0,
        ge=0,
        description="Electrolytes: Li transport by MLIP molecular dynamics for the K physics-stage "
        "survivors within md_max_e_above_hull of the hull with the lowest BVSE barriers (NVT MD "
        "at md_temperatures, Arrhenius fit, Nernst-Einstein sigma at 300 K; 0 disables; minutes "
        "per candidate on a CPU).",
    )
    md_temperatures: list[float] = Field(
        default_factory=lambda: [700.0, 900.0, 1100.0],
        min_length=2,
        description="MD temperatures, K.",
    )
    md_time_ps: float = Field(default=5.0, gt=0, le=1000, description="MD production time, ps.")
    md_max_e_above_hull: float = Field(
        default=0.05, ge=0, description="Only candidates this close to the hull (eV/atom) get MD."
    )
    mlip_device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="Device of the physics stage's MLIP: auto (a GPU when torch sees one), cpu, "
        "cuda or cuda:N.",
    )


class ReportSection(StrictSection):
    """What the HTML report shows."""

    top_n: int = Field(default=20, ge=1, description="Top candidates listed per family.")


class WorkflowConfig(StrictSection):
    """A validated screening workflow."""

    name: str = Field(
        description="Short name of the run (letters, digits, '.', '_', '-'; the default output "
        "folder is runs/<name>).",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]*$",
        max_length=128,
    )
    family: Family = Field(description="Materials family screened.")
    description: str = Field(default="", description="Free text for the report.")
    seed: int = Field(default=0, description="Seed for candidate ordering and sampling.")
    candidates: CandidatesSection
    featurize: FeaturizeSection = Field(default_factory=FeaturizeSection)
    screening: ScreeningSection = Field(default_factory=ScreeningSection)
    report: ReportSection = Field(default_factory=ReportSection)
    source: str | None = Field(default=None, description="File the workflow was read from.")

    @property
    def is_electrolyte(self) -> bool:
        """Whether the family is a solid electrolyte."""
        return self.family in ELECTROLYTE_FAMILIES

    def resolve_space(self) -> str:
        """Return the candidate space as a seeds/spaces name or an absolute path."""
        space = self.candidates.space
        if space.endswith((".yaml", ".yml")) or "/" in space:
            path = Path(space)
            if not path.is_absolute() and self.source:
                path = Path(self.source).parent / path
            return str(path.resolve())
        return space


def load_yaml(text: str) -> Any:
    """Parse YAML as ``yaml.safe_load``, but read ``5e-2`` and ``1e3`` as numbers.

    PyYAML follows YAML 1.1, where a float needs a dot (``5.0e-2``) and
    ``5e-2`` is a string; YAML 1.2 and people read it as a number.
    """
    import re

    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def format_validation_error(exc: ValidationError, source: str) -> str:
    """Return a one-line message naming the file, each bad field and the problem."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (misspelled?)"
        parts.append(f"{field}: {msg}")
    return f"{source}: " + "; ".join(parts)


def load_workflow(path: str | Path) -> WorkflowConfig:
    """Read and validate a workflow YAML file.

    Parameters
    ----------
    path
        The workflow file.

    Returns
    -------
    WorkflowConfig
        The validated workflow.

    Raises
    ------
    MatscreenInputError
        If the file is missing, is not YAML, or a field is missing, unknown or
        of the wrong type; the message names the file and the field.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise MatscreenInputError(f"{path}: workflow file not found")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MatscreenInputError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise MatscreenInputError(f"{path}: a workflow must be a YAML mapping of fields")
    wrong_kind(data, "screen", str(path))
    data.setdefault("source", str(path.resolve()))
    return workflow_from_mapping(data, str(path))


#: Top-level fields only a screening workflow has, and only a design workflow has.
_SCREEN_ONLY = frozenset({"candidates", "featurize", "screening"})
_DESIGN_ONLY = frozenset({"space", "objectives", "search", "loop", "surrogates"})


def wrong_kind(data: dict, command: str, source: str) -> None:
    """Refuse a design workflow given to ``screen``, or a screening one given to ``design``.

    Parameters
    ----------
    data
        The parsed YAML mapping.
    command
        ``"screen"`` or ``"design"``: the command that read it.
    source
        The file, for the message.

    Raises
    ------
    MatscreenInputError
        When the mapping has the other kind's fields and none of its own.
    """
    keys = set(data)
    own, other = (
        (_SCREEN_ONLY, _DESIGN_ONLY) if command == "screen" else (_DESIGN_ONLY, _SCREEN_ONLY)
    )
    if keys & other and not keys & own:
        kind, right = ("design", "design") if command == "screen" else ("screening", "screen")
        raise MatscreenInputError(
            f"{source}: this is a {kind} workflow ({', '.join(sorted(keys & other))}); "
            f"run it with `matscreen {right}`"
        )


def workflow_from_mapping(
    data: dict, source: str = "workflow", *, lax: bool = False
) -> WorkflowConfig:
    """Validate a workflow given as a mapping (the parsed YAML).

    Relative space paths in it resolve against ``data["source"]``'s folder
    when set, else against the working directory. ``lax`` converts values
    as pydantic's lax mode does (``numpy.int64(3)`` for an int, a ``Path``
    for a string): for mappings built in Python.

    Raises
    ------
    MatscreenInputError
        One line naming ``source`` and each bad field.
    """
    try:
        # a mapping built in Python (numpy ints, Paths, tuples) is read laxly; YAML strictly
        if lax:
            from matscreen.core.io import to_builtin

            return WorkflowConfig.model_validate(to_builtin(data), strict=False)
        return WorkflowConfig.model_validate(data)
    except ValidationError as exc:
        raise MatscreenInputError(format_validation_error(exc, source)) from None
