"""Fixtures for the cluster tests: an isolated dask config and a real single-node SLURM.

The ``slurm`` fixture reuses a SLURM that already answers (``hpc/ci-setup.sh``,
an earlier ``hpc/slurm-harness/start.sh``) or starts the harness itself and
then stops it at the end of the session. Without ``sbatch`` the SLURM tests
are skipped, unless ``MATSCREEN_REQUIRE_SLURM`` is set (CI): then they fail.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HARNESS = REPO / "hpc" / "slurm-harness"


@pytest.fixture
def clean_dask_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Dask config with package defaults only: no user files, no DASK_* or matscreen env vars."""
    import dask.config
    import dask_jobqueue  # noqa: F401 - registers the jobqueue defaults

    saved = copy.deepcopy(dask.config.config)
    for key in list(os.environ):
        if key.startswith("DASK_"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("MATSCREEN_JOBQUEUE_CONFIG", raising=False)
    empty = str(tmp_path / "no-dask-config")
    monkeypatch.setattr(dask.config, "paths", [empty])
    dask.config.refresh(paths=[empty], env={})
    try:
        yield
    finally:
        dask.config.config.clear()
        dask.config.config.update(saved)


@dataclass(frozen=True)
class SlurmInfo:
    """Where the test SLURM is: its slurm.conf (None: the system default) and partition."""

    conf: str | None
    partition: str
    started_here: bool


def _answers(conf: str | None) -> bool:
    env = dict(os.environ)
    if conf is None:
        env.pop("SLURM_CONF", None)
    else:
        env["SLURM_CONF"] = conf
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True, timeout=15
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    states = out.stdout.split()
    return out.returncode == 0 and any(s in ("idle", "mix", "alloc") for s in states)


def _harness_running(state: Path) -> bool:
    """Tell whether the slurmctld recorded by start.sh is alive (saves a slow sinfo)."""
    try:
        pids = dict(line.split()[:2] for line in (state / "pids").read_text().splitlines() if line)
        cmdline = Path(f"/proc/{pids['slurmctld']}/cmdline").read_bytes()
    except (OSError, KeyError, ValueError):
        return False
    return b"slurmctld" in cmdline


@pytest.fixture(scope="session")
def slurm() -> Iterator[SlurmInfo]:
    """Provide a running single-node SLURM; SLURM_CONF is exported for the session."""
    require = bool(os.environ.get("MATSCREEN_REQUIRE_SLURM"))
    if shutil.which("sbatch") is None:
        if require:
            pytest.fail(
                "MATSCREEN_REQUIRE_SLURM is set but sbatch is not on PATH: "
                "run hpc/ci-setup.sh (as root) before the tests"
            )
        pytest.skip(
            "SLURM is not installed (no sbatch on PATH): run `hpc/slurm-harness/start.sh` as "
            "root to enable these tests; set MATSCREEN_REQUIRE_SLURM=1 to make this a failure"
        )
    state = Path(os.environ.get("MATSCREEN_SLURM_DIR", "/tmp/matscreen-slurm"))
    partition = os.environ.get("MATSCREEN_SLURM_PARTITION", "debug")
    candidates: list[str | None] = []
    if os.environ.get("SLURM_CONF"):
        candidates.append(os.environ["SLURM_CONF"])
    if (state / "slurm.conf").is_file() and _harness_running(state):
        candidates.append(str(state / "slurm.conf"))
    candidates.append(None)

    conf: str | None = None
    started = False
    for cand in candidates:
        if _answers(cand):
            conf = cand
            break
    else:
        if os.geteuid() != 0:
            pytest.fail(
                "sbatch is installed but no SLURM answers `sinfo`, and starting "
                "hpc/slurm-harness/start.sh needs root"
            )
        t0 = time.monotonic()
        proc = subprocess.run(
            ["bash", str(HARNESS / "start.sh")], capture_output=True, text=True, timeout=300
        )
        if proc.returncode != 0:
            pytest.fail(f"hpc/slurm-harness/start.sh failed ({proc.returncode}):\n{proc.stderr}")
        print(f"\nSLURM harness started in {time.monotonic() - t0:.1f} s")  # noqa: T201
        conf = str(state / "slurm.conf")
        started = True

    saved = os.environ.get("SLURM_CONF")
    if conf is not None:
        os.environ["SLURM_CONF"] = conf
    try:
        yield SlurmInfo(conf=conf, partition=partition, started_here=started)
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        if started:
            subprocess.run(["bash", str(HARNESS / "stop.sh")], capture_output=True, timeout=120)


@pytest.fixture
def slurm_config(slurm: Any, tmp_path: Path) -> Any:
    """Return ``make(name)``: dask config for workers as jobs on the test SLURM."""

    def make(name: str) -> dict[str, Any]:
        return {
            "jobqueue": {
                "slurm": {
                    "name": name,  # unique job name, so squeue only shows this test's jobs
                    "queue": slurm.partition,
                    "cores": 1,
                    "processes": 1,
                    "memory": "1GB",
                    "walltime": "00:10:00",
                    "interface": "lo",  # loopback only (pytest-socket allows nothing else)
                    "local-directory": str(tmp_path / "scratch"),
                    "log-directory": str(tmp_path / "logs"),
                    "death-timeout": 30,
                }
            },
            # resubmit a lost worker job after 2 s instead of the default 15 s
            "distributed": {"deploy": {"lost-worker-timeout": "2s"}},
        }

    return make
