"""Reading prediction inputs: CSV, CIF, folders, and bad files that fail one row only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from matscreen.core.errors import MatscreenInputError
from matscreen.core.inputs import read_cif, read_predict_input


@pytest.fixture
def cif_dir(test_dir: Path) -> Path:
    folder = Path("cifs")
    shutil.copytree(test_dir / "data" / "cifs", folder)
    return folder


def test_good_cif(cif_dir):
    s = read_cif(cif_dir / "LiCl.cif")
    assert s.composition.reduced_formula == "LiCl" and len(s) == 8


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty file"),
        (b"\x00\x01\x02binary", "binary data"),
        (b"data_x\n_cell_length_a 5\n", "no structure"),
        (b"this is not a cif at all", "no structure"),
    ],
    ids=["empty", "binary", "no-atoms", "garbage"],
)
def test_bad_cifs_have_specific_messages(content, needle):
    Path("bad.cif").write_bytes(content)
    with pytest.raises(ValueError, match=needle) as info:
        read_cif("bad.cif")
    assert "bad.cif" in str(info.value)


def test_truncated_cif_is_an_error(cif_dir):
    with pytest.raises(ValueError, match="truncated.cif"):
        read_cif(cif_dir / "truncated.cif")


def test_overlapping_atoms(cif_dir):
    text = (cif_dir / "LiCl.cif").read_text()
    s = read_cif(cif_dir / "LiCl.cif")
    s.append("Li", [0.01, 0.0, 0.0])
    s.to(filename="overlap.cif")
    with pytest.raises(ValueError, match="overlapping atoms"):
        read_cif("overlap.cif")
    assert text  # the source file is untouched


def test_folder_of_cifs_marks_bad_files_failed(cif_dir):
    given = read_predict_input(cif_dir)
    files = list(given.table["file"])
    good, bad = files.index("LiCl.cif"), files.index("truncated.cif")
    assert given.errors[good] is None and given.structures["structure"][good] is not None
    assert given.table["formula"][good] == "LiCl"
    assert "truncated.cif" in given.errors[bad] and given.structures["structure"][bad] is None


def test_csv_with_cif_column(cif_dir):
    """Paths are relative to the CSV's folder and must stay inside it; spaces around them
    are ignored; a missing or escaping file fails its row and names the path given."""
    Path("outside.cif").write_text((cif_dir / "LiCl.cif").read_text())
    (cif_dir / "sub").mkdir()
    (cif_dir / "sub" / "LiCl.cif").write_text((cif_dir / "LiCl.cif").read_text())
    (cif_dir / "in.csv").write_text(
        "formula,cif,note\nLiCl,LiCl.cif,a\nLi2O,,b\nLiCl,../outside.cif,c\n"
        "LiCl,sub/missing.cif,d\nLiCl, sub/LiCl.cif ,e\n"
    )
    given = read_predict_input(cif_dir / "in.csv")
    assert list(given.table["note"]) == ["a", "b", "c", "d", "e"]  # kept, in order
    assert list(given.table.columns) == ["formula", "cif", "note"]  # as given
    structures = given.structures["structure"]
    assert [s is not None for s in structures] == [True, False, False, False, True]
    assert given.errors[:2] == [None, None] and given.errors[4] is None
    assert given.errors[2].startswith(
        "cif: cif path '../outside.cif' points outside the input folder (CIFs are read from the "
        "CSV's folder and below it"
    )
    assert given.errors[3] == "cif: sub/missing.cif: file not found"


def test_a_comma_in_an_unquoted_value_is_refused(tmp_path):
    """pandas would make the first column the index when the first data row has a field
    more than the header, and shift every column; that is an input error instead."""
    for rows in ("Li3InCl6,made by Smith, 2020\nLi3YCl6,ok\n", "Li3YCl6,ok\nLiCl,a,b\n"):
        (tmp_path / "in.csv").write_text("formula,note\n" + rows)
        with pytest.raises(MatscreenInputError, match="more fields than the header|readable"):
            read_predict_input(tmp_path / "in.csv")


def test_cifs_in_subfolders_are_named_not_silently_skipped(tmp_path, licl, caplog):
    (tmp_path / "top" / "sub").mkdir(parents=True)
    licl.to(filename=str(tmp_path / "top" / "sub" / "a.cif"))
    with pytest.raises(MatscreenInputError, match=r"no \.cif files \(subfolders with CIFs: sub\)"):
        read_predict_input(tmp_path / "top")
    licl.to(filename=str(tmp_path / "top" / "b.cif"))
    assert len(read_predict_input(tmp_path / "top").table) == 1
    assert "CIFs in its subfolder(s) sub are not read" in caplog.text


def test_unsupported_type_and_missing_path_are_usage_errors():
    Path("x.xlsx").write_text("nope")
    with pytest.raises(MatscreenInputError, match="unsupported file type"):
        read_predict_input("x.xlsx")
    with pytest.raises(MatscreenInputError, match="no such file"):
        read_predict_input("nothing.csv")


def test_split_sites_of_a_disordered_cif_are_not_overlaps(tmp_path):
    # two half-occupied Li positions 0.3 A apart (a split site) are one atom, not a clash
    from pymatgen.core import Lattice, Structure

    s = Structure(
        Lattice.cubic(5.0),
        [{"Li": 0.5}, {"Li": 0.5}, "Cl"],
        [[0.0, 0.0, 0.0], [0.06, 0.0, 0.0], [0.5, 0.5, 0.5]],
    )
    s.to(filename=str(tmp_path / "split.cif"))
    out = read_cif(tmp_path / "split.cif")
    assert not out.is_ordered and len(out) == 3
    s.replace(0, {"Li": 0.8})  # 0.8 + 0.5 atoms 0.3 A apart: a real clash
    s.to(filename=str(tmp_path / "clash.cif"))
    with pytest.raises(ValueError, match="overlapping atoms"):
        read_cif(tmp_path / "clash.cif")
