"""The command line: exit codes, one-line errors, dry run, a real small run."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matscreen.cli import app

runner = CliRunner()

SPACE = """
name: tiny
family: oxide_electrolyte
prototypes:
  - prototype: Li3OCl_Pm-3m
    sites:
      Cl: [Cl, Br]
      Li: [Li, Na]
    compensation: li
"""
WORKFLOW = """
name: tiny
family: oxide_electrolyte
candidates:
  space: space.yaml
screening:
  bvse_top_k: 0
"""


def _files() -> Path:
    Path("space.yaml").write_text(SPACE)
    Path("wf.yaml").write_text(WORKFLOW)
    return Path("wf.yaml")


def test_importing_matscreen_is_light_and_lists_screen():
    """`import matscreen` pulls in neither dask nor torch; `screen` shows in dir()."""
    code = (
        "import sys, matscreen; assert 'screen' in dir(matscreen); "
        "assert not {'dask', 'torch', 'pymatgen'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_dask_info_chatter_stays_off_stderr_unless_the_user_configured_it(tmp_path: Path) -> None:
    """distributed resets its loggers from the dask config when first imported, after
    the CLI set them: the CLI must leave its level in that config (the main job printed
    ~30 scheduler lines; a SLURM run a CommClosedError traceback logged at INFO). DEBUG
    keeps distributed's own INFO, ERROR is kept, and a logging set-up of the user's own
    in the dask config (a level, or a logging file, which may not meet a `logging` key)
    is left alone."""
    code = (
        "import logging, sys; from matscreen.cli import _main; "
        "_main(debug=False, log_level=sys.argv[1]); import distributed; "
        "print(logging.getLogger('distributed.scheduler').getEffectiveLevel(), "
        "logging.getLogger('distributed.batched').getEffectiveLevel())"
    )
    # no DASK_* from this environment, and no ~/.config/dask of the user running the tests
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")} | {
        "HOME": str(tmp_path)
    }

    def levels(log_level: str, **extra: str) -> list[int]:
        done = subprocess.run([sys.executable, "-c", code, log_level], capture_output=True,
                              text=True, check=True, timeout=120, env=env | extra)  # fmt: skip
        return [int(v) for v in done.stdout.split()]

    assert levels("INFO") == [logging.WARNING] * 2
    assert levels("ERROR") == [logging.ERROR] * 2
    assert levels("DEBUG") == [logging.INFO] * 2  # distributed's own default
    assert levels("INFO", DASK_LOGGING__DISTRIBUTED="info") == [logging.INFO] * 2
    ini = tmp_path / "log.ini"
    ini.write_text(
        "[loggers]\nkeys=root\n[handlers]\nkeys=h\n[formatters]\nkeys=\n"
        "[logger_root]\nlevel=ERROR\nhandlers=h\n"
        "[handler_h]\nclass=StreamHandler\nargs=(sys.stderr,)\n"
    )
    (tmp_path / "dask").mkdir()
    (tmp_path / "dask" / "logging.yaml").write_text(f"logging-file-config: {ini}\n")
    # the file's ERROR level, and no "'logging-file-config' and 'logging' are mutually exclusive"
    assert levels("INFO", DASK_CONFIG=str(tmp_path / "dask")) == [logging.ERROR] * 2


def test_help_lists_commands():
    result = runner.invoke(app, ["-h"])
    assert result.exit_code == 0 and "screen" in result.output


def test_misspelled_field_exits_2_with_one_line_and_no_traceback():
    Path("wf.yaml").write_text(WORKFLOW.replace("family", "famly"))
    proc = subprocess.run(
        [sys.executable, "-m", "matscreen.cli", "screen", "wf.yaml", "--out", "o"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert (
        lines[-1].startswith("matscreen: error: wf.yaml:") and "famly: unknown field" in lines[-1]
    )


def test_missing_workflow_and_missing_option_exit_2():
    assert runner.invoke(app, ["screen", "nope.yaml", "--out", "o"]).exit_code == 2
    assert runner.invoke(app, ["screen", "nope.yaml"]).exit_code == 2  # --out is required


def test_the_console_script_gives_usage_errors_in_one_line(tmp_path):
    """A missing or unknown option: `matscreen: error: ...`, exit 2, no Typer panel."""
    for args, needle in ((["predict", "conductivity", "x.csv"], "Missing option '--out'"),
                         (["predict", "conductivity", "x.csv", "--out", "o.csv", "--bogus"],
                          "No such option: --bogus")):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "matscreen.cli", *args],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
        )  # fmt: skip
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        assert done.returncode == 2 and len(lines) == 1, lines
        assert lines[0].startswith("matscreen: error: ") and needle in lines[0]
    # an input error leaves no empty OUT.partial/ folder behind
    (tmp_path / "pairs.csv").write_text("formula\nLiCoO2\n")
    result = runner.invoke(app, ["predict", "voltage", str(tmp_path / "pairs.csv"),
                                 "--out", str(tmp_path / "v.csv")])  # fmt: skip
    assert result.exit_code == 2 and not (tmp_path / "v.csv.partial").exists()


@pytest.mark.parametrize(
    ("stop", "code"), [(KeyboardInterrupt(), 130), (SystemExit(143), 143), (SystemExit(129), 129)]
)
def test_an_interrupted_predict_keeps_its_rows_and_says_so(monkeypatch, tmp_path, stop, code):
    """Ctrl-C, and SIGTERM/SIGHUP while a cluster is open (SystemExit 143/129 then)."""
    import matscreen.core.predict as predict

    def interrupted(prop, input_path, checkpoint, model):  # noqa: ANN001, ANN202
        checkpoint.mkdir(exist_ok=True)
        (checkpoint / "stability-row1.json").write_text("{}")  # one row had finished
        raise stop

    monkeypatch.setattr(predict, "predict_file", interrupted)
    (tmp_path / "f.csv").write_text("formula\nLiCl\nLi3YCl6\n")
    out = tmp_path / "s.csv"
    result = runner.invoke(
        app, ["predict", "stability", str(tmp_path / "f.csv"), "--out", str(out)]
    )
    assert result.exit_code == code
    assert "interrupted" in result.output and "1 finished row(s) are kept" in result.output
    assert (tmp_path / "s.csv.partial" / "stability-row1.json").is_file() and not out.exists()
    # stopped in the first batch: no row saved, but the relaxations it finished were cached
    from matscreen.core.settings import get_settings

    shutil.rmtree(tmp_path / "s.csv.partial")
    monkeypatch.delenv("MATSCREEN_RELAX_CACHE", raising=False)  # the default: on
    get_settings.cache_clear()
    monkeypatch.setattr(predict, "predict_file", lambda *a, **k: (_ for _ in ()).throw(stop))
    result = runner.invoke(
        app, ["predict", "stability", str(tmp_path / "f.csv"), "--out", str(out)]
    )
    assert result.exit_code == code and "no row had been saved" in result.output
    assert "relaxations are kept in the relaxation cache" in result.output
    # with the relaxation cache off nothing is kept, and nothing is claimed
    monkeypatch.setenv("MATSCREEN_RELAX_CACHE", "false")
    get_settings.cache_clear()
    try:
        result = runner.invoke(
            app, ["predict", "stability", str(tmp_path / "f.csv"), "--out", str(out)]
        )
    finally:
        monkeypatch.delenv("MATSCREEN_RELAX_CACHE")
        get_settings.cache_clear()
    assert result.exit_code == code and "no row had been saved" in result.output
    assert "relaxation cache" not in result.output


def test_slips_in_the_options_and_the_csv_are_named_before_any_work():
    """The input as --out, a bad --cluster (dry run too), a file as screen's --out folder,
    and a CSV with another separator or header spelling: exit 2 with what to change."""
    Path("in.csv").write_text("formula\nLiCl\n")
    result = runner.invoke(app, ["predict", "conductivity", "in.csv", "--out", "in.csv"])
    assert result.exit_code == 2 and "is the input file" in result.output
    assert Path("in.csv").read_text() == "formula\nLiCl\n"
    for name, text, needle in (
        ("semi.csv", "formula;x\nLiCl;1\n", "the CSV must be comma-separated"),
        ("caps.csv", " Formula ,x\nLiCl,1\n", "found ' Formula ': column names are lower case"),
        ("other.csv", "composition\nLiCl\n", "missing column(s) formula for conductivity "
                                               "(found 'composition')"),
    ):  # fmt: skip
        Path(name).write_text(text)
        result = runner.invoke(app, ["predict", "conductivity", name, "--out", "o.csv"])
        assert result.exit_code == 2 and needle in result.output, result.output
    workflow = str(_files())
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(
            app, ["screen", workflow, "--out", "o", "--cluster", "bogus", *extra]
        )
        assert (
            result.exit_code == 2
            and "cluster 'bogus' (--cluster, or cluster= in Python) is not one of" in result.output
        )
        assert not Path("o").exists()
    result = runner.invoke(app, ["screen", workflow, "--out", "in.csv"])
    assert result.exit_code == 2 and "--out in.csv is a file" in result.output


def test_a_space_that_cannot_give_candidates_is_refused_with_its_reason():
    """A space of another family than the workflow's, or a site with an empty list, gave
    0 candidates and a KeyError traceback; the dry run accepted both."""
    _files()
    Path("wf_cathode.yaml").write_text(WORKFLOW.replace("oxide_electrolyte", "mn_cathode"))
    for extra in (["--dry-run"], []):
        result = runner.invoke(app, ["screen", "wf_cathode.yaml", "--out", "o", *extra])
        assert result.exit_code == 2, result.output
        assert (
            "family mn_cathode but candidates.space tiny holds no prototype of that family: "
            "Li3OCl_Pm-3m (oxide_electrolyte)"
        ) in result.output
    Path("space.yaml").write_text(SPACE.replace("Li: [Li, Na]", "Li: []"))
    result = runner.invoke(app, ["screen", "wf.yaml", "--out", "o", "--dry-run"])
    assert result.exit_code == 2 and "site Li: empty list" in result.output, result.output
    assert not Path("o").exists()


def test_a_workflow_given_to_the_other_command_says_which_command_it_is_for():
    from matscreen.core.paths import workflows_dir

    screening = str(workflows_dir() / "halide_electrolytes.yaml")
    design = str(workflows_dir() / "design_halide_electrolytes.yaml")
    result = runner.invoke(app, ["design", screening, "--out", "d"])
    assert result.exit_code == 2 and "run it with `matscreen screen`" in result.output
    result = runner.invoke(app, ["screen", design, "--out", "s", "--dry-run"])
    assert result.exit_code == 2 and "this is a design workflow (" in result.output
    assert "run it with `matscreen design`" in result.output


def test_unexpected_errors_keep_their_own_traceback(monkeypatch):
    """Typer 0.29 moved Abort out of its click copy: looking it up in the error handler
    raised an AttributeError on top of every unexpected error."""
    import pytest

    import matscreen.cli as cli

    def boom(**kwargs):  # noqa: ANN003, ANN202
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "app", boom)
    with pytest.raises(RuntimeError, match="boom"):
        cli.main()
    from typer.exceptions import Abort

    def aborted(**kwargs):  # noqa: ANN003, ANN202
        raise Abort

    monkeypatch.setattr(cli, "app", aborted)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1


def test_dry_run_prints_plan_and_writes_nothing():
    result = runner.invoke(app, ["screen", str(_files()), "--out", "o", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "workflow     tiny" in result.output and "stage 1" in result.output
    assert "conductivity surrogate" in result.output
    assert "stage 2" not in result.output  # no BVSE (bvse_top_k: 0) and no MLIP stage
    assert not Path("o").exists()
    Path("wf.yaml").write_text(
        WORKFLOW + "  mlip_top_k: 4\n  md_top_k: 2\n  max_cost_usd_per_kg: 50\n"
    )
    result = runner.invoke(app, ["screen", "wf.yaml", "--out", "o", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "raw-element cost <= 50 USD/kg" in result.output
    # stages are numbered as they run: no BVSE here, so the MLIP stage is the second
    assert "stage 2      MLIP relaxation (chgnet" in result.output and "top 4" in result.output
    assert "stage 3      MLIP MD" in result.output and "top 2" in result.output
    cathodes = Path(__file__).parents[2] / "workflows" / "mn_cathodes.yaml"
    result = runner.invoke(app, ["screen", str(cathodes), "--out", "o", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "voltage surrogate" in result.output and "conductivity" not in result.output
    assert "stage 2      MLIP relaxation" in result.output and "stage 3" not in result.output


def test_run_with_failed_rows_exits_1_and_lists_them():
    result = runner.invoke(app, ["screen", str(_files()), "--out", "o", "--workers", "1"])
    assert result.exit_code == 1, result.output
    assert Path("o/results.parquet").is_file()
    assert "row(s) failed" in result.output and "no Li" in result.output


def test_an_interrupted_run_says_how_to_resume(monkeypatch):
    """Ctrl-C: exit 130; --resume is suggested when a chunk had finished, not before."""
    import matscreen.screening.run as run

    def interrupted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "screen", interrupted)
    result = runner.invoke(app, ["screen", str(_files()), "--out", "o"])
    assert result.exit_code == 130
    assert "interrupted; no chunk had finished" in result.output
    Path("o/checkpoints").mkdir(parents=True)
    Path("o/checkpoints/featurize-abc.parquet").write_bytes(b"")
    result = runner.invoke(app, ["screen", str(_files()), "--out", "o", "--resume"])
    assert result.exit_code == 130
    assert "finished chunks are kept in o/checkpoints: rerun with --resume" in result.output


def test_debug_works_after_the_subcommand_too(monkeypatch, capsys):
    """`matscreen predict ... --debug` was refused ('No such option'); now it is --debug."""
    import pytest

    import matscreen.cli as cli

    assert cli.hoist_global_options(["screen", "w.yaml", "--log-level=DEBUG", "--", "--debug"]) == [
        "--log-level=DEBUG", "screen", "w.yaml", "--", "--debug",
    ]  # fmt: skip
    monkeypatch.setattr("sys.argv", ["matscreen", "predict", "conductivity", "nope.csv",
                                     "--out", "o.csv", "--debug"])  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "No such option" not in err
    assert "nope.csv" in err and "Traceback" in err  # the input error, with its traceback


def test_caveats_of_ok_rows_are_counted_on_stderr(capsys) -> None:  # noqa: ANN001
    """After 'wrote OUT', predict says how many ok rows carry a caveat: an incomplete hull
    (a lower bound) or a result_note; failed rows are left to the failure list."""
    import pandas as pd

    from matscreen.cli import _report_caveats

    table = pd.DataFrame({
        "status": ["ok", "ok", "ok", "failed"],
        "hull_complete": [True, False, None, None],
        "result_note": ["", "a lower bound", None, None],
    })  # fmt: skip
    _report_caveats(table)
    err = capsys.readouterr().err
    assert err.strip() == (
        "of the 3 ok row(s): 1 with an incomplete hull (e_above_hull a lower bound); "
        "1 with a result_note"
    )
    _report_caveats(pd.DataFrame({"status": ["ok"], "result_note": [""]}))
    assert capsys.readouterr().err == ""
