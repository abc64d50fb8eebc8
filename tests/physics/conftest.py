"""Fixtures for the physics tests: small structures, a private cache, pinned torch."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Send MLIP caches to a temp dir; shipped reference energies are still read."""
    import os

    from matscreen.core.settings import get_settings

    os.environ["MATSCREEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    get_settings.cache_clear()
    try:
        import torch

        torch.set_default_dtype(torch.float32)
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture
def cu_fcc() -> Structure:
    """Cu fcc, 4-atom cell, 6 % expanded."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.8), ["Cu"], [[0, 0, 0]])


@pytest.fixture
def licl() -> Structure:
    """Rock-salt LiCl, primitive cell, 3 % compressed."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.98), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    ).get_primitive_structure()
