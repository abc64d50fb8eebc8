"""Where matscreen finds its shipped files (seeds, datasets, workflows).

The repository layout keeps ``seeds/``, ``datasets/`` and ``workflows/`` at the
top level beside the package. Each location can be overridden by an
environment variable (``MATSCREEN_SEEDS_DIR``, ``MATSCREEN_DATASETS_DIR``,
``MATSCREEN_WORKFLOWS_DIR``), which is how an installed copy is pointed at them.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent


def _resolve(env_var: str, default: Path) -> Path:
    value = os.environ.get(env_var)
    path = Path(value).expanduser() if value else default
    if not path.is_dir():
        raise FileNotFoundError(f"{path} does not exist; set {env_var} to the folder that holds it")
    return path


def seeds_dir() -> Path:
    """Return the folder of prototype structures and candidate-space definitions."""
    return _resolve("MATSCREEN_SEEDS_DIR", REPO_ROOT / "seeds")


def datasets_dir() -> Path:
    """Return the folder of shipped datasets (with their licence notes)."""
    return _resolve("MATSCREEN_DATASETS_DIR", REPO_ROOT / "datasets")


def workflows_dir() -> Path:
    """Return the folder of shipped YAML workflows."""
    return _resolve("MATSCREEN_WORKFLOWS_DIR", REPO_ROOT / "workflows")
