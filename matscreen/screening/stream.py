"""Streaming first stage: featurize and predict an unbounded stream of candidate rows.

:func:`featurize_predict_stream` consumes candidate rows lazily, sends
chunks of them to Dask with a bounded number of tasks in flight, runs the
same per-chunk work as a screening run
(:func:`matscreen.screening.stages.featurize_stage`) and writes every
finished chunk as its own Parquet part, then forgets it. The driver holds at
most ``max_in_flight`` chunks of rows (plus one being filled) and one result,
so its memory stays flat however many candidates stream through.

The rows travel inside each task (never ``client.scatter``-ed), so when a
worker dies the scheduler can rerun the task elsewhere. The output folder is
readable as one dataset::

    import pyarrow.dataset as ds
    table = ds.dataset(out_dir, format="parquet").to_table()

Each part holds the columns of ``featurize_stage`` plus ``row_index`` (the
row's position in the input stream); parts are named by chunk number
(``part-000000.parquet``, ...), so sorting by ``row_index`` restores the
input order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matscreen.core.io import atomic_write_parquet
from matscreen.screening.stages import featurize_stage

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client, Future

logger = logging.getLogger(__name__)

__all__ = ["featurize_predict_stream", "part_name"]

ROW_COLUMNS: tuple[str, ...] = ("id", "formula", "status", "error", "structure")


def part_name(chunk_index: int) -> str:
    """Return the file name of the Parquet part of chunk ``chunk_index``."""
    return f"part-{chunk_index:06d}.parquet"


def _chunks(
    rows: Iterable[dict[str, Any]], chunk_size: int
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Yield ``(first row index, rows)`` chunks; a repeated id makes that row failed.

    Only the columns of :data:`ROW_COLUMNS` travel to the workers. The set of
    ids seen so far is the only state that grows with the stream (about 100
    bytes per row).
    """
    seen: set[str] = set()
    chunk: list[dict[str, Any]] = []
    start = 0
    for i, row in enumerate(rows):
        slim = {key: row.get(key) for key in ROW_COLUMNS}
        slim["status"] = slim["status"] or "ok"
        rid = str(slim["id"])
        if rid in seen:
            slim["status"] = "failed"
            slim["error"] = f"duplicate id {rid!r} (already seen in this stream)"
        seen.add(rid)
        chunk.append(slim)
        if len(chunk) == chunk_size:
            yield start, chunk
            start, chunk = i + 1, []
    if chunk:
        yield start, chunk


def _failed_chunk(chunk: list[dict[str, Any]], exc: BaseException) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "id": [r["id"] for r in chunk],
            "status": "failed",
            "error": f"featurize task failed: {type(exc).__name__}: {exc}",
        }
    )


class _PartWriter:
    """Write result chunks as Parquet parts that all share one schema.

    Text columns are written as strings even when a chunk has only nulls in
    them, and a chunk whose task failed (only ``id``/``status``/``error``) is
    widened to the columns of the first complete chunk, so that
    ``pyarrow.dataset`` reads the folder as one table. Failed chunks met before
    any complete one are held back (they are small) until one arrives.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.dtypes: pd.Series | None = None
        self.deferred: list[tuple[int, int, pd.DataFrame]] = []
        self.n_rows = 0

    @staticmethod
    def _normalize(table: pd.DataFrame) -> pd.DataFrame:
        for column in table.columns:
            if table[column].dtype == object:
                table[column] = table[column].astype("string")
        return table

    def write(
        self, index: int, start: int, table: pd.DataFrame, n_rows: int, complete: bool
    ) -> None:
        import numpy as np

        if len(table) != n_rows:
            raise RuntimeError(f"chunk {index}: {len(table)} result rows for {n_rows} inputs")
        table = self._normalize(table.reset_index(drop=True))
        table.insert(0, "row_index", np.arange(start, start + n_rows, dtype=np.int64))
        self.n_rows += n_rows
        if complete and self.dtypes is None:
            self.dtypes = table.dtypes
        if not complete:
            if self.dtypes is None:
                self.deferred.append((index, start, table))
                return
            table = table.reindex(columns=self.dtypes.index).astype(self.dtypes.to_dict())
        atomic_write_parquet(self.out_dir / part_name(index), table)
        if self.dtypes is not None and self.deferred:
            deferred, self.deferred = self.deferred, []
            for d_index, d_start, d_table in deferred:
                self.n_rows -= len(d_table)
                self.write(d_index, d_start, d_table.drop(columns="row_index"), len(d_table), False)

    def close(self) -> None:
        """Write the failed chunks still held back (no complete chunk ever came)."""
        for index, _start, table in self.deferred:
            atomic_write_parquet(self.out_dir / part_name(index), table)
        self.deferred = []


def featurize_predict_stream(
    rows: Iterable[dict[str, Any]],
    *,
    client: Client | None,
    options: dict[str, Any],
    out_dir: str | Path,
    chunk_size: int = 256,
    max_in_flight: int | None = None,
) -> Path:
    """Featurize and predict a stream of candidate rows chunk by chunk on Dask.

    Parameters
    ----------
    rows
        Candidate rows, consumed lazily (a generator is fine): dicts with
        ``id``, ``formula``, ``status``, ``error`` and ``structure`` (a
        pymatgen JSON string). Other keys are ignored. A row whose ``id`` was
        already seen comes back ``failed`` ("duplicate id").
    client
        A ``dask.distributed.Client``. ``None`` runs every chunk in this
        process, one after the other (for tests and tiny inputs).
    options
        Options of :func:`~matscreen.screening.stages.featurize_stage`
        (``composition``, ``structure``, ``transport``, ``cache_dir``,
        ``family``).
    out_dir
        Folder for the Parquet parts (created; parts already there with the
        same names are overwritten).
    chunk_size
        Rows per task.
    max_in_flight
        Most tasks submitted and not yet written (default: twice the number
        of workers, at least 2).

    Returns
    -------
    pathlib.Path
        ``out_dir``, holding one Parquet part per chunk; every input row is in
        exactly one part, with ``row_index`` its position in ``rows``.

    Raises
    ------
    ValueError
        If ``chunk_size`` or ``max_in_flight`` is not positive.
    """
    from distributed import as_completed

    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if max_in_flight is not None and max_in_flight < 1:
        raise ValueError(f"max_in_flight must be positive, got {max_in_flight}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    writer = _PartWriter(out_dir)
    n_chunks = n_failed_tasks = 0

    if client is None:
        for index, (start, chunk) in enumerate(_chunks(rows, chunk_size)):
            complete = True
            try:
                table = featurize_stage(chunk, options)
            except Exception as exc:  # noqa: BLE001 - the chunk fails, the stream goes on
                logger.error("stream chunk %d failed: %s", index, exc)
                table, complete = _failed_chunk(chunk, exc), False
                n_failed_tasks += 1
            writer.write(index, start, table, len(chunk), complete)
            n_chunks += 1
        writer.close()
        logger.info("stream: %d rows in %d chunks (%d failed tasks), %.1f s", writer.n_rows,
                    n_chunks, n_failed_tasks, time.perf_counter() - t0)  # fmt: skip
        return out_dir

    if max_in_flight is None:
        n_workers = len(client.scheduler_info().get("workers", {}))
        max_in_flight = max(2, 2 * n_workers)
    pending: dict[Future, tuple[int, int, list[dict[str, Any]]]] = {}
    done_iter = as_completed()
    peak = 0

    def collect_one() -> None:
        nonlocal n_failed_tasks
        future = next(done_iter)
        index, start, chunk = pending.pop(future)
        complete = True
        try:
            table = future.result()
        except Exception as exc:  # noqa: BLE001 - the chunk fails, the stream goes on
            logger.error("stream chunk %d failed: %s", index, exc)
            table, complete = _failed_chunk(chunk, exc), False
            n_failed_tasks += 1
        future.release()
        writer.write(index, start, table, len(chunk), complete)

    for index, (start, chunk) in enumerate(_chunks(rows, chunk_size)):
        while len(pending) >= max_in_flight:
            collect_one()
        # The rows travel inside the task (never scattered): a lost worker's task is rerun.
        future = client.submit(featurize_stage, chunk, options, pure=False, retries=2)
        pending[future] = (index, start, chunk)
        done_iter.add(future)
        n_chunks += 1
        peak = max(peak, len(pending))
    while pending:
        collect_one()
    writer.close()
    logger.info(
        "stream: %d rows in %d chunks (%d failed tasks, at most %d in flight), %.1f s",
        writer.n_rows, n_chunks, n_failed_tasks, peak, time.perf_counter() - t0,
    )  # fmt: skip
    return out_dir
