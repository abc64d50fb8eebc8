"""Process-wide settings, read once from the environment and a YAML file.

Precedence: environment variables (``MATSCREEN_<FIELD>``), then the YAML file
(``~/.matscreen.yaml`` or the file named by ``MATSCREEN_CONFIG_FILE``), then
the defaults below. Per-run options live in the workflow
(:mod:`matscreen.core.config`), not here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from matscreen.core.config import CalculatorName

DEFAULT_CONFIG_FILE = Path("~/.matscreen.yaml")


class MatscreenSettings(BaseSettings):
    """Settings shared by every matscreen run on this machine."""

    model_config = SettingsConfigDict(env_prefix="MATSCREEN_", extra="forbid")

    CACHE_DIR: Path = Field(
        default=Path("~/.cache/matscreen"),
        description="Folder for caches (featurization Parquet cache, MLIP reference energies).",
    )
    CHUNK_SIZE: int = Field(
        default=16, ge=1, description="Candidates per Dask task in a screening run."
    )
    PREDICT_BATCH: int = Field(
        default=8,
        ge=1,
        description="Rows of `matscreen predict stability|voltage` per unit of work (a Dask "
        "task, or a step in one process): their given structures are relaxed together (batched "
        "CHGNet); each row is checkpointed once its batch is done. Larger on a GPU; 1: row by "
        "row.",
    )
    LOG_LEVEL: str = Field(default="INFO", description="Logging level of the CLI.")
    RELAX_CACHE: bool = Field(
        default=True,
        description="Keep MLIP relaxations of structures (templates of a formula, CIF cells) "
        "under CACHE_DIR and reuse them for the same cell, calculator version and settings.",
    )
    RELAX_CACHE_MAX_MB: float = Field(
        default=2048.0,
        gt=0,
        description="Size cap of the relaxation cache (MB, all calculators): past it the files "
        "read or written longest ago are deleted, down to 90 % of the cap.",
    )
    DEFAULT_CALCULATOR: CalculatorName = Field(
        default="chgnet",
        description="MLIP used where none is named: `matscreen predict stability|voltage` and "
        "Python calls with calculator=None (workflows name theirs: screening.calculator, "
        "physics.calculator in design workflows).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read init kwargs, then env vars, then the YAML file."""
        from pydantic_settings import YamlConfigSettingsSource

        path = Path(os.environ.get("MATSCREEN_CONFIG_FILE", DEFAULT_CONFIG_FILE)).expanduser()
        yaml_source = YamlConfigSettingsSource(
            settings_cls, yaml_file=path if path.exists() else None
        )
        return init_settings, env_settings, yaml_source

    def cache_dir(self) -> Path:
        """Return the expanded cache folder (created if missing)."""
        path = self.CACHE_DIR.expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path


@lru_cache(maxsize=1)
def get_settings(**overrides: Any) -> MatscreenSettings:
    """Return the settings (cached after the first call).

    Raises
    ------
    MatscreenInputError
        One line naming each bad setting (``MATSCREEN_<FIELD>`` or the YAML
        file), when a value does not validate.
    """
    from pydantic import ValidationError

    from matscreen.core.config import format_validation_error
    from matscreen.core.errors import MatscreenInputError

    try:
        return MatscreenSettings(**overrides)
    except ValidationError as exc:
        path = os.environ.get("MATSCREEN_CONFIG_FILE", str(DEFAULT_CONFIG_FILE))
        source = f"matscreen settings (environment MATSCREEN_<FIELD> or {path})"
        raise MatscreenInputError(format_validation_error(exc, source)) from None
