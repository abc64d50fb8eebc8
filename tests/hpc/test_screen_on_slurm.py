"""A real screening run whose Dask workers are SLURM jobs: `matscreen screen --cluster slurm`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.usefixtures("clean_dask_config")]

SPACE = """
name: slurm_tiny
family: halide_electrolyte
prototypes:
  - prototype: Li3YCl6_P-3m1
    sites:
      Y: [Y, In, Sc]
      Cl: [Cl, Br]
"""
WORKFLOW = """
name: slurm-tiny
family: halide_electrolyte
candidates:
  space: space.yaml
featurize:
  chunk_size: 2
screening:
  bvse_top_k: 0
"""


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "matscreen.cli", "screen", "wf.yaml", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def test_screen_with_workers_as_slurm_jobs_matches_local(slurm: Any, slurm_config: Any) -> None:
    Path("space.yaml").write_text(SPACE)
    Path("wf.yaml").write_text(WORKFLOW)
    Path("jobqueue.yaml").write_text(yaml.safe_dump(slurm_config(f"ms-screen-{os.getpid()}")))
    env = {**os.environ, "MATSCREEN_JOBQUEUE_CONFIG": str(Path("jobqueue.yaml").resolve())}

    dry = _cli("--out", "dry", "--cluster", "slurm", "--workers", "2", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "#SBATCH" in dry.stdout and "--lifetime" in dry.stdout
    assert not Path("dry").exists()

    on_slurm = _cli("--out", "slurm", "--cluster", "slurm", "--workers", "2", env=env)
    assert on_slurm.returncode == 0, on_slurm.stderr[-3000:]
    local = _cli("--out", "local", "--workers", "1", env=env)
    assert local.returncode == 0, local.stderr[-3000:]

    a = pd.read_parquet("slurm/results.parquet")
    b = pd.read_parquet("local/results.parquet")
    assert len(a) == 6 and (a["status"] == "ok").all()
    pd.testing.assert_frame_equal(a, b)
    run = json.loads(Path("slurm/run.json").read_text())
    assert run["cluster"]["workers"] == 2
