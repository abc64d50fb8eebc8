"""Dask clients for a laptop, a running scheduler, or an HPC batch system.

One entry point, :func:`open_client`, gives a :class:`distributed.Client` for

``"local"``
    a :class:`distributed.LocalCluster` sized to this machine (one
    single-threaded worker process per core, dashboard off);
``"tcp://HOST:PORT"``
    an existing scheduler, which is never shut down from here;
``"slurm"`` / ``"pbs"``
    a dask-jobqueue ``SLURMCluster`` / ``PBSCluster`` whose workers run as
    batch jobs and are kept at the requested number (a job that dies or is
    cancelled is replaced).

Batch-system settings are dask config keys ``jobqueue.slurm.*`` and
``jobqueue.pbs.*``, read from (later wins):

1. dask's own config: ``~/.config/dask/*.yaml``, ``$DASK_CONFIG``,
   ``DASK_JOBQUEUE__SLURM__WALLTIME=...`` environment variables,
   ``dask.config.set``;
2. the YAML file named by ``$MATSCREEN_JOBQUEUE_CONFIG``;
3. the ``config`` argument (a mapping or the path of a YAML file).

``hpc/jobqueue.yaml`` in the repository is a commented template. Unlike
dask-jobqueue, matscreen has no silent defaults for ``walltime``, ``memory``
and ``cores``: a batch cluster without them raises :class:`ValueError`
naming the key, and so does a key dask-jobqueue does not know (``partition:``
for ``queue:``), which dask-jobqueue itself would ignore. Unless the user passes ``--lifetime`` in
``worker-extra-args``, workers get a ``--lifetime`` shorter than the
walltime, so they retire cleanly (and are replaced) before the batch system
kills them.

While a batch cluster is open, a watcher logs how many worker jobs wait in the
queue, and ends the run with :class:`~matscreen.core.errors.ClusterStartError`
(raised in the main thread) when the batch system refused the worker jobs and
none is left queued or running: dask-jobqueue would otherwise wait for them
for ever.

:func:`job_script` renders the worker job script without starting anything
(``matscreen screen --dry-run``).

Dask is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from dask_jobqueue.core import Job, JobQueueCluster
    from distributed import Client

__all__ = [
    "CONFIG_ENV_VAR",
    "JOBQUEUE_SCHEDULERS",
    "SCHEDULER_SCHEMES",
    "check_cluster_name",
    "ConfigLike",
    "default_lifetime",
    "job_script",
    "load_config",
    "missing_submit_command",
    "open_client",
    "parse_walltime",
]

logger = logging.getLogger(__name__)

#: Environment variable naming a YAML file of dask config (``jobqueue:`` section).
CONFIG_ENV_VAR = "MATSCREEN_JOBQUEUE_CONFIG"
#: Batch systems :func:`open_client` can start workers on.
JOBQUEUE_SCHEDULERS = ("slurm", "pbs")
#: Schemes of a running Dask scheduler's address (``--cluster tcp://HOST:PORT``).
SCHEDULER_SCHEMES = ("tcp://", "tls://", "ucx://", "ws://", "wss://")
#: Keys that must be set explicitly for a batch cluster (no package defaults).
REQUIRED_KEYS = ("walltime", "memory", "cores")

ConfigLike = Mapping[str, Any] | str | os.PathLike[str]

_WHERE = (
    "Set it in ~/.config/dask/jobqueue.yaml, in the YAML file named by "
    f"${CONFIG_ENV_VAR}, or in the `config` passed to open_client/job_script "
    "(template: hpc/jobqueue.yaml)."
)
#: Keys users reach for that dask-jobqueue spells differently.
_KEY_HINTS = {
    "partition": "queue",
    "qos": "job-extra-directives (e.g. ['--qos=normal'])",
    "time": "walltime",
    "time-limit": "walltime",
    "wallclock": "walltime",
    "mem": "memory",
    "ncpus": "cores",
    "cpus": "cores",
    "cpus-per-task": "cores",
    "project": "account",
    "extra-directives": "job-extra-directives",
    "directives": "job-extra-directives",
    "prologue": "job-script-prologue",
    "env": "job-script-prologue",
    "workers": "processes (per job), or --workers on the command line",
    "n-workers": "processes (per job), or --workers on the command line",
}
_REQUIRED_HELP = {
    "walltime": "the batch job time limit, e.g. '02:00:00'",
    "memory": "memory per job, e.g. '16GB'",
    "cores": "cores per job, e.g. 8",
}


# --------------------------------------------------------------------------- config


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``).

    ``dask.config.set({"jobqueue": {...}})`` would replace the whole
    ``jobqueue`` section (dropping dask-jobqueue's other defaults); dotted
    leaf keys merge instead.
    """
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, full))
        else:
            flat[full] = value
    return flat


def _read_yaml(path: str | os.PathLike[str], source: str) -> dict[str, Any]:
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{source}: jobqueue config file {p} does not exist")
    with p.open() as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: {p} must hold a YAML mapping (a `jobqueue:` section)")
    bare = sorted(str(k) for k in data if str(k) in JOBQUEUE_SCHEDULERS)
    if bare:
        raise ValueError(
            f"{source}: {p} has a top-level `{bare[0]}:` section; dask reads it only under "
            f"`jobqueue:` (jobqueue: -> {bare[0]}: -> walltime: ...), as in hpc/jobqueue.yaml"
        )
    return dict(data)


def load_config(config: ConfigLike | None = None) -> dict[str, Any]:
    """Collect matscreen's dask-config overrides as flat dotted keys.

    Parameters
    ----------
    config
        A mapping of dask config (nested, ``{"jobqueue": {"slurm": {...}}}``,
        or dotted, ``{"jobqueue.slurm.walltime": "01:00:00"}``), or the path
        of a YAML file holding such a mapping. Applied on top of the file
        named by ``$MATSCREEN_JOBQUEUE_CONFIG``, if that is set.

    Returns
    -------
    dict
        Dotted keys to values, ready for ``dask.config.set``.

    Raises
    ------
    FileNotFoundError
        If a named config file does not exist.
    ValueError
        If a config file does not hold a mapping.
    """
    flat: dict[str, Any] = {}
    env_file = os.environ.get(CONFIG_ENV_VAR)
    if env_file:
        flat.update(_flatten(_read_yaml(env_file, f"${CONFIG_ENV_VAR}")))
        logger.debug("read jobqueue config from $%s=%s", CONFIG_ENV_VAR, env_file)
    if config is not None:
        if isinstance(config, Mapping):
            flat.update(_flatten(config))
        else:
            flat.update(_flatten(_read_yaml(config, "config")))
            logger.debug("read jobqueue config from %s", config)
    return flat


def _canon(key: str) -> str:
    return key.replace("_", "-")


def _is_explicit(key: str, overrides: Mapping[str, Any]) -> bool:
    """Whether the dotted dask-config ``key`` was set by the user, not by a package default."""
    import dask.config

    want = _canon(key)
    if any(_canon(k) == want and v is not None for k, v in overrides.items()):
        return True
    # User files and DASK_* environment variables (never package defaults).
    user = dask.config.collect(paths=dask.config.paths, env=os.environ)
    if dask.config.get(key, None, config=user) is not None:
        return True
    # dask.config.set(...) in this process: the value differs from the packaged default.
    current = dask.config.get(key, None)
    if current is None:
        return False
    for defaults in dask.config.defaults:
        default = dask.config.get(key, None, config=defaults)
        if default is not None:
            return bool(current != default)
    return True


# ------------------------------------------------------------------------- walltime


def parse_walltime(value: str | int | float, scheduler: str = "slurm") -> int:
    """Convert a batch-system time limit to seconds.

    Parameters
    ----------
    value
        SLURM forms ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``,
        ``D-HH:MM:SS``; PBS forms ``HH:MM:SS``, ``MM:SS`` or plain seconds.
        A number means minutes for SLURM and seconds for PBS.
    scheduler
        ``"slurm"`` or ``"pbs"`` (they read a bare number differently).

    Returns
    -------
    int
        The limit in seconds.

    Raises
    ------
    ValueError
        If ``value`` is not a time limit in one of these forms.
    """
    text = str(value).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise ValueError(f"walltime {value!r} is not a time limit like '02:00:00' or '1-00:00:00'")
    days, a, b, c = m.groups()
    parts = [int(x) for x in (a, b, c) if x is not None]
    if days is not None:  # D-HH[:MM[:SS]]
        hms = parts + [0] * (3 - len(parts))
        return int(days) * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
    if len(parts) == 3:
        return parts[0] * 3600 + parts[1] * 60 + parts[2]
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return parts[0] * (60 if scheduler == "slurm" else 1)


def default_lifetime(walltime_s: int) -> tuple[int, int]:
    """Choose a worker ``--lifetime`` and ``--lifetime-stagger`` for a walltime.

    The margin before the walltime is 10 % of it, at least 1 minute and at
    most 10 minutes (at most half the walltime for very short jobs); the
    stagger is half the margin, so even the latest worker retires half a
    margin before the batch system would kill it.

    Parameters
    ----------
    walltime_s
        Job time limit in seconds.

    Returns
    -------
    tuple of int
        ``(lifetime_s, stagger_s)``.
    """
    margin = min(max(walltime_s // 10, 60), 600, walltime_s // 2)
    return walltime_s - margin, margin // 2


def _option_value(args: list[str], option: str) -> str | None:
    # an element may hold an option and its value together ("--lifetime 8m"); the job
    # script joins them with spaces, so the worker reads them as two arguments
    args = [part for arg in args for part in str(arg).split()]
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            return str(args[i + 1])
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def _with_lifetime(extra: list[str], walltime_s: int, scheduler: str, tell: bool) -> list[str]:
    """Add a worker lifetime that ends before the walltime, unless the user gave one.

    ``tell`` logs what was chosen (or a lifetime that outlives the walltime); the
    check made before a run passes False, so the start of the run tells it once.
    """
    from dask.utils import parse_timedelta

    given = _option_value(extra, "--lifetime")
    if given is None:
        lifetime, stagger = default_lifetime(walltime_s)
        if tell:
            logger.info(
                "workers get --lifetime %ds --lifetime-stagger %ds (walltime %ds); "
                "set jobqueue.%s.worker-extra-args to choose your own",
                lifetime, stagger, walltime_s, scheduler,
            )  # fmt: skip
        return [*extra, "--lifetime", f"{lifetime}s", "--lifetime-stagger", f"{stagger}s"]
    lifetime_s = parse_timedelta(given)
    stagger_s = parse_timedelta(_option_value(extra, "--lifetime-stagger") or 0)
    if tell and lifetime_s is not None and lifetime_s + (stagger_s or 0) >= walltime_s:
        logger.warning(
            "jobqueue.%s.worker-extra-args: --lifetime %s (+ stagger) is not shorter than the "
            "walltime (%ds): workers will be killed by the batch system instead of retiring",
            scheduler,
            given,
            walltime_s,
        )
    return list(extra)


# ------------------------------------------------------------------- job kwargs


def _job_class(scheduler: str) -> tuple[type[JobQueueCluster], type[Job]]:
    if scheduler == "slurm":
        from dask_jobqueue.slurm import SLURMCluster, SLURMJob

        _undo_jobqueue_sigint()
        return SLURMCluster, SLURMJob
    if scheduler == "pbs":
        from dask_jobqueue.pbs import PBSCluster, PBSJob

        _undo_jobqueue_sigint()
        return PBSCluster, PBSJob
    raise ValueError(
        f"cluster {scheduler!r} is not a batch system: use one of {', '.join(JOBQUEUE_SCHEDULERS)}"
    )


def _undo_jobqueue_sigint() -> None:
    """Give Ctrl-C back its ``KeyboardInterrupt`` after dask-jobqueue took it.

    Importing ``dask_jobqueue`` (0.9) sets ``SIGINT -> sys.exit()`` for the
    whole process, so Ctrl-C would end a run as ``SystemExit(None)``, exit
    status 0. Only that handler is replaced, and only in the main thread.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    handler = signal.getsignal(signal.SIGINT)
    if getattr(handler, "__module__", None) == "dask_jobqueue.runner":
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _known_keys(section: str) -> set[str]:
    """Keys dask-jobqueue's packaged defaults give the dotted config ``section``."""
    import dask.config

    known: set[str] = set()
    for defaults in dask.config.defaults:
        values = dask.config.get(section, None, config=defaults)
        if isinstance(values, Mapping):
            known |= {_canon(str(k)) for k in values}
    return known


def _check_keys(scheduler: str) -> None:
    """Refuse keys in ``jobqueue.<scheduler>`` that dask-jobqueue would silently ignore.

    Must be called with the user's overrides applied to ``dask.config``.

    Raises
    ------
    ValueError
        Naming each unknown key and the key it most likely meant.
    """
    import dask.config

    known = _known_keys(f"jobqueue.{scheduler}")
    if not known:  # dask-jobqueue not registered: nothing to compare with
        return
    given = dask.config.get(f"jobqueue.{scheduler}", None) or {}
    unknown = sorted(str(k) for k in given if _canon(str(k)) not in known)
    if unknown:
        named = []
        for key in unknown:
            hint = _KEY_HINTS.get(_canon(key)) or next(
                iter(difflib.get_close_matches(_canon(key), sorted(known), n=1, cutoff=0.6)), None
            )
            named.append(f"{key!r} (did you mean {hint}?)" if hint else repr(key))
        raise ValueError(
            f"jobqueue.{scheduler} has keys dask-jobqueue does not know and would ignore: "
            f"{', '.join(named)}. The template hpc/jobqueue.yaml lists the keys; "
            "dask_jobqueue/jobqueue.yaml in your installation lists them all."
        )
    sections = dask.config.get("jobqueue", None) or {}
    stray = sorted(str(k) for k in sections if _canon(str(k)) not in _known_keys("jobqueue"))
    if stray:
        logger.warning(
            "jobqueue config has sections no batch system of dask-jobqueue reads: %s "
            "(this run uses jobqueue.%s)",
            ", ".join(stray),
            scheduler,
        )


def _job_kwargs(
    scheduler: str, overrides: Mapping[str, Any], *, tell: bool = True
) -> dict[str, Any]:
    """Resolve the job keywords matscreen sets itself; the rest come from dask config.

    Must be called with ``overrides`` already applied to ``dask.config``; ``tell``
    logs the worker lifetime chosen.
    """
    import dask.config

    def get(key: str) -> Any:
        return dask.config.get(f"jobqueue.{scheduler}.{key}", None)

    _check_keys(scheduler)
    for key in REQUIRED_KEYS:
        full = f"jobqueue.{scheduler}.{key}"
        if get(key) is None or not _is_explicit(full, overrides):
            raise ValueError(
                f"{full} is not set: matscreen needs {_REQUIRED_HELP[key]} and has no default "
                f"for it. {_WHERE}"
            )
    walltime = str(get("walltime"))
    walltime_s = parse_walltime(walltime, scheduler)
    if walltime_s <= 0:
        raise ValueError(f"jobqueue.{scheduler}.walltime must be positive, got {walltime!r}")
    cores, memory = _check_values(scheduler, get)
    extra = list(get("worker-extra-args") or [])
    return {
        "cores": cores,
        "memory": memory,
        "walltime": walltime,
        "worker_extra_args": _with_lifetime(extra, walltime_s, scheduler, tell),
    }


#: Keys dask-jobqueue reads as lists: a string there is split into characters.
LIST_KEYS = (
    "worker-extra-args", "job-extra-directives", "job-script-prologue", "job-directives-skip",
    "extra", "job-extra", "env-extra",
)  # fmt: skip


def _check_values(scheduler: str, get: Any) -> tuple[int, str]:
    """Refuse values dask-jobqueue would turn into a broken job script or a traceback.

    Returns
    -------
    tuple
        ``(cores, memory)`` as dask-jobqueue wants them.

    Raises
    ------
    ValueError
        Naming the key, the value and what is expected.
    """
    from dask.utils import parse_bytes

    where = f"jobqueue.{scheduler}"
    for key in LIST_KEYS:
        value = get(key)
        if value is not None and not isinstance(value, list | tuple):
            # worker options are separate arguments; directives and shell lines are whole lines
            example = str(value).split() if key in ("worker-extra-args", "extra") else [str(value)]
            raise ValueError(
                f"{where}.{key} must be a list, e.g. {example!r}, got the "
                f"{type(value).__name__} {value!r} (a string would be split into characters)"
            )

    def count(key: str, default: int | None = None) -> int:
        value = get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{where}.{key} must be a whole number >= 1, got {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{where}.{key} must be a whole number >= 1, got {value!r}") from None
        if number < 1:
            raise ValueError(f"{where}.{key} must be a whole number >= 1, got {value!r}")
        return number

    cores, processes = count("cores"), count("processes", default=1)
    if processes > cores:
        raise ValueError(
            f"{where}.processes ({processes}) is more than cores ({cores}): each worker process "
            "needs at least one core"
        )
    memory = get("memory")
    try:
        size = parse_bytes(memory) if isinstance(memory, str) else None
    except ValueError:
        size = None
    if size is None or size < 2**20 or not re.search(r"[A-Za-z]", str(memory)):
        raise ValueError(
            f"{where}.memory must be a size with its unit, e.g. '16GB', got {memory!r}"
        )
    return cores, str(memory)


def _scheduler_options(scheduler: str) -> dict[str, Any]:
    """Scheduler options from config; dashboard off unless asked for; warn on a loopback address."""
    import dask.config

    options = dict(dask.config.get(f"jobqueue.{scheduler}.scheduler-options", None) or {})
    if "dashboard_address" not in options:
        # No dashboard, and the scheduler's small HTTP server (health/metrics) on a free
        # port instead of 8787, which is often taken on shared login nodes.
        options.update(dashboard=False, dashboard_address=":0")
    if _scheduler_listens_on(scheduler) == (None, None):
        # distributed's get_ip() asks the routing table for a route to 8.8.8.8 and,
        # with none (typical on compute/login nodes), falls back to a loopback address
        # that workers on other nodes cannot reach.
        try:
            from distributed.utils import get_ip

            ip = get_ip()
        except Exception as exc:  # noqa: BLE001 - any failure means "unknown"
            ip = None
            logger.debug("get_ip() failed: %s", exc)
        if ip is None or ipaddress.ip_address(ip).is_loopback:
            logger.warning(
                "the scheduler address would be %s, which workers on other nodes cannot "
                "reach: set jobqueue.%s.interface (e.g. ib0, eth0) or "
                "jobqueue.%s.scheduler-options.host",
                ip or "unknown",
                scheduler,
                scheduler,
            )
    return options


def _scheduler_listens_on(scheduler: str) -> tuple[str | None, str | None]:
    """Return ``(key, value)`` of the setting that places the scheduler; ``(None, None)``.

    ``scheduler-options.interface`` or ``.host`` when given, else ``interface``
    (which dask-jobqueue gives the scheduler too); ``(None, None)`` when nothing
    is set and distributed picks the address itself. Must be called with the
    overrides applied to ``dask.config``.
    """
    import dask.config

    options = dask.config.get(f"jobqueue.{scheduler}.scheduler-options", None) or {}
    for key in ("interface", "host"):
        if options.get(key):
            return f"scheduler-options.{key}", str(options[key])
    interface = dask.config.get(f"jobqueue.{scheduler}.interface", None)
    return ("interface", str(interface)) if interface else (None, None)


def _check_interface(scheduler: str) -> None:
    """Refuse a network interface the scheduler would listen on that this machine lacks.

    Must be called with the overrides applied to ``dask.config``. The workers'
    interface is on the compute nodes and cannot be checked from here.
    """
    import psutil

    key, name = _scheduler_listens_on(scheduler)
    if key is None or key.endswith(".host"):
        return
    addresses = psutil.net_if_addrs()
    here = sorted(addresses)
    if name and name not in here:
        raise ValueError(
            f"jobqueue.{scheduler}.{key} is {name!r}, which is not a network interface of this "
            f"machine, so the scheduler cannot listen on it; this machine has: {', '.join(here)}"
        )
    if name and not any(a.family == socket.AF_INET for a in addresses[name]):
        usable = [n for n in here if any(a.family == socket.AF_INET for a in addresses[n])]
        raise ValueError(
            f"jobqueue.{scheduler}.{key} is {name!r}, which has no IPv4 address here (down or "
            f"unconfigured), so the scheduler cannot listen on it; interfaces with one: "
            f"{', '.join(usable) or 'none'}"
        )


def _check_scheduler_options(scheduler: str) -> None:
    """Refuse a ``scheduler-options`` key the Dask scheduler does not take.

    Must be called with the overrides applied to ``dask.config``. Such a key
    reaches ``distributed.Scheduler(**options)`` only once the run has started,
    as a ``TypeError`` inside a traceback.
    """
    import inspect

    import dask.config
    from distributed import Scheduler
    from distributed.core import Server

    options = dask.config.get(f"jobqueue.{scheduler}.scheduler-options", None) or {}
    if not isinstance(options, Mapping):
        raise ValueError(
            f"jobqueue.{scheduler}.scheduler-options must be a mapping (e.g. {{host: 10.0.0.5}}), "
            f"got {options!r}"
        )
    known = {
        name
        for cls in (Scheduler, Server)
        for name in inspect.signature(cls.__init__).parameters
        if name not in ("self", "kwargs")
    }
    for key in options:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key).replace("-", "_"), sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"jobqueue.{scheduler}.scheduler-options.{key} is not an option of the Dask "
            f"scheduler{hint}"
        )


def _checked_job_kwargs(
    scheduler: str, overrides: Mapping[str, Any], *, tell: bool
) -> dict[str, Any]:
    """All the checks made before a batch cluster starts; the job keywords it would use.

    Must be called with ``overrides`` already applied to ``dask.config``.
    """
    from matscreen.core.errors import ClusterStartError

    kwargs = _job_kwargs(scheduler, overrides, tell=tell)
    _check_scheduler_options(scheduler)
    _check_interface(scheduler)
    missing = missing_submit_command(scheduler)
    if missing:
        raise ClusterStartError(missing)
    if scheduler == "slurm":
        _check_slurm_queue()
    return kwargs


# ------------------------------------------------------------------------ public API


def job_script(
    cluster: str = "slurm",
    *,
    workers: int | None = None,
    config: ConfigLike | None = None,
) -> str:
    """Render the batch script one worker job would run, without starting anything.

    Parameters
    ----------
    cluster
        ``"slurm"`` or ``"pbs"``.
    workers
        Number of Dask workers the run would keep; only checked here (every
        worker job gets the same script).
    config
        Dask config overrides: a mapping or the path of a YAML file (see
        :func:`load_config`).

    Returns
    -------
    str
        The job script, with ``tcp://<scheduler-address>:8786`` in place of
        the scheduler address that is only known once the run starts.

    Raises
    ------
    ValueError
        If ``cluster`` is not a batch system, walltime, memory or cores is
        not set, or a ``jobqueue.<cluster>`` key is not one dask-jobqueue
        knows.
    """
    import dask.config

    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    _, job_cls = _job_class(cluster)
    overrides = load_config(config)
    with dask.config.set(overrides):
        kwargs = _job_kwargs(cluster, overrides)
        interface = dask.config.get(f"jobqueue.{cluster}.interface", None)
        job = job_cls(
            "tcp://<scheduler-address>:8786",
            name="matscreen-worker",
            interface=interface,
            **kwargs,
        )
        return str(job.job_script())


def _local_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def check_batch_cluster(
    cluster: str,
    *,
    workers: int | None = None,
    config: ConfigLike | None = None,
) -> None:
    """Refuse a batch cluster that could not start, before any work is done.

    Checks what :func:`open_client` checks when it starts one: the
    ``jobqueue.<cluster>`` settings and ``scheduler-options`` keys, the
    scheduler's network interface (present, with an IPv4 address), the
    submit command and, on SLURM, that the queue is a partition ``sinfo``
    lists. Silent (nothing logged) when all is well; any other
    cluster kind passes.

    Parameters
    ----------
    cluster
        The ``--cluster`` value.
    workers
        Number of Dask workers the run would keep.
    config
        Dask config overrides, as for :func:`open_client`.

    Raises
    ------
    ValueError
        Naming the setting that is missing or wrong, or ``workers`` < 1.
    ClusterStartError
        When the batch system's submit command is not on ``PATH``.
    """
    import dask.config

    if cluster not in JOBQUEUE_SCHEDULERS:
        return
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    # imported outside the override: dask-jobqueue's defaults would go with it on exit
    _job_class(cluster)
    overrides = load_config(config)
    with dask.config.set(overrides):
        _checked_job_kwargs(cluster, overrides, tell=False)


def missing_submit_command(cluster: str) -> str | None:
    """Say why worker jobs could not be submitted from here, if they could not.

    Parameters
    ----------
    cluster
        ``"slurm"`` or ``"pbs"``; anything else needs no submit command.

    Returns
    -------
    str or None
        A one-line message when the batch system's submit command
        (``sbatch``, ``qsub``) is not on ``PATH``; None when it is.
    """
    if cluster not in JOBQUEUE_SCHEDULERS:
        return None
    _, job_cls = _job_class(cluster)
    command = str(job_cls.submit_command).split()[0]
    if shutil.which(command) is not None:
        return None
    return (
        f"--cluster {cluster} submits worker jobs with `{command}`, which is not on PATH here: "
        f"run matscreen on a login node of the {cluster.upper()} cluster (or load the module "
        f"that provides {command})"
    )


@contextlib.contextmanager
def open_client(
    cluster: str = "local",
    *,
    workers: int | None = None,
    config: ConfigLike | None = None,
) -> Iterator[Client]:
    """Open a Dask client on a local, remote or batch-system cluster.

    Parameters
    ----------
    cluster
        ``"local"``: a LocalCluster on this machine (worker processes with
        one thread each, dashboard off). ``"tcp://HOST:PORT"``: connect to a
        running scheduler; it and its workers are left running on exit.
        ``"slurm"`` / ``"pbs"``: workers as batch jobs via dask-jobqueue,
        settings from dask config ``jobqueue.<cluster>.*``.
    workers
        Number of Dask workers. Local: default one per usable core.
        Batch: default the worker processes of one job
        (``jobqueue.<cluster>.processes``, else 1); the count is held with
        ``adapt(minimum=workers, maximum=workers)``, so a worker job that is
        cancelled or reaches its lifetime is replaced. Ignored for
        ``tcp://`` (the scheduler's owner decides).
    config
        Dask config overrides, a mapping or the path of a YAML file, applied
        on top of ``$MATSCREEN_JOBQUEUE_CONFIG`` for the life of the client
        (see :func:`load_config`).

    Yields
    ------
    distributed.Client
        Closed on exit, with the cluster it started (never an external
        scheduler).

    Raises
    ------
    ValueError
        If ``cluster`` is unknown, ``workers`` < 1, or a batch cluster lacks
        walltime, memory or cores, has a key dask-jobqueue does not know, or
        names a network interface this machine lacks.
    ClusterStartError
        For a batch cluster: before anything starts when the submit command
        is not on ``PATH``; from inside the ``with`` block when the batch
        system refused the worker jobs and none is queued or running.

    Examples
    --------
    >>> with open_client("local", workers=2) as client:  # doctest: +SKIP
    ...     client.submit(sum, [1, 2]).result()
    3
    """
    import dask.config

    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if cluster in JOBQUEUE_SCHEDULERS:
        _job_class(cluster)  # imported outside the override, which would take its defaults away
    overrides = load_config(config)
    with dask.config.set(overrides):
        if cluster == "local":
            with _local_client(workers) as client:
                yield client
        elif cluster.startswith(SCHEDULER_SCHEMES):
            with _remote_client(cluster, workers) as client:
                yield client
        elif cluster in JOBQUEUE_SCHEDULERS:
            with _jobqueue_client(cluster, workers, overrides) as client:
                yield client
        else:
            check_cluster_name(cluster)


def check_cluster_name(cluster: str) -> None:
    """Refuse a ``--cluster`` value that names no cluster kind, before any work.

    Raises
    ------
    ValueError
        Unless ``cluster`` is ``local``, a job-queue scheduler (``slurm``,
        ``pbs``) or a scheduler address (``tcp://HOST:PORT``).
    """
    if cluster == "local" or cluster in JOBQUEUE_SCHEDULERS:
        return
    if cluster.startswith(SCHEDULER_SCHEMES) and cluster.split("://", 1)[1]:
        return
    raise ValueError(
        f"cluster {cluster!r} (--cluster, or cluster= in Python) is not one of: local, slurm, pbs, "
        "tcp://HOST:PORT"
    )


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``SystemExit(128 + signal)`` while a cluster we own is open.

    Batch systems stop a job (``scancel``, time limit, preemption) with SIGTERM,
    and a dropped ssh session sends SIGHUP; by default either ends Python without
    running ``finally`` blocks: the worker jobs of a ``--cluster slurm`` run would
    keep running (and billing) until their death timeout or walltime. Only done
    in the main thread, and only for a signal that still has its default handler
    (an application's own handler, or ``nohup``'s ignore, is kept).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        logger.warning("%s received: closing the cluster", signal.Signals(signum).name)
        raise SystemExit(128 + signum)

    taken = [
        sig for sig in (signal.SIGTERM, signal.SIGHUP) if signal.getsignal(sig) is signal.SIG_DFL
    ]
    for sig in taken:
        signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig in taken:
            signal.signal(sig, signal.SIG_DFL)


@contextlib.contextmanager
def _local_client(workers: int | None) -> Iterator[Client]:
    from distributed import Client, LocalCluster

    n = workers or _local_workers()
    logger.info("starting a LocalCluster with %d worker processes", n)
    with (
        _sigterm_raises(),
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # dashboard off; its HTTP server (health/metrics) on a free port, not 8787
            scheduler_kwargs={"dashboard_address": ":0"},
        ) as lc,
        Client(lc) as client,
        _quiet_heartbeats_on_close(client),
    ):
        yield client


#: Start of the message a Dask worker logs, with a traceback, when a heartbeat fails.
HEARTBEAT_FAILED = "Failed to communicate with scheduler during heartbeat"


class _ClosingHeartbeatFilter(logging.Filter):
    """Drop a worker's failed-heartbeat traceback once its cluster is being closed.

    While matscreen closes a cluster it started, a worker process whose heartbeat
    was under way when the scheduler stopped logs ``HEARTBEAT_FAILED`` with a
    ``CommClosedError`` traceback (about 30 lines on stderr, now and then; a race
    inside distributed). The results are complete by then, so the record is noise.
    Before the close is announced (:func:`_announce_close`) every record passes: a
    scheduler lost in mid-run is still reported.
    """

    closing = False

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.closing and record.getMessage().startswith(HEARTBEAT_FAILED))


_CLOSING_FILTER = _ClosingHeartbeatFilter()


def _announce_close() -> None:
    """Run in each worker process: the cluster is closing, heartbeat failures are expected."""
    _CLOSING_FILTER.closing = True
    worker_log = logging.getLogger("distributed.worker")
    if _CLOSING_FILTER not in worker_log.filters:
        worker_log.addFilter(_CLOSING_FILTER)


@contextlib.contextmanager
def _quiet_heartbeats_on_close(client: Client) -> Iterator[None]:
    """On leaving, tell the workers of a cluster matscreen owns that it is closing."""
    try:
        yield
    finally:
        try:
            if client.status == "running":
                client.run(_announce_close, on_error="ignore")
        except Exception as exc:  # noqa: BLE001 - closing goes on; only the log stays noisier
            logger.debug("workers not told of the close: %s", exc)


@contextlib.contextmanager
def _remote_client(address: str, workers: int | None) -> Iterator[Client]:
    from distributed import Client

    if workers is not None:
        logger.info("workers=%d ignored: the scheduler at %s owns its workers", workers, address)
    logger.info("connecting to the scheduler at %s", address)
    client = Client(address)
    try:
        yield client
    finally:
        client.close()  # only our connection; never client.shutdown()


def _submit_error(exc: BaseException) -> str:
    """Return the batch system's own words from a failed submission (dask-jobqueue wraps them)."""
    text = str(exc)
    if "stderr:" in text:  # dask-jobqueue: "Command exited with non-zero exit code ... stderr:"
        text = text.split("stderr:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


class _RefusalTracebackFilter(logging.Filter):
    """Drop tornado's traceback of a refused submission: the watcher reports it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (
            isinstance(exc, RuntimeError)
            and str(exc).startswith("Command exited with non-zero exit code")
        )


@contextlib.contextmanager
def _quiet_refusal_tracebacks() -> Iterator[None]:
    quiet = _RefusalTracebackFilter()
    tornado_log = logging.getLogger("tornado.application")
    tornado_log.addFilter(quiet)
    try:
        yield
    finally:
        tornado_log.removeFilter(quiet)


class _JobWatch:
    """What the driver knows of its worker jobs: submitted, refused, closed, vanished.

    Filled in from dask-jobqueue's event loop by :func:`_watched_job_class`,
    and by the watcher thread of :func:`_jobqueue_client` (vanished jobs).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.submitted: list[str] = []
        self.closed: set[str] = set()
        self.vanished: set[str] = set()
        self.refusals: list[str] = []
        self._refused_since_success = 0
        self.names: dict[str, str] = {}  # job id -> dask's name for its worker spec
        self._dead: list[str] = []  # worker specs whose job was refused or vanished

    def submit_ok(self, job_id: str | None, name: str | None = None) -> None:
        with self._lock:
            self.submitted.append(str(job_id))
            self._refused_since_success = 0
            if name is not None:
                self.names[str(job_id)] = name

    def submit_failed(self, reason: str, name: str | None = None) -> None:
        with self._lock:
            self.refusals.append(reason)
            self._refused_since_success += 1
            if name is not None:
                self._dead.append(name)

    def take_dead(self) -> list[str]:
        """Worker specs whose job was refused or vanished since the last call."""
        with self._lock:
            dead, self._dead = self._dead, []
            return dead

    def job_closed(self, job_id: str | None) -> None:
        with self._lock:
            if job_id is not None:
                self.closed.add(str(job_id))

    def job_vanished(self, job_id: str) -> None:
        with self._lock:
            self.vanished.add(job_id)
            if job_id in self.names:
                self._dead.append(self.names[job_id])

    def alive(self) -> list[str]:
        """Jobs submitted and neither closed by dask nor gone from the batch system."""
        with self._lock:
            return [j for j in self.submitted if j not in self.closed and j not in self.vanished]

    def gone(self) -> set[str]:
        """Jobs that left the batch system without their worker connecting (dask never knew)."""
        with self._lock:  # the event loop adds to both sets while the watcher reads them
            return self.vanished - self.closed

    def refused_since_success(self) -> int:
        """Refused submissions since the last one the batch system took."""
        with self._lock:
            return self._refused_since_success


def _watched_job_class(job_cls: type[Job], watch: _JobWatch) -> type[Job]:
    """Subclass ``job_cls`` so that submissions and closes are reported to ``watch``."""

    class Watched(job_cls):  # type: ignore[misc,valid-type]
        async def start(self) -> None:
            try:
                await super().start()
            except Exception as exc:
                from distributed.core import Status

                watch.submit_failed(_submit_error(exc), getattr(self, "name", None))
                self.status = Status.failed  # so that closing the cluster does not trip on it
                raise
            watch.submit_ok(self.job_id, getattr(self, "name", None))

        async def close(self) -> None:
            watch.job_closed(self.job_id)
            await super().close()

    Watched.__name__ = Watched.__qualname__ = job_cls.__name__
    return Watched


def _command_lines(args: list[str], timeout: float = 60) -> list[str] | None:
    """Run a batch system's query command; its output lines, or None when it failed."""
    import subprocess

    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.debug("%s failed: %s", args[0], exc)
        return None
    if out.returncode != 0:
        logger.debug("%s failed (%d): %s", args[0], out.returncode, out.stderr.strip())
        return None
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _slurm_live_jobs(job_ids: list[str]) -> set[str] | None:
    """Return which of ``job_ids`` SLURM still lists as waiting or running (None: unknown)."""
    import getpass

    listed = _command_lines(["squeue", "-h", "-u", getpass.getuser(), "-o", "%i"])
    return None if listed is None else {j for j in job_ids if j in set(listed)}


def _check_slurm_queue() -> None:
    """Refuse a ``jobqueue.slurm.queue`` that names no partition ``sinfo`` lists.

    Must be called with the overrides applied to ``dask.config``. Nothing is
    checked when no queue is set (SLURM's default partition) or ``sinfo`` does
    not answer.
    """
    import dask.config

    queue = dask.config.get("jobqueue.slurm.queue", None)
    if not queue:
        return
    partitions = _command_lines(["sinfo", "-h", "-o", "%R"], timeout=30)
    if not partitions:
        return
    unknown = [p for p in str(queue).split(",") if p.strip() and p.strip() not in partitions]
    if unknown:
        raise ValueError(
            f"jobqueue.slurm.queue is {queue!r}, but {', '.join(map(repr, unknown))} is no "
            f"partition of this SLURM cluster; sinfo lists: {', '.join(sorted(set(partitions)))}"
        )


def _pbs_live_jobs(job_ids: list[str]) -> set[str] | None:
    """Return which of ``job_ids`` PBS still lists (None: unknown).

    ``qselect -u $USER`` prints the full id of each of the user's jobs that is not
    finished (``1234.server``; PBS Pro and Torque); dask-jobqueue keeps the number
    only. Not tested against a real PBS here (the tests use a stand-in ``qselect``).
    """
    import getpass

    listed = _command_lines(["qselect", "-u", getpass.getuser()])
    if listed is None:
        return None
    numbers = {line.split(".", 1)[0] for line in listed}
    return {j for j in job_ids if str(j).split(".", 1)[0] in numbers}


#: How each batch system lists its live jobs, by its submit command.
_LIVE_JOBS = {"sbatch": _slurm_live_jobs, "qsub": _pbs_live_jobs}


def _connected_once(spec: str | None, seen: set[str]) -> bool:
    """Whether a worker of job spec ``spec`` (``NAME``, or ``NAME-<i>`` per process) connected."""
    return spec is not None and any(n == spec or n.startswith(f"{spec}-") for n in seen)


class _Watcher(threading.Thread):
    """Log the wait for worker jobs; end the run when no worker can ever come.

    Every ``poll`` seconds it reads what the driver knows:

    - while fewer workers than wanted are connected, it logs (on a change
      and every ``report_every`` s) how many submitted jobs have not connected;
    - every ``queue_every`` s it asks the batch system which jobs still wait
      or run: a job missing twice running, whose worker never connected, is
      logged as gone (dask-jobqueue never learns of it nor replaces it);
    - it warns when a connected worker is paused for memory;
    - when no worker is connected, no job is left waiting or running, and the
      last submissions were refused or the jobs vanished, for ``grace`` s
      running, it interrupts the main thread (``SIGINT``), which
      :func:`_jobqueue_client` turns into :class:`ClusterStartError`.

    A watcher not made in the main thread, or made with ``interrupt=False``,
    only logs the error and sets ``fatal``.
    """

    def __init__(
        self,
        cluster: JobQueueCluster,
        watch: _JobWatch,
        wanted: int,
        submit: str,
        *,
        poll: float = 1.0,
        report_every: float = 60.0,
        queue_every: float = 30.0,
        grace: float = 30.0,
        interrupt: bool = True,
    ) -> None:
        super().__init__(name="matscreen-jobqueue-watch", daemon=True)
        self.cluster, self.watch, self.wanted, self.submit = cluster, watch, wanted, submit
        self.poll, self.report_every, self.queue_every, self.grace = (
            poll, report_every, queue_every, grace,
        )  # fmt: skip
        self.live_jobs = _LIVE_JOBS.get(submit)
        self.fatal: str | None = None
        self.stopped = threading.Event()
        self._main = interrupt and threading.current_thread() is threading.main_thread()
        self._state_lock = threading.Lock()

    def stop(self) -> None:
        with self._state_lock:
            self.stopped.set()
        self.join(timeout=5)

    def _workers(self) -> dict[str, Any]:
        info = getattr(self.cluster, "scheduler_info", None) or {}
        return dict(info.get("workers", {}))

    def _paused(self) -> list[str]:
        """Names of connected workers the scheduler has paused (memory above the pause level)."""
        scheduler = getattr(self.cluster, "scheduler", None)
        try:
            states = list(getattr(scheduler, "workers", {}).values())
        except RuntimeError:  # changed while read: next time
            return []
        return sorted(str(ws.name) for ws in states if getattr(ws.status, "name", "") == "paused")

    def run(self) -> None:
        t0 = time.monotonic()
        last_report, last_state, refusals_told = t0, None, 0
        last_queue, missing_once, stuck_since = t0, set(), None
        paused_told: set[str] = set()
        seen: set[str] = set()  # names of the workers that ever connected
        replaced = 0  # jobs replaced since a new worker last connected
        while not self.stopped.wait(self.poll):
            now = time.monotonic()
            workers = self._workers()
            connected = len(workers)
            names = {str(w.get("name")) for w in workers.values()}
            if names - seen:
                seen |= names
                replaced = 0
            refused = len(self.watch.refusals)
            if refused > refusals_told:
                logger.error(
                    "%s refused %d worker job(s): %s",
                    self.submit, refused - refusals_told, self.watch.refusals[-1],
                )  # fmt: skip
                refusals_told = refused
            if self.live_jobs is not None and now - last_queue >= self.queue_every:
                last_queue = now
                missing_once = self._check_queue(missing_once, seen)
            paused = set(self._paused())
            for name in sorted(paused - paused_told):
                logger.warning(
                    "worker %s is paused: its memory use passed the pause level "
                    "(distributed.worker.memory.pause) and its tasks wait; give the workers "
                    "more memory (the job's memory is split over its processes)",
                    name,
                )
            paused_told = paused
            for name in self.watch.take_dead():
                replaced = self._replace(name, replaced)
            alive = self.watch.alive()
            gone = self.watch.gone()
            cause = self.watch.refused_since_success() or gone
            if not connected and not alive and cause:
                stuck_since = stuck_since if stuck_since is not None else now
                if now - stuck_since >= self.grace:
                    self._end(self._fatal_message(gone))
                    return
            else:
                stuck_since = None
            state = (connected, len(alive))
            changed = state != last_state and alive  # none alive: still submitting
            if connected < self.wanted and (changed or now - last_report >= self.report_every):
                logger.info(
                    "waiting for workers: %d of %d connected; %d worker job(s) submitted and "
                    "not connected yet (queued or starting)%s; %.0f s since the cluster started",
                    connected, self.wanted, max(len(alive) - connected, 0),
                    f"; so far {refused} refused and {len(gone)} gone before connecting"
                    if refused or gone else "",
                    now - t0,
                )  # fmt: skip
                last_report = now
            elif connected >= self.wanted and last_state is not None and state != last_state:
                logger.info("all %d workers connected", connected)
            last_state = state

    def _check_queue(self, missing_once: set[str], seen: set[str]) -> set[str]:
        """Mark jobs missing from the queue at two polls running as vanished; return the rest.

        Jobs whose worker has connected (its name in ``seen``) are left to dask,
        which replaces them after ``distributed.deploy.lost-worker-timeout``.
        """
        names = self.watch.names
        alive = [j for j in self.watch.alive() if not _connected_once(names.get(j), seen)]
        if not alive or self.live_jobs is None:
            return set()
        listed = self.live_jobs(alive)
        if listed is None:
            return missing_once
        missing = set(alive) - listed
        for job_id in sorted(missing & missing_once):
            self.watch.job_vanished(job_id)
            logger.error(
                "worker job %s ended without its worker connecting to the scheduler: see its "
                "output (jobqueue log-directory, else the folder it was submitted from); a "
                "failing job-script-prologue or no matscreen on the compute node are the usual "
                "causes",
                job_id,
            )
        return missing - missing_once

    def _replace(self, name: str, replaced: int) -> int:
        """Have dask-jobqueue submit a new job for the dead worker spec ``name``.

        dask-jobqueue keeps a refused or vanished job's spec for good, so its
        worker would never come (a passing sbatch timeout cost a worker for
        the whole run). Done at most ``wanted`` times until a new worker
        connects, so wrong settings, a broken node or a broken prologue cannot
        make it submit for ever (the run then ends, or goes on with the
        workers it has). Returns the new count of replacements.
        """
        if replaced >= self.wanted:
            logger.error(
                "worker %s is not replaced (%d replacements since a worker last connected): "
                "the run goes on with the workers it has, and ends if none is queued, running "
                "or connected %.0f s from now",
                name, replaced, self.grace,
            )  # fmt: skip
            return replaced
        cluster = self.cluster

        def drop() -> None:  # on the cluster's event loop; adapt then submits a new job
            cluster.worker_spec.pop(name, None)
            cluster.workers.pop(name, None)

        cluster.loop.add_callback(drop)
        logger.warning("worker %s: submitting a new job in place of its lost one", name)
        return replaced + 1

    def _fatal_message(self, gone: set[str]) -> str:
        if self.watch.refused_since_success():
            return (
                f"{self.submit} refused the worker jobs and none is queued or running, so no "
                f"worker can ever connect: {self.watch.refusals[-1]} (fix the jobqueue "
                "settings; --dry-run shows the job script)"
            )
        return (
            f"worker job(s) {', '.join(sorted(gone))} ended without a worker connecting, and "
            "none is queued or running: see the job output (jobqueue log-directory); "
            "--dry-run shows the job script"
        )

    def _end(self, message: str) -> None:
        import signal

        with self._state_lock:
            if self.stopped.is_set():
                return
            self.fatal = message
            logger.error("%s", message)
            if self._main:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


@contextlib.contextmanager
def _jobqueue_client(
    scheduler: str, workers: int | None, overrides: Mapping[str, Any]
) -> Iterator[Client]:
    import dask.config
    from distributed import Client

    from matscreen.core.errors import ClusterStartError

    kwargs = _checked_job_kwargs(scheduler, overrides, tell=True)
    cluster_cls, job_cls = _job_class(scheduler)
    options = _scheduler_options(scheduler)
    n = workers or int(dask.config.get(f"jobqueue.{scheduler}.processes", None) or 1)
    watch = _JobWatch()
    with (
        _quiet_refusal_tracebacks(),
        _sigterm_raises(),
        cluster_cls(
            scheduler_options=options, job_cls=_watched_job_class(job_cls, watch), **kwargs
        ) as jq,
    ):
        logger.info(
            "%s: keeping %d workers as batch jobs (scheduler %s); job script:\n%s",
            cluster_cls.__name__,
            n,
            jq.scheduler_address,
            # dask-jobqueue renders it for a worker named "dummy-name"; each job gets its own
            jq.job_script().replace("dummy-name", "<worker-name>"),
        )
        watcher = _Watcher(jq, watch, n, str(job_cls.submit_command).split()[0])
        jq.adapt(minimum=n, maximum=n)
        watcher.start()
        try:
            with Client(jq) as client, _quiet_heartbeats_on_close(client):
                yield client
        except KeyboardInterrupt:
            if watcher.fatal:
                raise ClusterStartError(watcher.fatal) from None
            raise
        finally:
            watcher.stop()
