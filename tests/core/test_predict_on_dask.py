"""``predict stability`` with rows as Dask tasks: same table, same checkpoints, lone failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import matscreen.core.predict as predict

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def rows_csv(tmp_path: Path) -> Path:
    """A CSV of four rows: a formula, a CIF, a formula no model covers, another formula."""
    shutil.copy(BAD / "good_LiCl.cif", tmp_path / "good_LiCl.cif")
    path = tmp_path / "rows.csv"
    pd.DataFrame(
        {"formula": ["LiCl", "LiCl", "Li9Zz", "Li2O"], "cif": ["", "good_LiCl.cif", "", ""]}
    ).to_csv(path, index=False)
    return path


def test_rows_on_two_worker_processes_give_the_in_process_table(rows_csv: Path) -> None:
    """Two local worker processes (rows and structures pickled to them) give the same table
    as the in-process run, in input order, and checkpoint the same finished rows."""
    from matscreen.core.clusters import open_client

    here = predict.predict_file("stability", rows_csv, checkpoint=Path("here.partial"))
    with open_client("local", workers=2) as client:
        there = predict.predict_file(
            "stability", rows_csv, checkpoint=Path("there.partial"), client=client
        )
    assert list(there["status"]) == ["ok", "ok", "failed", "ok"]
    pd.testing.assert_frame_equal(here, there)
    assert sorted(p.name for p in Path("here.partial").iterdir()) == sorted(
        p.name for p in Path("there.partial").iterdir()
    )
    assert len(list(Path("there.partial").glob("stability-*.json"))) == 3


def test_a_task_that_raises_fails_its_row_alone_and_a_rerun_resumes(
    rows_csv: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception on a worker (here: raised by the row function) marks that row failed
    with the reason; the others finish and are checkpointed; a rerun computes only it.
    Each row's log line says how long the rest should take (batch logs have no bar)."""
    from distributed import Client, LocalCluster

    log = Path("calls.txt").resolve()  # tasks are pickled: a list here would not see them

    def calls() -> list[str]:
        return sorted(log.read_text().split()) if log.exists() else []

    def rows(prop: str, frame: pd.DataFrame) -> list[dict]:
        records = []
        for formula in frame["formula"].astype(str):
            with log.open("a") as fh:
                fh.write(formula + "\n")
            if formula == "Li2O":
                raise RuntimeError("boom")
            record = dict.fromkeys(predict.result_columns(prop))
            if formula == "Li9Zz":  # as the model says it: a failed row, not an exception
                record.update(status="failed", error="Zz is not an element")
            else:
                record.update(status="ok", error=None, e_above_hull=0.0, decomposition=[formula])
            records.append(record)
        return records

    monkeypatch.setattr(predict, "predict_rows", rows)
    checkpoint = Path("o.partial")
    with (
        LocalCluster(
            protocol="tcp://", host="127.0.0.1", n_workers=2, threads_per_worker=1, processes=False,
            dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
        ) as cluster,
        Client(cluster) as c,
    ):  # fmt: skip
        with caplog.at_level("INFO", logger="matscreen.core.predict"):
            first = predict.predict_file("stability", rows_csv, checkpoint=checkpoint, client=c)
        progress = [r.getMessage().split("(")[-1] for r in caplog.records
                    if "done" in r.getMessage()]  # fmt: skip
        assert len(progress) == 4 and progress[-1] == "4/4 done)"  # nothing left: no estimate
        # one estimate per finished task of two rows (its rows finish together), on its last row
        estimated = [m for m in progress if m.endswith("min left)")]
        assert estimated and all(m.startswith(("1/4", "2/4", "3/4")) for m in estimated)
        assert list(first["status"]) == ["ok", "ok", "failed", "failed"]
        assert first["error"].iloc[3] == "RuntimeError on a Dask worker: boom"
        assert first["error"].iloc[2] == "Zz is not an element"
        # two rows per task on two workers; the task with Li2O raised, so its rows were tried
        # again one per task: Li9Zz gets its own reason, only Li2O the worker's exception
        assert calls() == ["Li2O", "Li2O", "Li9Zz", "Li9Zz", "LiCl", "LiCl"]
        assert len(list(checkpoint.glob("stability-*.json"))) == 2  # the ok rows only
        log.unlink()
        again = predict.predict_file("stability", rows_csv, checkpoint=checkpoint, client=c)
    assert calls() == ["Li2O", "Li9Zz"]  # the finished rows came from the checkpoint
    assert list(again["status"]) == ["ok", "ok", "failed", "failed"]


def test_predict_names_a_bad_cluster_before_any_work(rows_csv: Path) -> None:
    """--cluster that names no cluster, and --workers 0: exit 2, one line, nothing written."""
    from typer.testing import CliRunner

    from matscreen.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["predict", "stability", str(rows_csv), "--out", "o.csv", "--cluster", "kube"]
    )
    assert result.exit_code == 2
    assert "cluster 'kube'" in result.output and "not one of" in result.output
    result = runner.invoke(
        app, ["predict", "stability", str(rows_csv), "--out", "o.csv", "--workers", "0"]
    )
    assert result.exit_code == 2
    assert not Path("o.csv").exists() and not Path("o.csv.partial").exists()
