"""Core helpers: workflow validation, atomic writes, hashing, settings, the run lock."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from matscreen.core.config import load_workflow
from matscreen.core.errors import MatscreenInputError, OutputLockedError
from matscreen.core.hashing import structure_hash
from matscreen.core.io import (
    atomic_write_parquet,
    atomic_write_text,
    structure_from_json,
    structure_to_json,
)
from matscreen.core.locks import RunLock
from matscreen.core.paths import workflows_dir

GOOD = """
name: t
family: halide_electrolyte
candidates:
  space: halide_electrolytes
"""


def _write(text: str) -> Path:
    path = Path("wf.yaml")
    path.write_text(text)
    return path


def test_shipped_workflows_validate():
    names = sorted(
        p.name for p in workflows_dir().glob("*.yaml") if not p.name.startswith("design_")
    )
    assert {"halide_electrolytes.yaml", "oxide_electrolytes.yaml", "mn_cathodes.yaml"} <= set(names)
    for name in names:
        assert load_workflow(workflows_dir() / name).name


def test_good_workflow_defaults():
    cfg = load_workflow(_write(GOOD))
    assert cfg.is_electrolyte and cfg.screening.bvse_top_k == 40 and cfg.seed == 0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (GOOD.replace("family", "familly"), "familly: unknown field"),
        (GOOD.replace("name: t\n", ""), "name: Field required"),
        (GOOD + "seed: many\n", "seed: Input should be a valid integer"),
        (GOOD + "screening:\n  bvse_top_k: -1\n", "screening.bvse_top_k"),
        (GOOD.replace("halide_electrolyte\n", "sulfide\n"), "family: Input should be"),
        ("name: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "must be a YAML mapping"),
        (GOOD.replace("name: t", "name: ../../escape"), "name: String should match pattern"),
        (
            GOOD + "screening:\n  bvse_top_k: true\n",
            "screening.bvse_top_k: Input should be a valid",
        ),
    ],
    ids=[
        "misspelled",
        "missing",
        "wrong-type",
        "out-of-range",
        "bad-enum",
        "bad-yaml",
        "not-mapping",
        "name-is-a-path",
        "bool-for-int",
    ],
)
def test_bad_workflows_name_file_and_field(text, needle):
    with pytest.raises(MatscreenInputError) as info:
        load_workflow(_write(text))
    assert "wf.yaml" in str(info.value) and needle in str(info.value)


def test_missing_workflow_file():
    with pytest.raises(MatscreenInputError, match="not found"):
        load_workflow("nope.yaml")


def test_atomic_write_leaves_old_file_on_failure(monkeypatch):
    atomic_write_text("a.txt", "old")

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text("a.txt", "new")
    assert Path("a.txt").read_text() == "old"
    assert [p.name for p in Path(".").iterdir()] == ["a.txt"]  # no temp file left


def test_parquet_and_structure_round_trip(licl):
    frame = pd.DataFrame({"id": ["a"], "structure": [structure_to_json(licl)]})
    atomic_write_parquet("t.parquet", frame)
    back = pd.read_parquet("t.parquet")
    assert structure_from_json(back["structure"][0]) == licl


def test_structure_hash_ignores_site_order(licl, lifepo4):
    shuffled = lifepo4.copy()
    shuffled = shuffled.__class__.from_sites(list(reversed(shuffled.sites)))
    assert structure_hash(shuffled) == structure_hash(lifepo4)
    assert structure_hash(licl) != structure_hash(lifepo4)


def test_run_lock_refuses_second_holder_and_clears_stale(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(OutputLockedError, match="in use"):
            RunLock(tmp_path).acquire()
    # A lock left by a dead process on this host is taken over.
    (tmp_path / "run.lock").write_text(f'{{"pid": 999999999, "host": "{os.uname().nodename}"}}')
    with RunLock(tmp_path):
        pass
    assert not (tmp_path / "run.lock").exists()


def test_settings_from_environment(monkeypatch):
    from matscreen.core.settings import MatscreenSettings

    monkeypatch.setenv("MATSCREEN_CHUNK_SIZE", "7")
    assert MatscreenSettings().CHUNK_SIZE == 7
    monkeypatch.setenv("MATSCREEN_CHUNK_SIZE", "0")
    with pytest.raises(ValueError, match="CHUNK_SIZE"):
        MatscreenSettings()


def test_every_cache_follows_the_settings_file(tmp_path, monkeypatch):
    """CACHE_DIR in the settings file moves the physics caches (relaxations, reference
    energies, template index) with the model and feature caches, not only the variable."""
    from matscreen.core.settings import get_settings
    from matscreen.physics.references import cache_dir

    config = tmp_path / "matscreen.yaml"
    config.write_text(f"CACHE_DIR: {tmp_path / 'from_file'}\n")
    monkeypatch.delenv("MATSCREEN_CACHE_DIR")
    monkeypatch.setenv("MATSCREEN_CONFIG_FILE", str(config))
    get_settings.cache_clear()
    try:
        assert cache_dir() == tmp_path / "from_file" / "physics" and cache_dir().is_dir()
        assert get_settings().cache_dir() == tmp_path / "from_file"
    finally:
        get_settings.cache_clear()


def test_yaml_numbers_in_exponent_form_and_python_mappings():
    """YAML 1.1 reads 5e-2 as a string; workflows read it as the number people mean. A
    mapping built in Python may hold numpy ints, Paths and tuples."""
    import numpy as np

    from matscreen.core.config import workflow_from_mapping

    cfg = load_workflow(
        _write(GOOD + "screening:\n  mlip_fmax: 5e-2\n  max_cost_usd_per_kg: 1e3\n")
    )
    assert cfg.screening.mlip_fmax == 0.05 and cfg.screening.max_cost_usd_per_kg == 1000.0
    data = {
        "name": "t", "family": "halide_electrolyte", "seed": np.int64(3),
        "candidates": {"space": Path("space.yaml")},
        "screening": {"mlip_top_k": np.int64(2), "md_temperatures": (1000, 1400)},
    }  # fmt: skip
    cfg = workflow_from_mapping(data, lax=True)
    assert cfg.seed == 3 and cfg.candidates.space == "space.yaml"
    assert cfg.screening.md_temperatures == [1000.0, 1400.0]


def test_calculator_names_take_the_models_own_spelling(monkeypatch):
    """ "SevenNet" is what its users call it; the registry name is "sevenn". The workflow,
    the design workflow and the DEFAULT_CALCULATOR setting accept both; unknown names
    still fail, naming the field."""
    from matscreen.core.settings import MatscreenSettings
    from matscreen.design.config import PhysicsSettings

    cfg = load_workflow(_write(GOOD + "screening:\n  calculator: SevenNet\n"))
    assert cfg.screening.calculator == "sevenn"
    assert PhysicsSettings(calculator="sevennet").calculator == "sevenn"
    monkeypatch.setenv("MATSCREEN_DEFAULT_CALCULATOR", " SEVENNET ")
    assert MatscreenSettings().DEFAULT_CALCULATOR == "sevenn"
    monkeypatch.setenv("MATSCREEN_DEFAULT_CALCULATOR", "mace")
    with pytest.raises(ValueError, match="DEFAULT_CALCULATOR"):
        MatscreenSettings()
    with pytest.raises(MatscreenInputError, match="screening.calculator"):
        load_workflow(_write(GOOD + "screening:\n  calculator: mace\n"))


def test_versioned_cache_writes_are_best_effort(tmp_path, caplog, monkeypatch) -> None:
    """Entries add up across writes; a cache that cannot be written (a read-only home on a
    compute node) logs a warning instead of failing the computation it was caching."""
    import errno

    import matscreen.core.io as io

    path = tmp_path / "c.json"
    assert io.add_to_versioned_cache(path, {"version": "1"}, "e", {"a": 1}) == {"a": 1}
    assert io.add_to_versioned_cache(path, {"version": "1"}, "e", {"b": 2}) == {"a": 1, "b": 2}
    assert io.read_versioned_cache(path, "2", "e") == {}

    def read_only(*args: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(io, "atomic_write_text", read_only)
    assert io.add_to_versioned_cache(path, {"version": "1"}, "e", {"c": 3}) == {"c": 3}
    assert "not cached" in caplog.text
    assert io.read_versioned_cache(path, "1", "e") == {"a": 1, "b": 2}  # the file is intact


def test_versioned_cache_never_replaces_a_file_it_could_not_read(tmp_path, monkeypatch) -> None:
    """A cache file that exists but cannot be read (permissions, I/O error) is left as it is;
    a filesystem without flock (ENOLCK) still gets the write, atomically, with a warning."""
    import errno
    import fcntl
    from pathlib import Path

    import matscreen.core.io as io

    path = tmp_path / "c.json"
    io.add_to_versioned_cache(path, {"version": "1"}, "e", {"a": 1})
    before = path.read_text()
    real_read = Path.read_text

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_read(self, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(Path, "read_text", denied)
        assert io.add_to_versioned_cache(path, {"version": "1"}, "e", {"b": 2}) == {"b": 2}
    assert path.read_text() == before

    def no_lock(*args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_lock)
    assert io.add_to_versioned_cache(path, {"version": "1"}, "e", {"b": 2}) == {"a": 1, "b": 2}


def test_atomic_writes_keep_the_usual_file_mode(tmp_path) -> None:
    """New files get 0666 & ~umask as open() gives them (not mkstemp's 0600, which would
    hide a group-shared cache from the group); a rewrite keeps the file's mode."""
    import os

    from matscreen.core.io import UMASK, atomic_write_text

    new = atomic_write_text(tmp_path / "new.json", "{}")
    assert new.stat().st_mode & 0o777 == 0o666 & ~UMASK
    os.chmod(new, 0o640)
    atomic_write_text(new, "[]")
    assert new.stat().st_mode & 0o777 == 0o640 and new.read_text() == "[]"


def test_display_formula_leaves_out_unit_amounts_of_fractional_formulas() -> None:
    from pymatgen.core import Composition

    from matscreen.core.formula import display_formula

    # pymatgen writes Li0.33La0.56Ti1O3; users (and error messages) write TiO3
    assert display_formula(Composition("Li0.33La0.56TiO3")) == "Li0.33La0.56TiO3"
    assert display_formula(Composition("LiFe0.5Mn0.5PO4")) == "LiMn0.5Fe0.5PO4"
    for kept in ("Li10Ge(PS6)2", "Li6.4La3Zr1.4Ta0.6O12", "Li3YCl6", "Li1.1Mn1.9O4"):
        assert display_formula(Composition(kept)) == Composition(kept).reduced_formula


def test_time_left_follows_this_runs_pace() -> None:
    from matscreen.core.progress import time_left

    assert time_left(120.0, 4, 0) == ""  # the last unit
    assert time_left(0.0, 0, 5) == ""  # nothing finished yet: no pace
    assert time_left(120.0, 4, 8) == "; about 4 min left"
    assert time_left(10.0, 4, 8) == "; under 1 min left"
    assert time_left(3600.0, 10, 30) == "; about 3.0 h left"
