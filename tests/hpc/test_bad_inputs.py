"""The bad-input corpus (``tests/data/bad/``): every kind of bad input gets its own message.

Rules checked here (see ``/work/shared/docs/INTERFACE.md``):

* one bad row in a batch -> that row ``failed`` with its specific ``error``,
  the other rows ``ok``, exit code 1;
* a bad file or field as a whole -> exit code 2 with one line naming the
  file/field, no traceback;
* nothing hangs (every test has a timeout) and nothing is read from outside
  the input folder (the escape targets are valid CIFs: had they been read,
  their rows would be ``ok``).

Big inputs (the 10,000-atom cell) are generated at run time, not committed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from matscreen.cli import app

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
GOOD_CIF = "good_LiCl.cif"
runner = CliRunner()

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Copy the corpus to ``tmp_path/in`` (tests write next to it)."""
    folder = tmp_path / "in"
    shutil.copytree(BAD, folder)
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Put a valid CIF outside the input folder: reading it would make its row ``ok``."""
    folder = tmp_path / "outside"
    folder.mkdir()
    shutil.copy(BAD / GOOD_CIF, folder / "secret.cif")
    return folder / "secret.cif"


def _cli(*args: str) -> tuple[int, str]:
    """Run the CLI in this process; return (exit code, stdout + stderr)."""
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}\n{result.output}")
    return result.exit_code, result.output


def _assert_usage_error(code: int, output: str, *needles: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 2, output
    assert len(lines) == 1, f"expected one line, got:\n{output}"
    assert lines[0].startswith("matscreen: error: "), lines[0]
    assert "Traceback" not in output
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def _write_big_cif(path: Path, n_atoms: int = 10_000) -> None:
    """Write a P1 CIF of ``n_atoms`` Li/Cl sites without building a Structure (fast)."""
    n = round((n_atoms / 2) ** (1 / 3)) + 1
    rows = []
    for i in range(n_atoms):
        x, y, z = i % n, (i // n) % n, i // (n * n)
        rows.append(f"{'Li' if i % 2 else 'Cl'} X{i} 1 {x / n:.5f} {y / n:.5f} {z / n:.5f} 1")
    a = 2.6 * n
    path.write_text(
        f"data_big\n_symmetry_space_group_name_H-M 'P 1'\n_cell_length_a {a}\n"
        f"_cell_length_b {a}\n_cell_length_c {a * 2}\n_cell_angle_alpha 90\n"
        "_cell_angle_beta 90\n_cell_angle_gamma 90\n_symmetry_Int_Tables_number 1\n"
        "loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1 'x, y, z'\n"
        "loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_symmetry_multiplicity\n"
        " _atom_site_fract_x\n _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n"
        + "\n".join(rows)
        + "\n"
    )


# -- one bad row in a batch: the row fails with its reason, the others are ok, exit 1 ----------

#: (kind, formula, cif cell of the bad row, expected substring of its ``error``)
ROW_CASES: list[tuple[str, str, str, str]] = [
    ("truncated-cif", "LiCl", "truncated.cif",
     "truncated.cif: not a readable CIF (a loop has missing values; truncated file?)"),
    ("empty-cif", "LiCl", "empty.cif", "empty.cif: empty file"),
    ("binary-cif", "LiCl", "binary.cif", "binary.cif: binary data, not a CIF text file"),
    ("utf16-cif", "LiCl", "utf16.cif", "utf16.cif: UTF-16/32 encoded text"),
    ("nan-lattice", "LiCl", "nan_lattice.cif",
     "nan_lattice.cif: lattice is not finite or has zero volume (_cell_length_a=nan)"),
    ("zero-volume", "LiCl", "zero_volume.cif",
     "zero_volume.cif: lattice is not finite or has zero volume (_cell_length_c=0.0)"),
    ("overlapping-atoms", "LiCl", "overlapping.cif",
     "overlapping.cif: overlapping atoms (0.05 Å apart)"),
    ("unknown-element-cif", "LiCl", "unknown_element.cif",
     "unknown_element.cif: unknown element(s) Qq"),
    ("huge-cell", "LiCl", "big.cif",
     "big.cif: 10000 atom sites listed, more than the 2000 supported"),
    ("no-li-cif", "NaCl", "no_li.cif", "no Li in the composition"),
    ("no-li-formula", "NaCl", "", "no Li in the composition"),
    ("unknown-element-formula", "Xx2O", "", "unknown element(s) Xx"),
    ("unparseable-formula", "Li3Y((Cl6", "", "cannot parse formula 'Li3Y((Cl6'"),
    ("negative-amount", "Li-1Cl", "", "Amounts in Composition cannot be negative"),
    ("empty-formula", "", "", "empty formula"),
    ("path-traversal", "LiCl", "../../etc/passwd",
     "cif: cif path '../../etc/passwd' points outside the input folder"),
    ("escape-to-valid-cif", "LiCl", "../outside/secret.cif", "points outside the input folder"),
    ("absolute-path", "LiCl", "@OUTSIDE@", "points outside the input folder"),
    ("symlink-outside", "LiCl", "link.cif", "cif: cif path 'link.cif' points outside"),
    ("missing-cif", "LiCl", "nowhere.cif", "nowhere.cif: file not found"),
    ("cif-is-a-folder", "LiCl", "sub", "sub: not a regular file"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("formula", "cif", "needle"), [c[1:] for c in ROW_CASES], ids=[c[0] for c in ROW_CASES]
)
def test_one_bad_row_fails_alone(corpus: Path, outside: Path, formula: str, cif: str, needle: str):
    """One bad row among good ones: that row fails with its reason, exit 1."""
    if cif == "big.cif":
        _write_big_cif(corpus / "big.cif")
    (corpus / "link.cif").symlink_to(outside)
    (corpus / "sub").mkdir()
    cif = str(outside) if cif == "@OUTSIDE@" else cif
    pd.DataFrame(
        {"formula": ["LiCl", formula, "Li3YCl6"], "cif": [GOOD_CIF, cif, ""],
         "note": ["first", "bad", "last"]}
    ).to_csv(corpus / "batch.csv", index=False)  # fmt: skip
    code, output = _cli("predict", "conductivity", str(corpus / "batch.csv"), "--out", "o.csv")
    assert code == 1, output
    table = pd.read_csv("o.csv", keep_default_na=False)
    assert list(table["note"]) == ["first", "bad", "last"]  # every row, in order
    assert list(table["status"]) == ["ok", "failed", "ok"]
    assert needle in table["error"][1], table["error"][1]
    assert "1 row(s) failed" in output and needle.split(": ")[-1][:30] in output
    assert "Traceback" not in output


def test_bad_formula_batch_lists_each_reason(corpus: Path):
    """Every bad formula of a batch gets its own reason."""
    code, output = _cli(
        "predict", "conductivity", str(corpus / "bad_formulas.csv"), "--out", "o.csv"
    )
    assert code == 1, output
    table = pd.read_csv("o.csv", keep_default_na=False).set_index("note")
    assert table.loc["ok", "status"] == "ok"
    assert (table.drop(index="ok")["status"] == "failed").all()
    assert "cannot parse formula" in table.loc["unparseable", "error"]
    assert "unknown element(s) Xx" in table.loc["unknown element", "error"]
    assert "no Li" in table.loc["no Li", "error"]
    assert table.loc["empty", "error"] == "empty formula"
    assert "cannot be negative" in table.loc["negative", "error"]
    assert "amounts must be finite" in table.loc["infinite", "error"]
    assert "Li metal, not a compound" in table.loc["Li metal", "error"]
    # typing slips that overflowed the float32 features (and failed the whole batch)
    assert "1e+40 Li per formula unit is out of range" in table.loc["overflow", "error"]
    assert "differ by more than a factor" in table.loc["dilute", "error"]


def test_traversal_csv_from_corpus(corpus: Path):
    """A ``cif`` path escaping the CSV's folder fails its row only."""
    code, _ = _cli("predict", "conductivity", str(corpus / "traversal.csv"), "--out", "o.csv")
    table = pd.read_csv("o.csv", keep_default_na=False)
    assert code == 1
    assert list(table["status"]) == ["ok", "failed", "ok"]
    assert "'../../etc/passwd' points outside the input folder" in table["error"][1]


def test_duplicate_ids_pass_through_unchanged(corpus: Path):
    """``predict`` keeps every row: duplicate ids are the user's rows, not an error."""
    code, output = _cli(
        "predict", "conductivity", str(corpus / "duplicate_ids.csv"), "--out", "o.csv"
    )
    assert code == 0, output
    table = pd.read_csv("o.csv", keep_default_na=False)
    assert list(table["id"]) == ["cand-1", "cand-1", "cand-2"]
    assert list(table["note"]) == ["a", "b", "c"]
    assert (table["status"] == "ok").all()
    assert table["log10_sigma"][0] == pytest.approx(table["log10_sigma"][1], abs=1e-6)


def test_folder_with_symlink_outside_and_bad_cifs(corpus: Path, outside: Path, tmp_path: Path):
    """A folder of CIFs: escaping symlinks and bad files fail their rows only."""
    folder = tmp_path / "cifs"
    folder.mkdir()
    for name in (GOOD_CIF, "truncated.cif", "no_li.cif"):
        shutil.copy(corpus / name, folder / name)
    (folder / "escape.cif").symlink_to(outside)
    (folder / "inner_link.cif").symlink_to(folder / GOOD_CIF)  # inside: fine
    code, output = _cli("predict", "conductivity", str(folder), "--out", "o.csv")
    assert code == 1, output
    table = pd.read_csv("o.csv", keep_default_na=False).set_index("file")
    assert table.loc["escape.cif", "status"] == "failed"
    assert table.loc["escape.cif", "error"] == "escape.cif: symlink points outside the input folder"
    assert table.loc["inner_link.cif", "status"] == "ok"
    assert table.loc[GOOD_CIF, "status"] == "ok"
    assert "truncated file?" in table.loc["truncated.cif", "error"]
    assert "no Li" in table.loc["no_li.cif", "error"]


def test_single_bad_cif_as_input_is_a_failed_row(corpus: Path):
    """A single bad CIF as INPUT is one failed row (exit 1), not a crash."""
    code, output = _cli(
        "predict", "conductivity", str(corpus / "overlapping.cif"), "--out", "o.csv"
    )
    assert code == 1, output
    table = pd.read_csv("o.csv", keep_default_na=False)
    assert list(table["status"]) == ["failed"]
    assert "overlapping atoms" in table["error"][0]


# -- a bad file as a whole: exit 2, one line naming the file, no traceback ---------------------

FILE_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("unsupported-type", "table.xlsx", ("table.xlsx", "unsupported file type .xlsx")),
    ("missing-formula-column", "missing_formula.csv",
     ("missing_formula.csv", "missing column(s) formula for conductivity")),
    ("empty-csv", "empty.csv", ("empty.csv", "empty file, expected a CSV with a header")),
    ("header-only-csv", "header_only.csv", ("header_only.csv", "no data rows (only a header)")),
    ("utf16-csv", "utf16.csv", ("utf16.csv", "UTF-16/32 encoded text; save the CSV as UTF-8")),
    ("folder-without-cifs", "@EMPTY_DIR@", ("empty_dir", "folder holds no .cif files")),
    ("missing-input", "nothing_here.csv", ("nothing_here.csv", "no such file or folder")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "needles"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_bad_input_file_is_a_usage_error(corpus: Path, name: str, needles: tuple[str, ...]):
    """A bad input file as a whole: exit 2, one line naming it."""
    if name == "@EMPTY_DIR@":
        (corpus / "empty_dir").mkdir()
        (corpus / "empty_dir" / "notes.txt").write_text("no CIFs here")
        name = "empty_dir"
    code, output = _cli("predict", "conductivity", str(corpus / name), "--out", "o.csv")
    _assert_usage_error(code, output, *needles)
    assert not Path("o.csv").exists()


def test_unknown_property_is_a_usage_error(corpus: Path):
    """An unknown PROPERTY is a usage error."""
    code, output = _cli("predict", "density", str(corpus / "bad_formulas.csv"), "--out", "o.csv")
    _assert_usage_error(code, output, "unknown property 'density'")


def test_unknown_trainable_model_is_a_usage_error():
    """An unknown MODEL for ``train`` is a usage error."""
    code, output = _cli("train", "stability", "--out", "m.pt")
    _assert_usage_error(code, output, "unknown model 'stability'")


# -- workflow YAML: exit 2 naming the file and the field ---------------------------------------

WORKFLOW_CASES: list[tuple[str, tuple[str, ...]]] = [
    ("wf_syntax_error.yaml", ("not valid YAML",)),
    ("wf_misspelled_field.yaml", ("screening.bvse_topk: unknown field (misspelled?)",)),
    ("wf_missing_field.yaml", ("candidates: Field required",)),
    ("wf_wrong_type.yaml", ("seed: Input should be a valid integer",)),
    ("wf_negative.yaml", ("screening.bvse_resolution: Input should be greater than 0.05",)),
    ("wf_wrong_units.yaml", ("screening.bvse_resolution: Input should be a valid number",)),
    ("wf_unknown_family.yaml", ("family: Input should be 'halide_electrolyte'",)),
    ("wf_zero_limit.yaml", ("candidates.limit: Input should be greater than or equal to 1",)),
    ("wf_empty.yaml", ("a workflow must be a YAML mapping of fields",)),
    ("wf_not_there.yaml", ("workflow file not found",)),
]


@pytest.mark.parametrize(("name", "needles"), WORKFLOW_CASES, ids=[c[0] for c in WORKFLOW_CASES])
def test_bad_workflow_is_a_usage_error(corpus: Path, name: str, needles: tuple[str, ...]):
    """A bad workflow YAML: exit 2, one line naming the file and field."""
    code, output = _cli("screen", str(corpus / name), "--out", "run", "--dry-run")
    _assert_usage_error(code, output, name, *needles)


def test_unknown_space_name_fails_the_run_before_any_work(corpus: Path):
    """An unknown space name stops the run at once with exit 2."""
    code, output = _cli("screen", str(corpus / "wf_unknown_space.yaml"), "--out", "run")
    _assert_usage_error(
        code, output, "wf_unknown_space.yaml", "candidates.space: no_such_space: no such file, "
        "and not a shipped space",
    )  # fmt: skip
    assert not Path("run/results.parquet").exists()


def test_unknown_space_name_fails_the_dry_run(corpus: Path):
    """The dry run should validate the candidate space too."""
    code, output = _cli(
        "screen", str(corpus / "wf_unknown_space.yaml"), "--out", "run", "--dry-run"
    )
    _assert_usage_error(code, output, "candidates.space")


# -- candidate spaces --------------------------------------------------------------------------


def test_partial_occupancy_beyond_ordering_cap_is_a_failed_record(corpus: Path):
    """A partial occupancy needing too big a cell is a failed record."""
    from matscreen.candidates.generate import generate_candidates
    from matscreen.candidates.space import load_space

    records = generate_candidates(load_space(corpus / "space_ordering_cap.yaml"))
    by_status = {r.status: r for r in records}
    assert set(by_status) == {"ok", "failed"}
    assert by_status["ok"].formula == "Li3YCl6"
    assert by_status["failed"].error == (
        "site fractions need a 7x supercell of the 33-site primitive cell (207 atoms), "
        "above max_atoms=40"
    )


def test_charge_imbalanced_composition_is_dropped(corpus: Path, caplog: pytest.LogCaptureFixture):
    """A composition that cannot be charge balanced is not built."""
    from matscreen.candidates.generate import generate_candidates
    from matscreen.candidates.space import load_space

    with caplog.at_level(logging.INFO, logger="matscreen.candidates.generate"):
        records = generate_candidates(load_space(corpus / "space_charge_imbalanced.yaml"))
    assert [r.formula for r in records] == ["Li3YCl6"]  # Li3ZrCl6 (+1 excess) is not built
    assert "1 not charge balanced" in caplog.text


SPACE_CASES: list[tuple[str, str]] = [
    ("space_unknown_element.yaml", "prototypes.0.sites: Value error, unknown element 'Qq'"),
    ("space_unknown_prototype.yaml", "unknown prototype 'NoSuch_P1'; known prototypes: "),
    ("space_fractions_sum.yaml", "site fractions of {'Cl': 0.5, 'Br': 0.6} sum to 1.1000, not 1"),
    ("space_unknown_site.yaml", "site 'Zr' is not an element of prototype Li3YCl6_P-3m1"),
    ("no_such_space", "no_such_space: no such file, and not a shipped space"),
]


@pytest.mark.parametrize(("name", "needle"), SPACE_CASES, ids=[c[0] for c in SPACE_CASES])
def test_bad_space_names_file_and_field(corpus: Path, name: str, needle: str):
    """A bad candidate space names the file and the field."""
    from matscreen.candidates.space import load_space

    target = corpus / name if name.endswith(".yaml") else name
    with pytest.raises(ValueError) as info:
        load_space(target)
    message = str(info.value)
    assert needle in message, message
    assert name in message


# -- the streaming path: bad and duplicate rows come back failed, once each --------------------


def test_stream_marks_bad_and_duplicate_rows(tmp_path: Path):
    """The streaming stage fails bad and duplicate rows, each row once."""
    import json

    import pyarrow.dataset as ds
    from pymatgen.core import Lattice, Structure

    from matscreen.screening.stream import featurize_predict_stream

    s = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], [[0, 0, 0], [0.5] * 3]
    )
    good = json.dumps(s.as_dict())
    rows = [
        {"id": "a", "formula": "LiCl", "status": "ok", "error": None, "structure": good},
        {"id": "a", "formula": "LiCl", "status": "ok", "error": None, "structure": good},
        {"id": "b", "formula": "LiCl", "status": "ok", "error": None, "structure": "{not json"},
        {"id": "c", "formula": "LiCl", "status": "ok", "error": None, "structure": None},
        {"id": "d", "formula": "LiCl", "status": "failed", "error": "generation: x",
         "structure": None},
    ]  # fmt: skip
    opts = {
        "composition": True,
        "structure": False,
        "transport": False,
        "family": "halide_electrolyte",
    }
    out = featurize_predict_stream(
        iter(rows), client=None, options=opts, out_dir=tmp_path / "parts"
    )
    table = ds.dataset(out, format="parquet").to_table().to_pandas()
    table = table.sort_values("row_index").reset_index(drop=True)
    assert list(table["id"]) == ["a", "a", "b", "c", "d"]
    assert list(table["status"]) == ["ok", "failed", "failed", "failed", "failed"]
    assert "duplicate id 'a'" in table["error"][1]
    assert "unreadable structure" in table["error"][2]
    assert "no structure" in table["error"][3]
    assert table["error"][4] == "generation: x"


# -- the real command line in a subprocess: exit codes and no tracebacks ------------------------


def _subprocess(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "matscreen.cli", "--log-level", "WARNING", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, env=env,
    )  # fmt: skip


def test_real_cli_usage_errors_are_one_line(corpus: Path):
    """The real CLI prints one line and exits 2 on input errors."""
    for args, needle in [
        (["predict", "conductivity", "header_only.csv", "--out", "o.csv"], "no data rows"),
        (["screen", "wf_misspelled_field.yaml", "--out", "run", "--dry-run"], "bvse_topk"),
    ]:
        proc = _subprocess(*args, cwd=corpus)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0] and args[1 if args[0] == "predict" else 1]
        assert "Traceback" not in proc.stderr


def test_real_cli_bad_row_exit_code_1(corpus: Path):
    """The real CLI exits 1 and lists the failed row."""
    proc = _subprocess("predict", "conductivity", "traversal.csv", "--out", "o.csv", cwd=corpus)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "1 row(s) failed" in proc.stderr
    assert "'../../etc/passwd' points outside the input folder" in proc.stderr


def test_an_earlier_output_fed_back_keeps_its_values_apart(tmp_path: Path):
    """Input columns named like result columns (an edited earlier output) keep their values
    as input_<name>; the result columns hold this run's numbers. Columns named structure*
    or input_error are the user's: passed through, never read as structures."""
    pd.DataFrame(
        {
            "formula": ["Li7La3Zr2O12", "NaCl"],
            "status": ["synthesized", "planned"],
            "log10_sigma": ["-3.1", "-9"],
            "structure": ["garnet", "rocksalt"],
            "structure_id": ["mp-1", ""],
            "input_error": ["n/a", ""],
        }
    ).to_csv(tmp_path / "in.csv", index=False)
    code, output = _cli("predict", "conductivity", str(tmp_path / "in.csv"), "--out", "o.csv")
    assert code == 1, output  # NaCl has no Li
    table = pd.read_csv("o.csv", keep_default_na=False, dtype=str)
    assert list(table.columns[:7]) == [
        "formula", "input_status", "input_log10_sigma", "structure", "structure_id",
        "input_error", "status",
    ]  # fmt: skip
    assert list(table["input_status"]) == ["synthesized", "planned"]
    assert list(table["input_log10_sigma"]) == ["-3.1", "-9"]
    assert list(table["structure"]) == ["garnet", "rocksalt"]
    assert list(table["status"]) == ["ok", "failed"]
    assert float(table["log10_sigma"][0]) != -3.1 and table["log10_sigma"][1] == ""
    assert "no Li" in table["error"][1] and "row 2 NaCl: no Li" in output


def test_out_that_cannot_be_a_file_is_refused_before_any_work(corpus: Path, tmp_path: Path):
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("x")
    for out, needle in ((tmp_path / "a_folder", "is a folder"),
                        (tmp_path / "a_file" / "o.csv", "is a file, not a folder")):  # fmt: skip
        code, output = _cli("predict", "stability", str(corpus / "bad_formulas.csv"), "--out",
                            str(out))  # fmt: skip
        _assert_usage_error(code, output, needle)


def test_a_formula_that_its_cif_contradicts_is_named(corpus: Path):
    """The CIF is what the model reads; a row whose formula's stoichiometry says otherwise
    keeps status ok and says so in result_note, one that names other elements (another compound)
    fails with no value. A voltage row with one CIF says the surrogate was used."""
    pd.DataFrame(
        {"formula": ["LiCl", "Li1.1Cl", "Li3InCl6"], "cif": [GOOD_CIF, GOOD_CIF, GOOD_CIF]}
    ).to_csv(corpus / "mismatch.csv", index=False)
    code, output = _cli("predict", "conductivity", str(corpus / "mismatch.csv"), "--out", "o.csv")
    assert code == 1, output
    table = pd.read_csv("o.csv", keep_default_na=False)
    assert list(table["status"]) == ["ok", "ok", "failed"] and table["error"][0] == ""
    assert table["error"][1] == "" and table["result_note"][2] == ""  # error: failures only
    assert table["result_note"][1].endswith(
        "formula Li1.1Cl differs from its CIF's composition LiCl; the CIF was used"
    )
    assert table["error"][2] == (
        "formula Li3InCl6 and its CIF (LiCl) are different compounds (In on one side only)"
    )
    assert table["log10_sigma"][2] == "" and table["log10_sigma"][1] != ""
    from matscreen.physics.references import BUILTIN_REFERENCES

    BUILTIN_REFERENCES["LiMn2O4"]().to(filename=str(corpus / "lmo.cif"))
    pd.DataFrame(
        {"formula_charge": ["Mn2O4", "Mn2O4"], "formula_discharge": ["LiMn2O4", "LiMn2O4"],
         "cif_discharge": ["lmo.cif", GOOD_CIF]}
    ).to_csv(corpus / "one_side.csv", index=False)  # fmt: skip
    code, output = _cli("predict", "voltage", str(corpus / "one_side.csv"), "--out", "v.csv")
    table = pd.read_csv("v.csv", keep_default_na=False)
    assert code == 1 and table["method"][0] == "surrogate", output
    assert "only cif_discharge given: the composition surrogate was used" in table["result_note"][0]
    assert table["error"][0] == "" and table["status"][0] == "ok"
    # the one CIF given is still read against its formula: LiCl is not LiMn2O4
    assert table["status"][1] == "failed" and table["voltage"][1] == ""
    assert (
        "formula_discharge LiMn2O4 and its CIF (LiCl) are different compounds"
        in (table["error"][1])
    )


def test_bad_log_level_and_debug_keep_exit_code_2(corpus: Path):
    code, output = _cli("--log-level", "LOUD", "predict", "conductivity", "x.csv", "--out", "o.csv")
    _assert_usage_error(code, output, "--log-level LOUD")
    code, output = _cli("--debug", "predict", "conductivity", "nothing.csv", "--out", "o.csv")
    assert code == 2 and "no such file" in output


def test_a_rerun_of_predict_stability_resumes_its_finished_rows(corpus: Path, monkeypatch):
    """Each finished row of the slow properties is kept in OUT.partial/ until OUT is
    written; a rerun after a crash reuses them (the model is not called for them) and gives
    the same table; a changed row is computed again."""
    import matscreen.core.predict as predict

    pd.DataFrame(
        {"formula": ["LiCl", "Li2O", "LiCl", "Li9Zz"], "cif": ["", "", GOOD_CIF, ""]}
    ).to_csv(corpus / "rows.csv", index=False)
    partial = corpus / "o.csv.partial"
    first = predict.predict_file("stability", corpus / "rows.csv", checkpoint=partial)
    assert list(first["status"]) == ["ok", "ok", "ok", "failed"]
    assert len(list(partial.glob("stability-*.json"))) == 3  # failed rows are tried again
    calls: list[int] = []
    real = predict._model

    def counting(prop: str):  # noqa: ANN202
        model = real(prop)
        return lambda rows, **kw: (calls.append(len(rows)), model(rows, **kw))[1]

    monkeypatch.setattr(predict, "_model", counting)
    again = predict.predict_file("stability", corpus / "rows.csv", checkpoint=partial)
    assert calls == [1]  # the failed row only
    pd.testing.assert_frame_equal(first, again)
    pd.DataFrame({"formula": ["LiCl", "Li2Cl2", "LiCl"], "cif": ["", "", ""]}).to_csv(
        corpus / "rows.csv", index=False
    )
    calls.clear()
    changed = predict.predict_file("stability", corpus / "rows.csv", checkpoint=partial)
    assert calls == [1]  # row 2 is new; row 3 now equals row 1 (formula LiCl, no CIF)
    assert list(changed["decomposition"]) == [["LiCl"]] * 3
    # the CLI removes the folder once the output is written
    code, output = _cli(
        "predict", "stability", str(corpus / "rows.csv"), "--out", str(corpus / "o.csv")
    )
    assert code == 0, output
    assert (corpus / "o.csv").is_file() and not partial.exists()
    # the formula lists are JSON in the CSV (a JSON or Python reader takes them)
    written = pd.read_csv(corpus / "o.csv")
    assert [json.loads(v) for v in written["decomposition"]] == [["LiCl"]] * 3


def test_a_bad_setting_is_one_usage_error_naming_it(corpus: Path, monkeypatch):
    from matscreen.core.settings import get_settings

    monkeypatch.setenv("MATSCREEN_DEFAULT_CALCULATOR", "mace")
    get_settings.cache_clear()
    try:
        code, output = _cli("predict", "stability", str(corpus / "bad_formulas.csv"), "--out",
                            "o.csv")  # fmt: skip
    finally:
        get_settings.cache_clear()
    _assert_usage_error(code, output, "DEFAULT_CALCULATOR: Input should be 'chgnet' or 'sevenn'")
    assert not Path("o.csv").exists()


def test_row_labels_of_a_csv_with_its_own_file_column(tmp_path: Path):
    pd.DataFrame({"formula": ["Li3YCl6", "NaCl"], "file": ["s1", "s2"]}).to_csv(
        tmp_path / "in.csv", index=False
    )
    code, output = _cli("predict", "conductivity", str(tmp_path / "in.csv"), "--out", "o.csv")
    assert code == 1 and "row 2 NaCl: no Li" in output and "s2" not in output


def test_formulas_as_users_write_them_in_stability_and_from_decorated_cifs(tmp_path: Path):
    """Adducts are read in every property; '.nH2O' is refused with a hint; a CIF whose
    species carry oxidation states (CifWriter after add_oxidation_state_by_element) reads
    as its elements; a pure element is its own reference (no 'missing phases' flag)."""
    from pymatgen.core import Structure
    from pymatgen.io.cif import CifWriter

    s = Structure.from_file(BAD / GOOD_CIF)
    s.add_oxidation_state_by_element({"Li": 1, "Cl": -1})
    CifWriter(s).write_file(tmp_path / "ox.cif")
    code, output = _cli("predict", "conductivity", str(tmp_path / "ox.cif"), "--out", "c.csv")
    assert code == 0, output
    pd.DataFrame({"formula": ["LiCl*3H2O", "LiCl.H2O", "Li", "LiCl", "LiCl*H2O"]}).to_csv(
        tmp_path / "in.csv", index=False
    )
    code, output = _cli("predict", "stability", str(tmp_path / "in.csv"), "--out", "s.csv")
    table = pd.read_csv("s.csv", keep_default_na=False)
    assert "no reference phase" in table["error"][0]  # read, but no trihydrate reference
    assert "decimal point" in table["error"][1]
    assert table["status"][2] == "ok" and table["hull_complete"][2] and not table["error"][2]
    assert (
        table["result_note"][2] == ""
    )  # Li metal left over is a real product, not a missing phase
    assert table["status"][3] == "ok"
    # the monohydrate is a known compound (mp-760502): its relaxed cell is the structure
    assert table["status"][4] == "ok"
    assert float(table["e_above_hull"][4]) == pytest.approx(0, abs=0.01)


def test_a_second_predict_into_the_same_output_is_refused(corpus: Path):
    from matscreen.core.locks import RunLock

    with RunLock(Path("o.csv.partial")):  # another predict writing o.csv
        code, output = _cli("predict", "conductivity", str(corpus / "bad_formulas.csv"),
                            "--out", "o.csv")  # fmt: skip
    _assert_usage_error(code, output, "in use by another matscreen run")
    assert not Path("o.csv").exists()
    code, output = _cli("predict", "conductivity", str(corpus / "bad_formulas.csv"), "--out",
                        "o.csv")  # fmt: skip
    assert code == 1 and Path("o.csv").exists() and not Path("o.csv.partial").exists()


def test_voltage_from_a_cif_says_it_needs_a_csv_of_pairs(corpus: Path):
    code, output = _cli("predict", "voltage", str(corpus / GOOD_CIF), "--out", "v.csv")
    _assert_usage_error(code, output, "missing column(s) formula_charge", "CSV of electrode pairs")


def test_predict_never_deletes_a_checkpoint_another_run_locked_after_it(corpus: Path, monkeypatch):
    """The checkpoint is cleared while the lock is still held; a run that takes the lock
    the moment it is released keeps its folder (the folder was removed after release)."""
    from matscreen.core.locks import RunLock

    real_release = RunLock.release

    def release_then_another_run_locks(self: RunLock) -> None:
        real_release(self)
        RunLock(self.folder).acquire()  # a second predict into the same OUT starts now

    monkeypatch.setattr(RunLock, "release", release_then_another_run_locks)
    code, output = _cli("predict", "conductivity", str(corpus / "bad_formulas.csv"), "--out",
                        "o.csv")  # fmt: skip
    assert code == 1 and Path("o.csv").exists(), output
    assert [p.name for p in Path("o.csv.partial").iterdir()] == ["run.lock"]
