"""The chunked featurization engine: batches, Dask partitions, a Parquet cache.

Instead of matminer's ``featurize_dataframe`` (a multiprocessing pool, one
entry at a time, columns inserted one by one), the engine

1. looks every entry up in a Parquet cache keyed by the featurizer set and
   the entry's content (structure hash, or the formula with its amounts), so
   a rerun computes nothing twice;
2. splits the rest into chunks and featurizes each chunk with the featurizers'
   batched entry points (vectorized for compositions), on Dask workers when a
   client is given, one thread per task;
3. records, per row, the first error met instead of raising, so one bad
   structure never stops a chunk;
4. concatenates once at the end.
"""

from __future__ import annotations

import logging
import pickle
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.core.hashing import config_hash, structure_hash
from matscreen.featurize.base import BatchFeaturizer

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

logger = logging.getLogger(__name__)

ERROR_COLUMN = "featurize_error"


def featurizer_signature(featurizers: Sequence[BatchFeaturizer]) -> str:
    """Return a hash naming a featurizer set with its parameters and labels."""
    spec = [
        {"class": type(f).__name__, "params": f.__dict__, "labels": f.feature_labels()}
        # a featurizer whose values changed says so with a class ``version``
        | ({"version": f.version} if getattr(f, "version", None) else {})
        for f in featurizers
    ]
    return config_hash(spec)


def entry_key(entry: Any) -> str:
    """Return the cache key of an entry: structure hash, or its formula (Li6Cl6 is not LiCl)."""
    if hasattr(entry, "lattice"):
        return "s:" + structure_hash(entry)
    from matscreen.featurize.composition import as_composition

    try:
        return "c:" + as_composition(entry).formula
    except ValueError:
        return "bad:" + str(entry)


def featurize_chunk(
    entries: Sequence[Any], featurizers: Sequence[BatchFeaturizer]
) -> tuple[np.ndarray, list[str | None]]:
    """Featurize one chunk with every featurizer; never raises for a bad entry.

    Parameters
    ----------
    entries
        Structures (for structure and composition featurizers) or
        compositions/formulas (composition featurizers only).
    featurizers
        Featurizers to concatenate, in order.

    Returns
    -------
    values
        ``(len(entries), n_labels)`` array, NaN where a featurizer failed.
    errors
        Per entry, ``None`` or the first error met.
    """
    from matscreen.featurize.composition import element_matrix

    blocks = []
    errors: list[str | None] = [None] * len(entries)
    packed = None  # the composition featurizers share one parse of the entries
    for f in featurizers:
        if f.input_kind == "structure" and not all(hasattr(e, "lattice") for e in entries):
            values = np.full((len(entries), len(f.feature_labels())), np.nan)
            errs = [
                None if hasattr(e, "lattice") else f"{type(f).__name__}: needs a structure"
                for e in entries
            ]
            idx = [i for i, e in enumerate(entries) if hasattr(e, "lattice")]
            if idx:
                sub, sub_errs = f.featurize_batch([entries[i] for i in idx])
                values[idx] = sub
                for j, i in enumerate(idx):
                    errs[i] = sub_errs[j]
        elif hasattr(f, "featurize_packed"):
            if packed is None:
                packed = element_matrix(list(entries))
            values, errs = f.featurize_packed(*packed)
        else:
            values, errs = f.featurize_batch(list(entries))
        blocks.append(values)
        for i, err in enumerate(errs):
            if err is not None and errors[i] is None:
                errors[i] = err
    return np.concatenate(blocks, axis=1), errors


@dataclass
class FeatureCache:
    """Parquet cache of feature rows, one folder per featurizer set.

    Parameters
    ----------
    root
        Cache folder; each featurizer set gets ``root/features-<signature>/``.
    """

    root: Path

    def folder(self, signature: str) -> Path:
        """Return (and create) the folder of one featurizer set."""
        path = Path(self.root).expanduser() / f"features-{signature}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def load(self, signature: str, keys: Sequence[str], labels: Sequence[str]) -> pd.DataFrame:
        """Return cached rows for ``keys`` (indexed by key; missing keys absent).

        An unreadable cache is logged and treated as empty: it costs a
        recomputation, never a failed row.
        """
        import pandas as pd
        import pyarrow.dataset as ds

        folder = self.folder(signature)
        if not any(folder.glob("*.parquet")):
            return pd.DataFrame()
        try:
            dataset = ds.dataset(str(folder), format="parquet", schema=_schema(labels))
            table = dataset.to_table(filter=ds.field("key").isin(list(set(keys))))
        except Exception as exc:  # noqa: BLE001 - a broken cache must not fail the run
            logger.warning("ignoring unreadable feature cache %s: %s", folder, exc)
            return pd.DataFrame()
        frame = table.to_pandas()
        return frame.drop_duplicates("key", keep="last").set_index("key")

    def store(self, signature: str, frame: pd.DataFrame, labels: Sequence[str]) -> None:
        """Append rows (``key``, the feature columns, the error column) atomically."""
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        from matscreen.core.io import atomic_write_bytes

        if not len(frame):
            return
        try:
            table = pa.Table.from_pandas(frame, schema=_schema(labels), preserve_index=False)
            buf = io.BytesIO()
            pq.write_table(table, buf)
            atomic_write_bytes(
                self.folder(signature) / f"part-{uuid.uuid4().hex}.parquet", buf.getvalue()
            )
        except Exception as exc:  # noqa: BLE001 - caching is an optimisation
            logger.warning("could not write the feature cache: %s", exc)


def _schema(labels: Sequence[str]):  # noqa: ANN202 - pyarrow.Schema
    import pyarrow as pa

    fields = [pa.field("key", pa.string())]
    fields += [pa.field(label, pa.float64()) for label in labels]
    fields.append(pa.field(ERROR_COLUMN, pa.string()))
    return pa.schema(fields)


def featurize(
    entries: Sequence[Any],
    featurizers: Sequence[BatchFeaturizer],
    *,
    client: Client | None = None,
    chunk_size: int = 64,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Featurize entries with the chunked engine.

    Parameters
    ----------
    entries
        pymatgen Structures (or ASE Atoms), Compositions or formula strings.
    featurizers
        matscreen featurizers; their labels become the columns.
    client
        A ``dask.distributed.Client``; without one, chunks run in this process.
    chunk_size
        Entries per task.
    cache_dir
        Folder of the Parquet cache; ``None`` disables caching.
    progress
        Show a progress bar (tqdm) over chunks.

    Returns
    -------
    pandas.DataFrame
        One row per entry in input order, one column per feature label, and
        ``featurize_error`` (``None`` or the reason the row failed).

    Examples
    --------
    >>> from matscreen.featurize.composition import StoichiometryNorms
    >>> featurize(["LiCl", "Li2O"], [StoichiometryNorms(p_list=(0,))])["0-norm"].tolist()
    [2.0, 2.0]
    """
    import pandas as pd

    from matscreen.core.io import is_ase_atoms, none_for_missing, to_structure

    entries = [to_structure(e) if is_ase_atoms(e) else e for e in entries]
    labels = [label for f in featurizers for label in f.feature_labels()]
    keys = [entry_key(e) for e in entries]
    signature = featurizer_signature(featurizers)
    cache = FeatureCache(Path(cache_dir)) if cache_dir is not None else None
    cached = cache.load(signature, keys, labels) if cache is not None else pd.DataFrame()
    todo_idx = [i for i, k in enumerate(keys) if k not in cached.index]
    # Featurize each distinct key once.
    first_of: dict[str, int] = {}
    for i in todo_idx:
        first_of.setdefault(keys[i], i)
    unique_idx = list(first_of.values())
    logger.info(
        "featurizing %d entries (%d cached, %d to compute)",
        len(entries), len(entries) - len(todo_idx), len(unique_idx),
    )  # fmt: skip
    chunks = [unique_idx[i : i + chunk_size] for i in range(0, len(unique_idx), chunk_size)]
    results = _run_chunks([[entries[i] for i in c] for c in chunks], featurizers, client, progress)

    new_rows = []
    for chunk, (values, errors) in zip(chunks, results, strict=True):
        block = pd.DataFrame(values, columns=labels)
        block.insert(0, "key", [keys[i] for i in chunk])
        block[ERROR_COLUMN] = errors
        new_rows.append(block)
    computed = pd.concat(new_rows, ignore_index=True) if new_rows else pd.DataFrame()
    if cache is not None and len(computed):
        cache.store(signature, computed, labels)
    if len(computed):
        computed = computed.set_index("key")
    table = pd.concat([cached, computed]) if len(cached) else computed
    if not len(table):
        return pd.DataFrame(columns=[*labels, ERROR_COLUMN])
    out = table.reindex(keys).reset_index(drop=True)
    out[ERROR_COLUMN] = none_for_missing(out[ERROR_COLUMN])
    return out[[*labels, ERROR_COLUMN]]


def _featurize_pickled(
    payload: bytes, featurizers: Sequence[BatchFeaturizer]
) -> tuple[np.ndarray, list[str | None]]:
    return featurize_chunk(pickle.loads(payload), featurizers)  # noqa: S301 - our own data


def _run_chunks(
    chunks: list[list[Any]],
    featurizers: Sequence[BatchFeaturizer],
    client: Client | None,
    progress: bool,
) -> list[tuple[np.ndarray, list[str | None]]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(chunks), desc="featurize", unit="chunk", disable=not progress)
    try:
        if client is None:
            out = []
            for chunk in chunks:
                out.append(featurize_chunk(chunk, featurizers))
                bar.update()
            return out
        from distributed import as_completed

        fs = list(featurizers)
        # Ship each chunk as one pickled blob inside its task: Dask's per-object
        # serialization of pymatgen Structures (many small frames) is several times
        # slower, and data scattered to a worker is lost with it, while a task's own
        # arguments let the scheduler rerun it elsewhere.
        futures = [
            client.submit(
                _featurize_pickled, pickle.dumps(c, protocol=5), fs, pure=False, retries=2
            )
            for c in chunks
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(futures)
        for future in as_completed(futures):
            out[index[future.key]] = future.result()
            bar.update()
        return out
    finally:
        bar.close()
