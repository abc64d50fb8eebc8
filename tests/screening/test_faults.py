"""Faults during a run: a worker killed with SIGKILL, a whole run killed, a full disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import matscreen

SPACE = """
name: faults
family: halide_electrolyte
prototypes:
  - prototype: Li3YCl6_P-3m1
    sites:
      Y: [Y, In, Sc, Er, Ho, Lu]
      Cl: [Cl, Br]
"""
WORKFLOW = """
name: faults
family: halide_electrolyte
candidates:
  space: space.yaml
featurize:
  chunk_size: 1
screening:
  bvse_top_k: 0
"""


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    (tmp_path / "space.yaml").write_text(SPACE)
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW)
    return path


def _reference(workflow: Path) -> pd.DataFrame:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as lc,
        Client(lc) as c,
    ):
        return matscreen.screen(workflow, client=c, out="reference")


@pytest.mark.slow
def test_worker_killed_mid_run_every_candidate_exactly_once(workflow):
    from distributed import Client, LocalCluster

    expected = _reference(workflow)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as lc,
        Client(lc) as client,
    ):
        pids = list(client.run(os.getpid).values())
        killed = threading.Event()

        def killer() -> None:
            folder = Path("killed/checkpoints")
            deadline = time.time() + 120
            while time.time() < deadline:
                if len(list(folder.glob("featurize-*.parquet"))) >= 2:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.set()
                    return
                time.sleep(0.01)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        results = matscreen.screen(workflow, client=client, out="killed")
        thread.join()
    assert killed.is_set(), "the worker was never killed"
    assert results["id"].is_unique and set(results["id"]) == set(expected["id"])
    assert (results["status"] == "ok").all(), results["error"].dropna().tolist()
    pd.testing.assert_frame_equal(results, expected)


@pytest.mark.slow
def test_killed_run_resumes_to_identical_results(workflow):
    expected = _reference(workflow)
    cmd = [
        sys.executable,
        "-m",
        "matscreen.cli",
        "screen",
        str(workflow),
        "--out",
        "run",
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 180
    while time.time() < deadline and len(list(Path("run/checkpoints").glob("featurize-*"))) < 3:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, like a killed batch job
    proc.wait(timeout=30)
    assert not Path("run/results.parquet").exists()
    done_before = len(list(Path("run/checkpoints").glob("featurize-*")))
    assert done_before >= 3
    resume = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert resume.returncode == 0, resume.stderr[-2000:]
    assert "from checkpoints" in resume.stderr
    pd.testing.assert_frame_equal(pd.read_parquet("run/results.parquet"), expected)


def test_unwritable_output_is_a_clear_error_and_keeps_checkpoints(workflow):
    from distributed import Client, LocalCluster

    import matscreen.screening.run as run_mod

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device")

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as lc,
        Client(lc) as c,
    ):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(run_mod, "atomic_write_parquet", disk_full)
            with pytest.raises(OSError, match="No space left"):
                matscreen.screen(workflow, client=c, out="full")
        kept = sorted(p.name for p in Path("full/checkpoints").iterdir())
        assert kept and not Path("full/results.parquet").exists()
        assert not Path("full/run.lock").exists()  # the lock is released on error
        results = matscreen.screen(workflow, client=c, out="full", resume=True)
    assert (results["status"] == "ok").all()
