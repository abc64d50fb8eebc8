"""A real screening run on a local Dask cluster: outputs, failures, resume, lock."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import matscreen
from matscreen.core.errors import MatscreenInputError, OutputLockedError
from matscreen.core.locks import RunLock

SPACE = """
name: tiny_antiperovskites
family: oxide_electrolyte
prototypes:
  - prototype: Li3OCl_Pm-3m
    sites:
      Cl: [Cl, Br, I, {Cl: 1/2, Br: 1/2}]
      Li: [Li, Na]
    compensation: li
"""
WORKFLOW = """
name: tiny
family: oxide_electrolyte
seed: 3
candidates:
  space: space.yaml
featurize:
  chunk_size: 2
screening:
  bvse_top_k: 2
  bvse_resolution: 0.4
"""


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as lc,
        Client(lc) as c,
    ):
        yield c


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    (tmp_path / "space.yaml").write_text(SPACE)
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW)
    return path


def test_screen_writes_results_report_and_run_json(workflow, client):
    results = matscreen.screen(workflow, client=client, out="out")
    for name in ("results.parquet", "report.html", "run.json"):
        assert Path("out", name).is_file()
    table = pd.read_parquet("out/results.parquet")
    assert list(table["id"]) == list(results["id"])
    assert {"id", "formula", "family", "status", "error", "pareto_rank", "structure"} <= set(
        table.columns
    )
    assert table["id"].is_unique
    # Na on the Li site leaves no Li: those rows fail with the reason, the rest complete.
    no_li = table[~table["formula"].str.contains("Li")]
    assert len(no_li) >= 1 and (no_li["status"] == "failed").all()
    assert no_li["error"].str.contains("no Li").all()
    ok = table[table["status"] == "ok"]
    assert len(ok) >= 3
    assert (ok["pareto_rank"] >= 1).all() and (ok["pareto_rank"] == 1).any()
    assert table.loc[table["status"] != "ok", "pareto_rank"].isna().all()  # no rank, not 0
    assert ok["bvse_barrier_3d"].notna().sum() == 2  # the top two by descriptor score
    assert ok["sigma_note"].isna().all() and not ok["sigma_out_of_domain"].any()  # in domain
    run = json.loads(Path("out/run.json").read_text())
    assert run["seed"] == 3 and run["workflow"]["name"] == "tiny"
    assert {"pymatgen", "dask", "matscreen"} <= set(run["versions"])
    assert run["counts"]["failed"] == len(no_li)
    html = Path("out/report.html").read_text()
    assert "log10_sigma" in html and "data:image/png;base64" in html


def test_same_seed_same_results(workflow, client):
    a = matscreen.screen(workflow, client=client, out="a")
    b = matscreen.screen(workflow, client=client, out="b")
    pd.testing.assert_frame_equal(a, b)


def test_rerun_without_resume_is_refused_and_resume_recomputes_nothing(workflow, client):
    first = matscreen.screen(workflow, client=client, out="out")
    with pytest.raises(MatscreenInputError, match="--resume"):
        matscreen.screen(workflow, client=client, out="out")
    stamps = {p.name: p.stat().st_mtime_ns for p in Path("out/checkpoints").iterdir()}
    run_1 = json.loads(Path("out/run.json").read_text())
    again = matscreen.screen(workflow, client=client, out="out", resume=True)
    assert {p.name: p.stat().st_mtime_ns for p in Path("out/checkpoints").iterdir()} == stamps
    pd.testing.assert_frame_equal(first, again)
    run_2 = json.loads(Path("out/run.json").read_text())
    reused = run_2["chunks_from_checkpoints"]
    assert reused["featurize"] >= 1 and reused["bvse"] >= 1  # run.json says what was reused
    # the first run's own timings are kept, not overwritten by the resume's
    assert run_1["previous_runs"] == []
    assert run_2["previous_runs"] == [
        {k: run_1[k] for k in ("finished_at", "timings_s", "chunks_from_checkpoints", "counts")}
    ]


def test_a_run_whose_cluster_never_started_can_be_started_again(workflow, client, monkeypatch):
    """Only the candidates were written (before the cluster): no work to protect, so the
    plain rerun is not refused with 'already holds a run; pass --resume'."""
    import matscreen.screening.run as run

    def no_cluster(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("Nanny failed to start.")

    with monkeypatch.context() as m:
        m.setattr(run, "_maybe_client", no_cluster)
        with pytest.raises(RuntimeError, match="Nanny"):
            matscreen.screen(workflow, client=client, out="out")
    assert [p.name.split("-")[0] for p in Path("out/checkpoints").iterdir()] == ["candidates"]
    results = matscreen.screen(workflow, client=client, out="out")
    assert (results["status"] == "ok").any()


def test_resume_says_when_it_finds_no_run_or_another_workflow(workflow, client, caplog):
    """--resume on a folder with no run (a typo in OUT) starts afresh, and one under another
    workflow reuses what is unchanged: both are said, neither is silent. The first is INFO
    (every first run of a batch script that always passes --resume says it), the second a
    WARNING."""
    with caplog.at_level("INFO", logger="matscreen.screening.run"):
        matscreen.screen(workflow, client=client, out="out", resume=True, progress=False)
    said = [r for r in caplog.records if "holds no earlier run" in r.getMessage()]
    assert [r.levelname for r in said] == ["INFO"]
    assert said[0].getMessage() == "--resume: out holds no earlier run; starting a fresh one"
    # without a progress bar (a batch job's log): a stage's first and last chunk, and every 30 s
    chunks = [re.fullmatch(r"(\w+): (\d+)/(\d+) chunks done(; .* left)?", r.getMessage())
              for r in caplog.records if " chunks done" in r.getMessage()]  # fmt: skip
    assert {m[1] for m in chunks} >= {"featurize", "bvse"}
    assert all((m[2] == m[3]) == (m[4] is None) for m in chunks)  # an estimate until the last
    for stage in {m[1] for m in chunks}:  # its first and last chunk at least (else every 30 s)
        said = [(m[2], m[3]) for m in chunks if m[1] == stage]
        assert said[0][0] == "1" and said[-1][0] == said[-1][1]
    caplog.clear()
    with caplog.at_level("WARNING", logger="matscreen.screening.run"):
        matscreen.screen(workflow, client=client, out="out", resume=True)
    assert "--resume" not in caplog.text  # the same workflow: nothing to say
    workflow.write_text(WORKFLOW.replace("bvse_top_k: 2", "bvse_top_k: 1"))
    with caplog.at_level("WARNING", logger="matscreen.screening.run"):
        matscreen.screen(workflow, client=client, out="out", resume=True)
    assert "the workflow differs from the earlier run's in screening.bvse_top_k;" in caplog.text


def test_resume_on_another_node_with_another_cache_folder(workflow, client, monkeypatch):
    """A requeued job may see another MATSCREEN_CACHE_DIR (HOME, node-local disk): where
    caches live is not part of a checkpoint's key, so it still resumes. A workflow given
    as a dict runs the same as its file."""
    import yaml

    from matscreen.core.settings import get_settings

    data = yaml.safe_load(workflow.read_text())
    data["candidates"]["space"] = str(workflow.parent / "space.yaml")
    first = matscreen.screen(data, client=client, out="out")
    stamps = {p.name: p.stat().st_mtime_ns for p in Path("out/checkpoints").iterdir()}
    monkeypatch.setenv("MATSCREEN_CACHE_DIR", str(Path("other_cache").resolve()))
    get_settings.cache_clear()
    try:
        again = matscreen.screen(workflow, client=client, out="out", resume=True)
    finally:
        get_settings.cache_clear()
    assert {p.name: p.stat().st_mtime_ns for p in Path("out/checkpoints").iterdir()} == stamps
    pd.testing.assert_frame_equal(first, again)


def test_interrupted_run_resumes_to_the_same_results(workflow, client):
    full = matscreen.screen(workflow, client=client, out="full")
    matscreen.screen(workflow, client=client, out="cut")
    # Simulate a kill: results never written, half of the featurize chunks lost.
    Path("cut/results.parquet").unlink()
    lost = sorted(Path("cut/checkpoints").glob("featurize-*.parquet"))[::2]
    for p in lost:
        p.unlink()
    kept = {p.name for p in Path("cut/checkpoints").iterdir()}
    resumed = matscreen.screen(workflow, client=client, out="cut", resume=True)
    pd.testing.assert_frame_equal(full, resumed)
    assert kept <= {p.name for p in Path("cut/checkpoints").iterdir()}


def test_locked_output_is_refused(workflow, client):
    with RunLock(Path("busy")), pytest.raises(OutputLockedError, match="in use"):
        matscreen.screen(workflow, client=client, out="busy")


def test_unknown_space_is_an_input_error(workflow, client):
    workflow.write_text(WORKFLOW.replace("space.yaml", "no_such_space"))
    with pytest.raises(MatscreenInputError, match="candidates.space"):
        matscreen.screen(workflow, client=client, out="x")


@pytest.mark.slow
def test_physics_stage_relaxes_the_top_k_and_resumes_from_its_checkpoints(workflow, client):
    workflow.write_text(WORKFLOW + "  mlip_top_k: 1\n  mlip_steps: 60\n")
    results = matscreen.screen(workflow, client=client, out="out")
    table = pd.read_parquet("out/results.parquet")
    checked = table[table["physics_status"].notna()]
    assert len(checked) == 1
    row = checked.iloc[0]
    # the one relaxed is the lowest BVSE barrier of the BVSE survivors
    assert row["bvse_barrier_3d"] == table["bvse_barrier_3d"].min()
    assert row["physics_status"] == "ok", row["physics_error"]
    assert pd.isna(row["physics_error"]) and "physics_note" in table.columns  # failures only
    assert row["mlip"] == "chgnet" and abs(row["e_above_hull"]) < 0.5
    assert row["decomposition"]
    unchecked = table[table["physics_status"].isna()]
    assert unchecked["e_above_hull"].isna().all()
    assert len(list(Path("out/checkpoints").glob("physics-*.parquet"))) == 1
    again = matscreen.screen(workflow, client=client, out="out", resume=True)
    pd.testing.assert_frame_equal(results, again)


@pytest.mark.slow
def test_md_stage_runs_on_the_physics_survivors(tmp_path, client, monkeypatch):
    """Li3InCl6-type halides: relax -> hull -> MLIP MD of the top candidate, in the results."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.yaml").write_text(
        "name: tiny_halides\nfamily: halide_electrolyte\nprototypes:\n"
        "  - prototype: Li3InCl6_C2m\n    sites:\n      In: [In, Y]\n"
    )
    (tmp_path / "wf.yaml").write_text(
        "name: md\nfamily: halide_electrolyte\ncandidates:\n  space: space.yaml\n"
        "screening:\n  bvse_top_k: 2\n  bvse_resolution: 0.5\n  mlip_top_k: 1\n  mlip_steps: 30\n"
        "  md_top_k: 1\n  md_time_ps: 0.05\n  md_temperatures: [1000, 1400]\n"
        "  md_max_e_above_hull: 1.0\n"
    )
    matscreen.screen(tmp_path / "wf.yaml", client=client, out="out")
    table = pd.read_parquet("out/results.parquet")
    ran = table[table["md_status"].notna()]
    assert len(ran) == 1
    row = ran.iloc[0]
    assert row["physics_status"] == "ok"
    assert row["md_temperatures_K"] == "1000;1400"
    # 50 fs per temperature is too short for an honest fit: either a fit or the stated reason
    if row["md_status"] == "ok":
        assert np.isfinite(row["md_activation_energy_eV"])
    else:
        assert "no Li diffusion" in row["md_error"]
    assert len(row["md_diffusivities_cm2_s"].split(";")) == 2
    assert "Li transport by MLIP MD (1 candidates)" in Path("out/report.html").read_text()
