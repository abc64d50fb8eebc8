"""Job scripts rendered by matscreen.core.clusters.job_script (no batch system needed)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from matscreen.core.clusters import (
    default_lifetime,
    job_script,
    load_config,
    open_client,
    parse_walltime,
)

pytestmark = pytest.mark.usefixtures("clean_dask_config")

REPO = Path(__file__).resolve().parents[2]


def _slurm(**extra: object) -> dict:
    cfg = {
        "account": "proj42",
        "queue": "short",
        "cores": 4,
        "memory": "16GB",
        "walltime": "02:00:00",
    }
    cfg.update(extra)
    return {"jobqueue": {"slurm": cfg}}


def _lifetime(script: str) -> tuple[float, float]:
    from dask.utils import parse_timedelta

    life = re.search(r"--lifetime[ =](\S+)", script)
    stagger = re.search(r"--lifetime-stagger[ =](\S+)", script)
    assert life and stagger, script
    return parse_timedelta(life.group(1)), parse_timedelta(stagger.group(1))


def test_slurm_header_has_site_settings() -> None:
    """Account, partition, walltime, memory and cores reach the #SBATCH header."""
    script = job_script("slurm", config=_slurm())
    header = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH -A proj42" in header
    assert "#SBATCH -p short" in header
    assert "#SBATCH -t 02:00:00" in header
    assert "#SBATCH --mem=15G" in header  # 16 GB = 14.9 GiB, rounded up
    assert "#SBATCH --cpus-per-task=4" in header
    assert "tcp://<scheduler-address>:8786" in script


def test_lifetime_is_added_and_shorter_than_walltime() -> None:
    """Without a user --lifetime, one is added that ends before the walltime."""
    script = job_script("slurm", config=_slurm(walltime="01:00:00"))
    lifetime, stagger = _lifetime(script)
    assert lifetime + stagger < 3600
    assert lifetime >= 3000
    assert script.count("--lifetime ") == 1


def test_user_lifetime_is_kept() -> None:
    """A --lifetime in worker-extra-args is used as given, not duplicated."""
    extra = ["--lifetime", "50m", "--lifetime-stagger", "2m"]
    script = job_script("slurm", config=_slurm(**{"worker-extra-args": extra}))
    assert "--lifetime 50m --lifetime-stagger 2m" in script
    assert script.count("--lifetime ") == 1


def test_lifetime_given_with_its_value_in_one_element_is_kept() -> None:
    """'--lifetime 8m' as one list element is the user's lifetime too: none is added."""
    script = job_script("slurm", config=_slurm(**{"worker-extra-args": ["--lifetime 8m"]}))
    assert script.count("--lifetime") == 1
    assert "--lifetime 8m" in script


def test_check_batch_cluster_is_silent_and_the_script_tells_the_lifetime(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The check before a run logs nothing (the start tells the lifetime once); rendering
    the script tells it; a missing interface is named with the ones this machine has."""
    from matscreen.core.clusters import check_batch_cluster
    from matscreen.core.errors import ClusterStartError

    for command, body in (("sbatch", "exit 1"), ("sinfo", "echo short")):  # never the real ones
        (tmp_path / command).write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with caplog.at_level(logging.INFO, logger="matscreen.core.clusters"):
        check_batch_cluster("slurm", workers=2, config=_slurm(interface="lo"))
        assert caplog.records == []
        job_script("slurm", config=_slurm())
    assert [r.getMessage().startswith("workers get --lifetime") for r in caplog.records] == [True]
    with pytest.raises(ValueError, match=r"'nosuch0'.*not a network interface.*\blo\b"):
        check_batch_cluster("slurm", config=_slurm(interface="nosuch0"))
    options = {"interface": "nosuch1"}
    with pytest.raises(ValueError, match="scheduler-options.interface is 'nosuch1'"):
        check_batch_cluster(
            "slurm", config=_slurm(interface="lo", **{"scheduler-options": options})
        )
    # a scheduler host of its own: the workers' interface is on the nodes, not checked here
    check_batch_cluster(
        "slurm", config=_slurm(interface="ib9", **{"scheduler-options": {"host": "127.0.0.1"}})
    )
    check_batch_cluster("local")  # not a batch cluster: nothing to check
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ClusterStartError, match="sbatch"):
        check_batch_cluster("slurm", config=_slurm(interface="lo"))


def test_dask_jobqueue_defaults_outlive_the_first_check(tmp_path: Path) -> None:
    """The check made before a run is the first import of dask-jobqueue in the CLI; its
    defaults must stay in dask config after the check's overrides are undone (the cluster
    started next reads them: a KeyError 'shared-temp-directory' before)."""
    code = (
        "import os, dask.config\n"
        "from matscreen.core.clusters import check_batch_cluster\n"
        "os.environ['PATH'] = os.environ['PATH'] + ':' + os.environ['FAKE_BIN']\n"
        "check_batch_cluster('slurm', config={'jobqueue': {'slurm': "
        "{'cores': 1, 'memory': '1GB', 'walltime': '00:10:00'}}})\n"
        "print(dask.config.get('jobqueue.slurm.shared-temp-directory', 'lost'))\n"
    )
    (tmp_path / "sbatch").write_text("#!/bin/sh\nexit 1\n")  # looked up, never run
    (tmp_path / "sbatch").chmod(0o755)
    env = {**os.environ, "FAKE_BIN": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() not in ("", "lost")


def test_an_interface_without_ipv4_and_unknown_scheduler_options_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An interface that is down (no IPv4 address) and a scheduler-options key the Dask
    scheduler does not take: a ValueError naming them before any work (a traceback from
    inside the started cluster before)."""
    import socket
    from collections import namedtuple

    import psutil

    from matscreen.core.clusters import check_batch_cluster

    for command, body in (("sbatch", "exit 1"), ("sinfo", "echo short")):
        (tmp_path / command).write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    addr = namedtuple("addr", "family address netmask broadcast ptp")
    fake = {
        "lo": [addr(socket.AF_INET, "127.0.0.1", "255.0.0.0", None, None)],
        "down0": [addr(getattr(socket, "AF_PACKET", 17), "aa:bb:cc:dd:ee:ff", None, None, None)],
    }
    monkeypatch.setattr(psutil, "net_if_addrs", lambda: fake)
    with pytest.raises(ValueError, match=r"'down0', which has no IPv4 address.*with one: lo$"):
        check_batch_cluster("slurm", config=_slurm(interface="down0"))
    check_batch_cluster("slurm", config=_slurm(interface="lo"))

    def check(options: dict) -> None:
        check_batch_cluster(
            "slurm", config=_slurm(interface="lo", **{"scheduler-options": options})
        )

    with pytest.raises(ValueError, match=r"dashboard-address is not an.*'dashboard_address'"):
        check({"dashboard-address": ":0"})
    with pytest.raises(ValueError, match=r"scheduler-options.bogus is not an option"):
        check({"bogus": 1})
    check({"dashboard_address": ":0", "port": 0, "idle_timeout": "1h"})


def test_pbs_live_jobs_are_read_from_qselect(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """qselect prints full ids (1234.server); dask-jobqueue holds the number: matched on it.
    A qselect that fails says nothing (None), so no job is ever counted as vanished."""
    from matscreen.core.clusters import _LIVE_JOBS, _pbs_live_jobs

    assert _LIVE_JOBS["qsub"] is _pbs_live_jobs
    (tmp_path / "qselect").write_text("#!/bin/sh\nprintf '1234.pbs01\\n1240.pbs01.hpc.edu\\n'\n")
    (tmp_path / "qselect").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert _pbs_live_jobs(["1234", "1235", "1240"]) == {"1234", "1240"}
    (tmp_path / "qselect").write_text("#!/bin/sh\necho 'qselect: cannot connect' >&2; exit 2\n")
    assert _pbs_live_jobs(["1234"]) is None


def test_slurm_queue_must_be_a_partition_sinfo_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A queue sinfo does not list is refused before any job, naming the partitions; a list
    of known partitions passes; without an answer from sinfo nothing is checked."""
    from matscreen.core.clusters import check_batch_cluster

    for command, body in (("sbatch", "exit 1"), ("sinfo", "printf 'debug\\ngpu\\ngpu\\n'")):
        (tmp_path / command).write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(ValueError, match=r"'compute' is no partition.*sinfo lists: debug, gpu$"):
        check_batch_cluster("slurm", config=_slurm(queue="compute", interface="lo"))
    check_batch_cluster("slurm", config=_slurm(queue="debug,gpu", interface="lo"))
    (tmp_path / "sinfo").write_text("#!/bin/sh\necho 'sinfo: timeout' >&2; exit 1\n")
    check_batch_cluster("slurm", config=_slurm(queue="compute", interface="lo"))


def test_too_long_user_lifetime_warns(caplog: pytest.LogCaptureFixture) -> None:
    """A user --lifetime past the walltime is logged as a warning."""
    extra = ["--lifetime", "3h"]
    with caplog.at_level(logging.WARNING, logger="matscreen.core.clusters"):
        job_script("slurm", config=_slurm(**{"worker-extra-args": extra}))
    assert "not shorter than the walltime" in caplog.text


def test_pbs_header_has_site_settings() -> None:
    """Account, queue, walltime, select and interface reach the PBS script."""
    cfg = {
        "jobqueue": {
            "pbs": {
                "account": "chem7",
                "queue": "workq",
                "cores": 8,
                "memory": "32GB",
                "walltime": "12:00:00",
                "interface": "ib0",
            }
        }
    }
    script = job_script("pbs", config=cfg)
    assert "#PBS -A chem7" in script
    assert "#PBS -q workq" in script
    assert "#PBS -l walltime=12:00:00" in script
    assert re.search(r"#PBS -l select=1:ncpus=8:mem=\d+[GM]B", script)
    assert "--interface ib0" in script
    lifetime, stagger = _lifetime(script)
    assert lifetime + stagger < 12 * 3600


def test_local_directory_and_prologue() -> None:
    """Local scratch and prologue lines appear in the job script."""
    cfg = _slurm(**{"local-directory": "$TMPDIR", "job-script-prologue": ["module load py"]})
    script = job_script("slurm", config=cfg)
    assert "--local-directory $TMPDIR" in script
    assert "\nmodule load py\n" in script


@pytest.mark.parametrize("missing", ["walltime", "memory", "cores"])
def test_missing_required_key_names_it(missing: str) -> None:
    """A missing walltime/memory/cores raises ValueError naming the key and where to set it."""
    cfg = _slurm()
    del cfg["jobqueue"]["slurm"][missing]
    with pytest.raises(ValueError, match=rf"jobqueue\.slurm\.{missing} is not set") as err:
        job_script("slurm", config=cfg)
    assert "jobqueue.yaml" in str(err.value)
    assert "MATSCREEN_JOBQUEUE_CONFIG" in str(err.value)


def test_missing_walltime_fails_before_starting_a_cluster() -> None:
    """open_client refuses a batch cluster without walltime."""
    cfg = _slurm()
    del cfg["jobqueue"]["slurm"]["walltime"]
    with pytest.raises(ValueError, match=r"jobqueue\.slurm\.walltime"):
        with open_client("slurm", workers=1, config=cfg):
            pass  # pragma: no cover


def test_package_default_walltime_is_not_accepted() -> None:
    """dask-jobqueue's packaged 30 min walltime does not count as set."""
    import dask.config

    # dask-jobqueue ships walltime 00:30:00; that must not count as "set".
    assert dask.config.get("jobqueue.slurm.walltime") == "00:30:00"
    cfg = _slurm()
    del cfg["jobqueue"]["slurm"]["walltime"]
    with pytest.raises(ValueError, match="walltime"):
        job_script("slurm", config=cfg)


def test_dask_config_set_counts_as_explicit() -> None:
    """A walltime set with dask.config.set is explicit."""
    import dask.config

    cfg = _slurm()
    del cfg["jobqueue"]["slurm"]["walltime"]
    with dask.config.set({"jobqueue.slurm.walltime": "04:00:00"}):
        assert "#SBATCH -t 04:00:00" in job_script("slurm", config=cfg)


def test_dask_env_var_counts_as_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A walltime from a DASK_* variable is explicit, even if it equals the default."""
    import dask.config

    monkeypatch.setenv("DASK_JOBQUEUE__SLURM__WALLTIME", "00:30:00")
    dask.config.refresh(paths=dask.config.paths)
    cfg = _slurm()
    del cfg["jobqueue"]["slurm"]["walltime"]
    assert "#SBATCH -t 00:30:00" in job_script("slurm", config=cfg)


def test_config_file_from_env_var_and_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """$MATSCREEN_JOBQUEUE_CONFIG is read; the config argument wins over it."""
    site = tmp_path / "site.yaml"
    site.write_text(
        "jobqueue:\n  slurm:\n    account: site-acct\n    queue: batch\n"
        "    cores: 2\n    memory: 4GB\n    walltime: '08:00:00'\n"
    )
    monkeypatch.setenv("MATSCREEN_JOBQUEUE_CONFIG", str(site))
    script = job_script("slurm")
    assert "#SBATCH -A site-acct" in script and "#SBATCH -t 08:00:00" in script
    # the config argument (dotted keys here) wins over the env-var file
    script = job_script("slurm", config={"jobqueue.slurm.walltime": "00:20:00"})
    assert "#SBATCH -t 00:20:00" in script and "#SBATCH -A site-acct" in script


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    """A config path that does not exist is named in the error."""
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_shipped_template_renders() -> None:
    """hpc/jobqueue.yaml renders for SLURM and PBS."""
    template = REPO / "hpc" / "jobqueue.yaml"
    for scheduler, marker in (("slurm", "#SBATCH -t "), ("pbs", "#PBS -l walltime=")):
        script = job_script(scheduler, config=template)
        assert marker in script
        assert "--lifetime" in script


def test_unknown_jobqueue_keys_are_named_with_the_key_meant() -> None:
    """Keys dask-jobqueue would silently drop (partition:, a typo) stop the run, named."""
    bad = _slurm(partition="debug", wallclock="10", **{"extra-directives": ["--qos=x"]})
    with pytest.raises(ValueError) as err:
        job_script("slurm", config=bad)
    text = str(err.value).splitlines()[0]
    assert "'partition' (did you mean queue?)" in text
    assert "'wallclock' (did you mean walltime?)" in text
    assert "'extra-directives' (did you mean job-extra-directives?)" in text
    assert "'walltim' (did you mean walltime?)" in _first_error(_slurm(walltim="1"))
    # underscores are dask's other spelling of the same key
    script = job_script("slurm", config=_slurm(job_extra_directives=["--qos=normal"]))
    assert "#SBATCH --qos=normal" in script


def _first_error(config: dict) -> str:
    with pytest.raises(ValueError) as err:
        job_script("slurm", config=config)
    return str(err.value)


def test_missing_submit_command_fails_before_a_cluster_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--cluster pbs without qsub on PATH: ClusterStartError at once, not a hang."""
    from matscreen.core.clusters import missing_submit_command
    from matscreen.core.errors import ClusterStartError

    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no qsub, no sbatch
    assert missing_submit_command("local") is None
    message = missing_submit_command("pbs")
    assert message is not None and "`qsub`, which is not on PATH" in message
    pbs = {"jobqueue": {"pbs": {"cores": 1, "memory": "1GB", "walltime": "00:10:00"}}}
    with pytest.raises(ClusterStartError, match="qsub"):
        with open_client("pbs", config=pbs):
            pass  # pragma: no cover


def test_ctrl_c_stays_keyboard_interrupt_after_dask_jobqueue_is_imported() -> None:
    """dask-jobqueue sets SIGINT -> sys.exit() on import (exit status 0 on Ctrl-C);
    matscreen gives SIGINT back its KeyboardInterrupt once it has loaded a job class."""
    code = (
        "import signal, dask_jobqueue\n"
        "assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler\n"
        "from matscreen.core.clusters import job_script\n"
        "job_script('slurm', config={'jobqueue': {'slurm': "
        "{'cores': 1, 'memory': '1GB', 'walltime': '00:10:00'}}})\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "True", out.stderr


def test_watcher_reports_queued_jobs_and_gives_up_only_when_none_is_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The wait for queued worker jobs is logged; one refused submission while others are
    queued is an error but not the end; refused with nothing left queued ends the run."""
    import time

    from matscreen.core.clusters import _JobWatch, _Watcher

    class Cluster:  # what the watcher reads of a JobQueueCluster
        scheduler_info: dict = {"workers": {}}

    def until(predicate: object) -> None:
        end = time.monotonic() + 30
        while not predicate() and time.monotonic() < end:  # type: ignore[operator]
            time.sleep(0.01)

    watch = _JobWatch()
    watcher = _Watcher(
        Cluster(), watch, 3, "pbs-submit", poll=0.01, report_every=0.05, grace=0, interrupt=False
    )
    with caplog.at_level("INFO", logger="matscreen.core.clusters"):
        watcher.start()
        watch.submit_ok("11")
        watch.submit_ok("12")
        until(lambda: "waiting for workers" in caplog.text)
        watch.submit_failed("sbatch: error: QOSMaxSubmitJobPerUserLimit")
        until(lambda: "pbs-submit refused 1 worker job" in caplog.text)
        until(lambda: "1 refused and 0 gone" in caplog.text)
        assert watcher.fatal is None and watcher.is_alive()  # two jobs are still queued
        watch.job_closed("11")
        watch.job_closed("12")
        until(lambda: watcher.fatal is not None)
    watcher.stop()
    assert "0 of 3 connected; 2 worker job(s) submitted and not connected yet" in caplog.text
    assert "; so far 1 refused and 0 gone before connecting" in caplog.text
    assert watcher.fatal is not None
    assert "pbs-submit refused the worker jobs and none is queued or running" in watcher.fatal
    assert "QOSMaxSubmitJobPerUserLimit" in watcher.fatal


def test_a_refusal_before_a_success_does_not_end_a_run_between_two_jobs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused submission, then one the batch system took: when that job ends (cancelled,
    lifetime) there is a moment with no worker and no job before its replacement is
    submitted; that is no reason to end the run. Jobs that vanish from the queue without
    their worker connecting are: dask-jobqueue never replaces them."""
    import time

    from matscreen.core.clusters import _JobWatch, _Watcher

    class Cluster:
        scheduler_info: dict = {"workers": {}}

    queue: set[str] = {"7"}
    watch = _JobWatch()
    watch.submit_failed("sbatch: error: Socket timed out")
    watch.submit_ok("7")
    watcher = _Watcher(
        Cluster(), watch, 1, "sbatch", poll=0.01, grace=0, queue_every=0.01, interrupt=False
    )
    watcher.live_jobs = lambda ids: {j for j in ids if j in queue}
    with caplog.at_level("INFO", logger="matscreen.core.clusters"):
        watcher.start()
        watch.job_closed("7")  # cancelled: no job, no worker, until the replacement comes
        time.sleep(0.2)
        assert watcher.fatal is None
        watch.submit_ok("8")  # the replacement; its job then dies before its worker connects
        end = time.monotonic() + 30
        while watcher.fatal is None and time.monotonic() < end:
            time.sleep(0.01)
    watcher.stop()
    assert watcher.fatal is not None
    assert watcher.fatal.startswith("worker job(s) 8 ended without a worker connecting")
    assert "worker job 8 ended without its worker connecting" in caplog.text


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"memory": 4}, "memory must be a size with its unit, e.g. '16GB', got 4"),
        ({"memory": "4"}, "memory must be a size with its unit"),
        ({"cores": 0}, "cores must be a whole number >= 1, got 0"),
        ({"processes": 8}, "processes (8) is more than cores (4)"),
        (
            {"job-extra-directives": "--qos=x"},
            "job-extra-directives must be a list, e.g. ['--qos=x']",
        ),
        ({"worker_extra_args": "--lifetime 8m"}, "e.g. ['--lifetime', '8m'], got the str"),
    ],
)
def test_values_that_would_break_the_job_script_are_named(extra: dict, needle: str) -> None:
    """dask-jobqueue turns these into a traceback (memory: 4, cores: 0), a worker with no
    thread (processes > cores) or one #SBATCH line per character (a string for a list)."""
    with pytest.raises(ValueError) as err:
        job_script("slurm", config=_slurm(**extra))
    assert needle in str(err.value)


def test_a_config_file_without_the_jobqueue_level_says_so(tmp_path: Path) -> None:
    """A `slurm:` section at the top of the file is read by nobody: named, with the fix."""
    path = tmp_path / "jq.yaml"
    path.write_text("slurm:\n  cores: 1\n  memory: 1GB\n  walltime: '00:10:00'\n")
    with pytest.raises(ValueError, match="top-level `slurm:` section; dask reads it only under"):
        job_script("slurm", config=path)


def test_lost_jobs_are_replaced_once_a_worker_has_connected_but_not_for_ever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """dask-jobqueue keeps a refused job's spec for good (its worker never comes). Once some
    worker has connected, the watcher drops such specs so that adapt submits new jobs, at
    most `wanted` times until another worker connects."""
    import time

    from matscreen.core.clusters import _JobWatch, _Watcher

    class Loop:
        def add_callback(self, func: object) -> None:
            func()  # type: ignore[operator]

    class Cluster:
        def __init__(self) -> None:
            self.scheduler_info = {"workers": {"tcp://a": {"name": "w0"}}}
            self.worker_spec = {f"w{i}": {} for i in range(5)}
            self.workers = {f"w{i}": object() for i in range(5)}
            self.loop = Loop()

    cluster, watch = Cluster(), _JobWatch()
    watch.submit_ok("10", "w0")
    watcher = _Watcher(cluster, watch, 2, "sbatch", poll=0.01, interrupt=False)
    with caplog.at_level("INFO", logger="matscreen.core.clusters"):
        watcher.start()
        for name in ("w1", "w2", "w3"):
            watch.submit_failed("sbatch: error: node failure", name)
        end = time.monotonic() + 30
        while "w3 is not replaced" not in caplog.text and time.monotonic() < end:
            time.sleep(0.01)
    watcher.stop()
    assert set(cluster.worker_spec) == {"w0", "w3", "w4"}  # w1, w2 dropped: adapt replaces them
    assert "worker w1: submitting a new job in place of its lost one" in caplog.text
    assert "w3 is not replaced (2 replacements since a worker last connected)" in caplog.text


def test_a_job_whose_worker_connected_is_left_to_dask_when_it_leaves_the_queue() -> None:
    """A cancelled job whose worker had connected is dask's to replace (after its
    lost-worker-timeout, which may be minutes): it is never counted as vanished, nor ends
    the run (the second review saw exit 2 with lost-worker-timeout 120 s)."""
    import time

    from matscreen.core.clusters import _JobWatch, _Watcher

    class Cluster:
        scheduler_info: dict = {"workers": {"tcp://a": {"name": "SLURMCluster-0"}}}

    cluster, watch = Cluster(), _JobWatch()
    watch.submit_ok("10", "SLURMCluster-0")
    watcher = _Watcher(cluster, watch, 1, "sbatch", poll=0.01, queue_every=0.01, grace=0,
                       interrupt=False)  # fmt: skip
    watcher.live_jobs = lambda ids: set()  # scancel: gone from squeue
    watcher.start()
    time.sleep(0.3)
    cluster.scheduler_info = {"workers": {}}  # its worker leaves; dask has not closed it yet
    time.sleep(0.3)
    watcher.stop()
    assert watch.vanished == set() and watcher.fatal is None


def test_unknown_cluster_is_rejected() -> None:
    """Unknown cluster kinds and workers < 1 are usage errors."""
    with pytest.raises(ValueError, match="not a batch system"):
        job_script("local", config=_slurm())
    with pytest.raises(ValueError, match="not one of"):
        with open_client("kubernetes"):
            pass  # pragma: no cover
    with pytest.raises(ValueError, match="at least 1"):
        with open_client("local", workers=0):
            pass  # pragma: no cover


def test_loopback_scheduler_address_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With no interface/host and a loopback get_ip(), a warning names the key."""
    import distributed.utils

    from matscreen.core import clusters

    monkeypatch.setattr(distributed.utils, "get_ip", lambda *a, **k: "127.0.0.1")
    with caplog.at_level(logging.WARNING, logger="matscreen.core.clusters"):
        options = clusters._scheduler_options("slurm")
    assert options["dashboard"] is False
    assert "jobqueue.slurm.interface" in caplog.text


@pytest.mark.parametrize(
    ("text", "scheduler", "seconds"),
    [
        ("02:00:00", "slurm", 7200),
        ("30", "slurm", 1800),
        ("30", "pbs", 30),
        ("10:30", "slurm", 630),
        ("1-12", "slurm", 129600),
        ("2-00:30:00", "slurm", 174600),
        ("48:00:00", "pbs", 172800),
    ],
)
def test_parse_walltime(text: str, scheduler: str, seconds: int) -> None:
    """SLURM and PBS time-limit forms convert to seconds."""
    assert parse_walltime(text, scheduler) == seconds


def test_parse_walltime_rejects_garbage() -> None:
    """Text that is not a time limit is rejected."""
    with pytest.raises(ValueError, match="time limit"):
        parse_walltime("two hours")


@pytest.mark.parametrize("walltime", [60, 600, 3600, 86400, 7 * 86400])
def test_default_lifetime_fits_in_walltime(walltime: int) -> None:
    """Lifetime +/- stagger stays inside the walltime."""
    lifetime, stagger = default_lifetime(walltime)
    assert 0 < lifetime - stagger and lifetime + stagger < walltime


def test_import_is_cheap() -> None:
    """Importing matscreen.core.clusters does not import dask."""
    code = "import sys, matscreen.core.clusters; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
