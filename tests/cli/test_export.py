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


def test_empty_strings_do_not_swallow_the_next_column_and_relaxed_cells_export(
    tmp_path: Path,
) -> None:
    """An empty hull_missing was written as a bare 'hull_missing=' that ASE's reader paired
    with the next key's text; --relaxed writes the MLIP-relaxed cell where a row has one."""
    table = pd.read_parquet(_results(tmp_path))
    table["hull_missing"] = ["", "", "", ""]
    table["window_low_V"] = [0.0, 0.1, 0.2, 0.3]
    bigger = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.30), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    table["relaxed_structure"] = [structure_to_json(bigger), None, None, None]
    results = atomic_write_parquet(tmp_path / "r2.parquet", table)
    result = runner.invoke(app, ["export", str(results), "--out", str(tmp_path / "x"),
                                 "--format", "extxyz", "--relaxed"])  # fmt: skip
    assert result.exit_code == 0, result.output
    frames = read(tmp_path / "x" / EXTXYZ_NAME, index=":")
    assert [f.info["window_low_V"] for f in frames] == [0.0, 0.1]
    assert all("hull_missing" not in f.info for f in frames)
    assert [f.info["structure_source"] for f in frames] == ["relaxed", "input"]
    assert abs(frames[0].get_volume() - 5.30**3) < 1e-3  # the relaxed cell, not the input
    assert "relaxed_structure" not in frames[0].info  # the frame itself, not a 15 kB label
    export_structures(results, tmp_path / "cif", relaxed=False)
    back = Structure.from_file(tmp_path / "cif" / "LiCl_rocksalt.cif")
    assert abs(back.volume - 5.13**3) < 1e-3
    # --relaxed CIFs say which cell they hold; --relaxed-only writes just the relaxed rows
    export_structures(results, tmp_path / "mixed", relaxed=True)
    assert (
        (tmp_path / "mixed" / "LiCl_rocksalt.cif")
        .read_text()
        .startswith("# structure_source: relaxed\n")
    )
    sources = {p.read_text().splitlines()[0] for p in (tmp_path / "mixed").glob("*.cif")}
    assert sources == {"# structure_source: relaxed", "# structure_source: input"}
    result = runner.invoke(app, ["export", str(results), "--out", str(tmp_path / "only"),
                                 "--relaxed-only"])  # fmt: skip
    assert result.exit_code == 0, result.output
    only = list((tmp_path / "only").glob("*.cif"))
    assert [p.name for p in only] == ["LiCl_rocksalt.cif"]
    assert abs(Structure.from_file(only[0]).volume - 5.30**3) < 1e-3


def test_export_of_a_csv_names_the_file_and_what_export_reads(tmp_path: Path) -> None:
    csv = tmp_path / "stability.csv"
    csv.write_text("formula,status\nLiCl,ok\n")
    result = runner.invoke(app, ["export", str(csv), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "stability.csv: not a readable Parquet table" in result.output
    assert "results.parquet" in result.output and "Traceback" not in result.output
