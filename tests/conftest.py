"""Shared fixtures: small real structures, a private cache, each test in its own folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# A private cache for the whole session, set before matscreen reads its settings.
os.environ.setdefault("MATSCREEN_CACHE_DIR", tempfile.mkdtemp(prefix="matscreen-test-cache-"))
os.environ.setdefault("MATSCREEN_CONFIG_FILE", os.devnull)

TEST_DIR = Path(__file__).parent
DATA_DIR = TEST_DIR / "data"


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test inside its own temporary folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def own_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Point the ``CACHE_DIR`` setting at ``tmp_path/cache`` for one test (settings re-read)."""
    from matscreen.core.settings import get_settings

    path = tmp_path / "cache"
    monkeypatch.setenv("MATSCREEN_CACHE_DIR", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()  # monkeypatch restores the variable after this teardown


@pytest.fixture
def relax_together_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the cells of every batched relaxation (calls of ``relax.relax_together``)."""
    import matscreen.physics.relax as relax_module

    sizes: list[int] = []
    real = relax_module.relax_together

    def spy(structures, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        sizes.append(len(structures))
        return real(structures, *args, **kw)

    monkeypatch.setattr(relax_module, "relax_together", spy)
    return sizes


@pytest.fixture(scope="session")
def test_dir() -> Path:
    """The tests folder."""
    return TEST_DIR


@pytest.fixture(scope="session")
def licl():
    """Rock-salt LiCl (a = 5.13 Å)."""
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


@pytest.fixture(scope="session")
def nacl():
    """Rock-salt NaCl (no Li)."""
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


@pytest.fixture(scope="session")
def si():
    """Diamond Si."""
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.43), ["Si"], [[0, 0, 0]])


@pytest.fixture(scope="session")
def lifepo4():
    """Olivine LiFePO4 (Pnma; Streltsov et al. 1993 positions)."""
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "Pnma",
        Lattice.orthorhombic(10.332, 6.010, 4.692),
        ["Li", "Fe", "P", "O", "O", "O"],
        [[0, 0, 0], [0.2822, 0.25, 0.9747], [0.0950, 0.25, 0.4182],
         [0.0968, 0.25, 0.7428], [0.4571, 0.25, 0.2060], [0.1656, 0.0465, 0.2848]],
    )  # fmt: skip
