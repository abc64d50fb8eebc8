"""open_client on this machine: a LocalCluster, and an external scheduler over tcp://."""

from __future__ import annotations

import logging
import operator

import pytest

from matscreen.core import clusters
from matscreen.core.clusters import open_client

pytestmark = pytest.mark.usefixtures("clean_dask_config")


def test_local_cluster_with_two_single_threaded_workers() -> None:
    """open_client('local', workers=2): 2 one-thread workers, closed on exit."""
    with open_client("local", workers=2) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        assert all(w["nthreads"] == 1 for w in workers.values())
        assert client.submit(operator.add, 1, 2).result() == 3
        assert sorted(client.gather(client.map(operator.neg, range(10)))) == sorted(
            -i for i in range(10)
        )
        cluster = client.cluster
    assert client.status == "closed"
    assert cluster.status.name == "closed"


def test_tcp_client_leaves_external_scheduler_running() -> None:
    """open_client('tcp://...') uses, and never shuts down, an external scheduler."""
    from distributed import Client, LocalCluster

    with LocalCluster(
        protocol="tcp://",
        host="127.0.0.1",
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},  # HTTP server on a free port
    ) as external:
        address = external.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        with open_client(address, workers=4) as client:
            assert client.submit(operator.mul, 6, 7).result() == 42
        assert client.status == "closed"
        # the scheduler and its worker are still there for others
        assert external.status.name == "running"
        with Client(address) as other:
            assert len(other.scheduler_info()["workers"]) == 1
            assert other.submit(operator.add, 2, 2).result() == 4
            # nor told its workers that their cluster is closing
            assert set(other.run(_worker_filter_state).values()) == {(False, True)}


def _worker_filter_state() -> tuple[bool, bool]:
    """In a worker: (close announced, a failed-heartbeat record would reach the log)."""
    record = logging.LogRecord(
        "distributed.worker", logging.ERROR, __file__, 1, clusters.HEARTBEAT_FAILED + ".",
        None, None,
    )  # fmt: skip
    return clusters._CLOSING_FILTER.closing, logging.getLogger("distributed.worker").filter(record)


def test_owned_cluster_workers_drop_heartbeat_tracebacks_only_once_closing() -> None:
    """The closing announcement reaches every worker; records before it and others pass."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                     scheduler_kwargs={"dashboard_address": ":0"}) as lc,
        Client(lc) as client,
    ):  # fmt: skip
        assert set(client.run(_worker_filter_state).values()) == {(False, True)}
        with clusters._quiet_heartbeats_on_close(client):
            assert client.submit(operator.add, 1, 1).result() == 2
        assert set(client.run(_worker_filter_state).values()) == {(True, False)}

        def other_error_passes() -> bool:
            record = logging.LogRecord(
                "distributed.worker", logging.ERROR, __file__, 1, "Compute failed", None, None
            )
            return logging.getLogger("distributed.worker").filter(record)

        assert set(client.run(other_error_passes).values()) == {True}
