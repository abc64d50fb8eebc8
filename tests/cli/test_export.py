"""Exporting the structures of a results table (INTERFACE: structures export as CIF or extxyz)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from ase.io import read
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from matscreen.cli import app
from matscreen.core.io import atomic_write_parquet, structure_to_json
from matscreen.report.export import EXTXYZ_NAME, export_structures

runner = CliRunner()


def _results(tmp_path: Path) -> Path:
    licl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    li2o = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.61), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    table = pd.DataFrame(
        {
            "id": ["LiCl/rocksalt", "Li2O", "bad", "none"],
            "formula": ["LiCl", "Li2O", "LiCl", "LiBr"],
            "status": ["ok", "ok", "failed", "ok"],
            "e_above_hull": [0.0, 0.012, float("nan"), 0.1],
            "structure": [structure_to_json(licl), structure_to_json(li2o),
                          structure_to_json(licl), None],
        }
    )  # fmt: skip
    return atomic_write_parquet(tmp_path / "results.parquet", table)


def test_cif_export_writes_one_readable_file_per_ok_row(tmp_path: Path) -> None:
    written = export_structures(_results(tmp_path), tmp_path / "cif")
    assert sorted(p.name for p in written) == ["Li2O.cif", "LiCl_rocksalt.cif"]
    back = Structure.from_file(tmp_path / "cif" / "Li2O.cif")
    assert back.composition.reduced_formula == "Li2O" and abs(back.volume - 4.61**3) < 1e-3


def test_extxyz_export_carries_the_row_columns(tmp_path: Path) -> None:
    results = _results(tmp_path)
    result = runner.invoke(app, ["export", str(results), "--out", str(tmp_path / "x"),
                                 "--format", "extxyz", "--all"])  # fmt: skip
    assert result.exit_code == 0, result.output
    frames = read(tmp_path / "x" / EXTXYZ_NAME, index=":")
    assert [f.info["id"] for f in frames] == ["LiCl/rocksalt", "Li2O", "bad"]
    assert frames[1].info["e_above_hull"] == 0.012 and "e_above_hull" not in frames[2].info
    assert frames[1].get_chemical_formula() == "Li8O4"


def test_export_usage_errors_exit_2(tmp_path: Path) -> None:
    results = _results(tmp_path)
    bad_format = runner.invoke(app, ["export", str(results), "--out", "o", "--format", "pdb"])
    missing = runner.invoke(app, ["export", str(tmp_path / "no.parquet"), "--out", "o"])
    assert bad_format.exit_code == 2 and "--format pdb" in bad_format.output
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_extxyz_export_survives_awkward_rows(tmp_path: Path) -> None:
    licl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    table = pd.DataFrame(
        {
            "id": ["a", pd.NA, "broken"],
            "error": ["line one\nline two\tand a tab", "", ""],
            "stress": [1.5, 2.0, 3.0],
            "energy": [-3.2, -3.1, -3.0],
            "structure": [structure_to_json(licl), structure_to_json(licl), '{"lattice": '],
        }
    )
    written = export_structures(table, tmp_path / "x", fmt="extxyz")
    frames = read(written[0], index=":")
    assert len(frames) == 2  # the unreadable structure is skipped, the others written
    assert frames[0].info["error"] == "line one line two and a tab"
    assert frames[0].info["result_stress"] == 1.5 and frames[1].info["result_energy"] == -3.1
    assert frames[0].calc is None  # the result columns are not read back as calculator results
    cifs = export_structures(table, tmp_path / "c")
    assert sorted(p.name for p in cifs) == ["1.cif", "a.cif"]  # a missing id falls back to the row
