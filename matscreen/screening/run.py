"""The screening run: candidates -> features -> scores -> survivors -> ranking -> report.

:func:`screen` is the whole run, the same from Python and from the CLI. Work
is cut into chunks that run as Dask tasks; every finished chunk is written to
``DIR/checkpoints`` at once, so a killed run resumed with ``resume=True``
recomputes only the chunks that were in flight.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from matscreen.core.config import WorkflowConfig, load_workflow
from matscreen.core.errors import MatscreenInputError
from matscreen.core.hashing import config_hash
from matscreen.core.io import atomic_write_json, atomic_write_parquet, none_for_missing
from matscreen.core.locks import RunLock
from matscreen.core.progress import time_left
from matscreen.screening.checkpoint import CheckpointStore

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

    from matscreen.candidates.space import CandidateSpace

logger = logging.getLogger(__name__)

#: Descriptors behind the electrolyte transport score, with the better direction.
TRANSPORT_SCORE_TERMS: dict[str, bool] = {
    "bottleneck_radius_mean": True,
    "li_network_dim": True,
    "li_li_nn_mean": False,
    "free_volume_fraction": True,
    "li_fraction": True,
}
#: Descriptors behind the cathode descriptor score, with the better direction.
CATHODE_SCORE_TERMS: dict[str, bool] = {
    "capacity_redox_mAh_g": True,
    "mn3_fraction": False,
    "cost_usd_per_kg": False,
}


def screen(
    workflow: str | Path | WorkflowConfig | dict,
    client: Client | None = None,
    out: str | Path | None = None,
    *,
    cluster: str = "local",
    workers: int | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run a screening workflow and write its results.

    Parameters
    ----------
    workflow
        A workflow YAML path, a :class:`~matscreen.core.config.WorkflowConfig`
        or a dict of the same fields (relative space paths: from the working
        directory).
    client
        A ``dask.distributed.Client`` to run on (local, remote or
        dask-jobqueue). Without one, a cluster is opened from ``cluster`` and
        closed at the end.
    out
        Output folder (default ``runs/<workflow name>`` in the working directory).
    cluster
        ``local``, ``slurm``, ``pbs`` or ``tcp://HOST:PORT``; used only when
        ``client`` is None.
    workers
        Number of workers for a cluster this function starts.
    resume
        Continue an interrupted run in ``out`` instead of refusing to reuse it.
    progress
        Show progress bars (default: when stderr is a terminal).

    Returns
    -------
    pandas.DataFrame
        The results table, also written to ``out/results.parquet``.

    Raises
    ------
    MatscreenInputError
        For a bad workflow, or an output folder that holds an earlier run
        while ``resume`` is False.
    OutputLockedError
        If another run holds ``out``.
    """
    if isinstance(workflow, WorkflowConfig):
        cfg = workflow
    elif isinstance(workflow, dict):
        from matscreen.core.config import workflow_from_mapping

        cfg = workflow_from_mapping(workflow, lax=True)
    else:
        cfg = load_workflow(workflow)
    out = Path(out) if out is not None else Path("runs") / cfg.name
    if progress is None:
        progress = sys.stderr.isatty()
    # what can be refused from the inputs alone is, before the output folder is made
    space = load_candidate_space(cfg)
    check_space_family(cfg, space)
    if client is None:
        from matscreen.core.clusters import check_cluster_name

        try:
            check_cluster_name(cluster)
        except ValueError as exc:
            raise MatscreenInputError(str(exc)) from None
    store = CheckpointStore(out)
    with RunLock(out):
        # the candidates alone (keyed by the space, made before the cluster starts) are no
        # work to protect: a run whose cluster failed to start can simply be started again
        earlier = store.stages_present(ignore=("candidates",)) or (out / "results.parquet").exists()
        if not resume and earlier:
            raise MatscreenInputError(
                f"{out} already holds a run; pass --resume (resume=True from Python) to "
                "continue it, or choose another output folder"
            )
        if resume:
            _note_resume(cfg, out, bool(earlier))
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        candidates = _candidates(cfg, store, space)
        timings["candidates_s"] = time.perf_counter() - t0
        with _maybe_client(client, cluster, workers) as c:
            results = _run_stages(cfg, candidates, c, store, timings, progress)
            cluster_info = {
                "scheduler": c.scheduler.address,
                "workers": len(c.scheduler_info()["workers"]),
            }
        _write_outputs(cfg, out, results, timings, cluster_info, store.reused)
    return results


@contextlib.contextmanager
def _maybe_client(client: Client | None, cluster: str, workers: int | None) -> Iterator[Client]:
    if client is not None:
        yield client
        return
    from matscreen.core.clusters import open_client

    with open_client(cluster, workers=workers) as c:
        yield c


def load_candidate_space(cfg: WorkflowConfig) -> CandidateSpace:
    """Load the workflow's candidate space; a bad one is an input error naming the field."""
    from matscreen.candidates.space import load_space

    try:
        return load_space(cfg.resolve_space())
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise MatscreenInputError(f"{cfg.source or cfg.name}: candidates.space: {exc}") from None


def check_space_family(cfg: WorkflowConfig, space: CandidateSpace) -> None:
    """Refuse a space none of whose prototypes is of the workflow's family.

    The generator keeps only prototypes of the workflow's ``family``; a
    halide space under ``family: mn_cathode`` would give no candidate.

    Raises
    ------
    MatscreenInputError
        Naming the workflow's family and the prototypes' families.
    """
    from matscreen.candidates.prototypes import prototype_info

    families = {
        entry.prototype: prototype_info(entry.prototype).family for entry in space.prototypes
    }
    if space.prototypes and cfg.family not in families.values():
        found = ", ".join(f"{name} ({family})" for name, family in families.items())
        raise MatscreenInputError(
            f"{cfg.source or cfg.name}: family {cfg.family} but candidates.space {space.name} "
            f"holds no prototype of that family: {found}"
        )


def _candidates(cfg: WorkflowConfig, store: CheckpointStore, space: CandidateSpace) -> pd.DataFrame:
    """Generate (or reload) the candidate rows of a run."""
    import pandas as pd

    from matscreen.candidates.generate import generate_candidates

    spec = {"space": cfg.resolve_space(), "seed": cfg.seed, "limit": cfg.candidates.limit}
    key = config_hash({**spec, "family": cfg.family})
    if store.has("candidates", key):
        logger.info("reusing the candidates of the earlier run in %s", store.root)
        return store.load("candidates", key)
    records = generate_candidates(space, seed=cfg.seed, family=cfg.family)
    if cfg.candidates.limit is not None:
        records = records[: cfg.candidates.limit]
    if not records:
        raise MatscreenInputError(
            f"{cfg.source or cfg.name}: candidates.space {space.name} gives no candidates: every "
            "substitution is empty, or none of its compositions is charge balanced"
        )
    rows = [r.to_row() for r in records]
    table = pd.DataFrame(rows)
    ids = table["id"]
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise MatscreenInputError(f"candidate generator produced duplicate id {dup!r}")
    logger.info(
        "%d candidates (%d failed in generation)", len(table), int((table["status"] != "ok").sum())
    )
    store.save("candidates", key, table)
    return table


def _chunk_rows(table: pd.DataFrame, columns: list[str], size: int) -> list[list[dict[str, Any]]]:
    records = table[columns].to_dict("records")
    return [records[i : i + size] for i in range(0, len(records), size)]


#: Stage options that say where things are, not what is computed (left out of checkpoint keys).
LOCATION_OPTIONS: frozenset[str] = frozenset({"cache_dir"})


def run_chunks(
    client: Client,
    func: Callable[[list[dict[str, Any]], dict[str, Any]], pd.DataFrame],
    chunks: list[list[dict[str, Any]]],
    options: dict[str, Any],
    store: CheckpointStore,
    stage: str,
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """Run ``func`` over chunks on Dask, checkpointing each finished chunk.

    Chunks already checkpointed (same ids, same options except
    :data:`LOCATION_OPTIONS`) are loaded, not recomputed. A chunk whose task
    raises is recorded with every row failed and the reason, and the run
    goes on.
    """
    import pandas as pd
    from distributed import as_completed
    from tqdm.auto import tqdm

    # where caches live is not what a chunk computes: a requeue on another node (other HOME,
    # other MATSCREEN_CACHE_DIR) must still find its checkpoints
    computed = {k: v for k, v in options.items() if k not in LOCATION_OPTIONS}
    keys = [config_hash({"ids": [r["id"] for r in chunk], "options": computed}) for chunk in chunks]
    done = {k: store.load(stage, k) for k in keys if store.has(stage, k)}
    todo = [(k, chunk) for k, chunk in zip(keys, chunks, strict=True) if k not in done]
    logger.info("%s: %d chunks (%d from checkpoints)", stage, len(chunks), len(done))
    store.reused[stage] = store.reused.get(stage, 0) + len(done)
    bar = tqdm(total=len(chunks), initial=len(done), desc=stage, unit="chunk", disable=not progress)
    started, finished, last_said = time.monotonic(), 0, 0.0

    def log_chunk() -> None:
        """Without a bar (a batch job's log): the first and last chunk, else every 30 s."""
        nonlocal last_said
        now = time.monotonic()
        if progress or not (finished == 1 or len(done) == len(chunks) or now - last_said >= 30):
            return
        last_said = now
        logger.info(
            "%s: %d/%d chunks done%s", stage, len(done), len(chunks),
            time_left(now - started, finished, len(chunks) - len(done)),
        )  # fmt: skip

    # The rows travel inside each task (never scattered), so the scheduler can rerun a
    # task elsewhere when its worker dies.
    futures = {
        client.submit(func, chunk, options, pure=False, retries=2): (k, chunk) for k, chunk in todo
    }
    try:
        for future in as_completed(list(futures)):
            key, chunk = futures.pop(future)
            try:
                table = future.result()
            except Exception as exc:  # noqa: BLE001 - the chunk fails, the run goes on
                # Not checkpointed, so that --resume tries this chunk again.
                logger.error("%s chunk %s failed: %s", stage, key, exc)
                done[key] = pd.DataFrame(
                    {"id": [r["id"] for r in chunk], "status": "failed",
                     "error": f"{stage} task failed: {type(exc).__name__}: {exc}"}
                )  # fmt: skip
                bar.update()
                finished += 1
                log_chunk()
                continue
            finally:
                # the driver holds the result now: a worker that retires or dies later must
                # not have the scheduler compute it again to keep it
                future.release()
            store.save(stage, key, table)
            done[key] = table
            bar.update()
            finished += 1
            log_chunk()
    finally:
        bar.close()
    return concat_rows([done[k] for k in keys])


def concat_rows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack chunk tables; a column that is all-NA in one chunk does not set its dtype.

    pandas deprecated that rule in ``concat`` (a FutureWarning on every run whose
    physics chunks left a column empty); here the empty columns are left out
    before stacking and restored after, and text columns hold None, not NaN.
    """
    import pandas as pd

    if not frames:
        return pd.DataFrame()
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    kept = [f.dropna(axis=1, how="all") for f in frames]
    out = pd.concat(kept, ignore_index=True).reindex(columns=columns)
    for col in out.columns:
        if out[col].dtype == object:  # pandas 3 text ("str") columns keep NaN, as read back
            out[col] = none_for_missing(out[col])
    return out


def percentile_score(table: pd.DataFrame, terms: dict[str, bool], mask: np.ndarray) -> np.ndarray:
    """Mean percentile rank of several descriptors (1 = best), over rows in ``mask``."""
    scores = np.full(len(table), np.nan)
    if not mask.any():
        return scores
    parts = []
    for column, larger_better in terms.items():
        values = table.loc[mask, column].astype(float)
        pct = values.rank(pct=True, ascending=larger_better).fillna(0.0).to_numpy()
        parts.append(pct)
    scores[mask] = np.mean(parts, axis=0)
    return scores


def _run_stages(
    cfg: WorkflowConfig,
    candidates: pd.DataFrame,
    client: Client,
    store: CheckpointStore,
    timings: dict[str, float],
    progress: bool,
) -> pd.DataFrame:
    import pandas as pd

    from matscreen.core.settings import get_settings
    from matscreen.screening.pareto import pareto_rank
    from matscreen.screening.stages import CONDUCTIVITY_COLUMNS, bvse_stage, featurize_stage

    settings = get_settings()
    chunk_size = cfg.featurize.chunk_size or settings.CHUNK_SIZE
    cache_dir = str(settings.cache_dir())
    options = {
        "composition": cfg.featurize.composition, "structure": cfg.featurize.structure,
        "transport": cfg.featurize.transport, "cache_dir": cache_dir, "family": cfg.family,
    }  # fmt: skip
    t = time.perf_counter()
    chunks = _chunk_rows(candidates, ["id", "formula", "status", "error", "structure"], chunk_size)
    stage1 = run_chunks(
        client, featurize_stage, chunks, options, store, "featurize", progress=progress
    )
    timings["featurize_s"] = time.perf_counter() - t
    meta = candidates.drop(columns=["status", "error"])
    table = meta.merge(stage1, on="id", how="left", validate="one_to_one")
    table["status"] = table["status"].fillna("failed")
    # Columns every ranking needs, even if every chunk failed.
    needed = [*TRANSPORT_SCORE_TERMS, *CATHODE_SCORE_TERMS, "capacity_li_mAh_g"]
    needed += list(CONDUCTIVITY_COLUMNS) if cfg.is_electrolyte else ["energy_density_Wh_kg"]
    for column in needed:
        if column not in table.columns:
            table[column] = np.nan
    ok = (table["status"] == "ok").to_numpy()

    limit = cfg.screening.max_cost_usd_per_kg
    if limit is not None:
        too_costly = ok & (table["cost_usd_per_kg"].to_numpy() > limit)
        table.loc[too_costly, "status"] = "filtered"
        table.loc[too_costly, "error"] = [
            f"raw-element cost {c:.0f} USD/kg > max_cost_usd_per_kg {limit:g}"
            for c in table.loc[too_costly, "cost_usd_per_kg"]
        ]
        ok &= ~too_costly

    if cfg.is_electrolyte:
        table["descriptor_score"] = percentile_score(table, TRANSPORT_SCORE_TERMS, ok)
        # Stage-1 score: the ML conductivity and the geometric descriptors, half each.
        sigma_pct = table.loc[ok, "log10_sigma"].rank(pct=True).fillna(0.0)
        table["stage1_score"] = np.nan
        table.loc[ok, "stage1_score"] = 0.5 * sigma_pct + 0.5 * table.loc[ok, "descriptor_score"]
        top_k = cfg.screening.bvse_top_k
        bvse_cols = ["bvse_barrier_1d", "bvse_barrier_2d", "bvse_barrier_3d"]
        for col in bvse_cols:
            table[col] = np.nan
        if top_k:
            t = time.perf_counter()
            order = table.loc[ok].sort_values("stage1_score", ascending=False, kind="stable")
            survivors = order.head(top_k)
            bvse_chunks = _chunk_rows(
                survivors, ["id", "status", "error", "structure"], max(1, chunk_size // 4)
            )
            bvse_options = {
                "bvse_resolution": cfg.screening.bvse_resolution,
                "cache_dir": cache_dir,
            }
            stage2 = run_chunks(
                client, bvse_stage, bvse_chunks, bvse_options, store, "bvse", progress=progress
            )
            timings["bvse_s"] = time.perf_counter() - t
            if len(stage2):
                stage2 = stage2.set_index("id")
                idx = table["id"].isin(stage2.index)
                for col in bvse_cols:
                    table.loc[idx, col] = table.loc[idx, "id"].map(stage2[col]).to_numpy()
                table["bvse_error"] = table["id"].map(stage2.get("bvse_error", {}))
        barrier = table["bvse_barrier_3d"].to_numpy(dtype=float)
        # Rows that did not reach the BVSE stage rank behind every computed barrier.
        worst = np.nanmax(barrier) + 1.0 if np.isfinite(barrier).any() else 1.0
        barrier_for_rank = np.where(np.isnan(barrier), worst, barrier)
        objectives = np.column_stack(
            [table["log10_sigma"], table["cost_usd_per_kg"], barrier_for_rank]
        )
        maximize = [True, False, False]
    else:
        table["descriptor_score"] = percentile_score(table, CATHODE_SCORE_TERMS, ok)
        # No voltage means no usable redox capacity: zero energy for the ranking.
        energy = table["energy_density_Wh_kg"].fillna(0.0).to_numpy(dtype=float)
        objectives = np.column_stack([energy, table["mn3_fraction"], table["cost_usd_per_kg"]])
        maximize = [True, False, False]
    _physics(cfg, table, ok, client, store, timings, progress)
    _md(cfg, table, client, store, timings, progress)
    objectives = np.where(ok[:, None], objectives, np.nan)
    # nullable: a filtered or failed candidate has no rank (a 0 sorted ahead of rank 1)
    table["pareto_rank"] = pd.array(
        [
            int(r) if k else pd.NA
            for r, k in zip(pareto_rank(objectives, maximize), ok, strict=True)
        ],
        dtype="Int64",
    )
    table["family"] = cfg.family
    return _order_columns(table)


def _physics(
    cfg: WorkflowConfig,
    table: pd.DataFrame,
    ok: np.ndarray,
    client: Client,
    store: CheckpointStore,
    timings: dict[str, float],
    progress: bool,
) -> None:
    """Physics stage in place: MLIP relax + hull (+ window, reactivity) for the top K.

    Electrolytes: the K lowest BVSE barriers (rows without a barrier by
    first-stage score after them); cathodes: the K highest energy densities.
    Candidates with an element that no shipped reference compound contains
    (their hull can only be a lower bound) come after all the others.
    Rows not selected keep NaN physics columns and ``physics_status`` None.
    """
    from matscreen.physics.checks import PHYSICS_COLUMNS, PHYSICS_NUMERIC
    from matscreen.screening.stages import physics_stage

    for col in PHYSICS_COLUMNS:
        table[col] = np.nan if col in PHYSICS_NUMERIC else None
    top_k = cfg.screening.mlip_top_k
    if not top_k or not ok.any():
        return
    ranked = table.loc[ok].assign(_gap=_hull_gaps(table.loc[ok, "formula"]))
    if cfg.is_electrolyte:
        ranked = ranked.assign(_b=ranked["bvse_barrier_3d"].fillna(np.inf))
        keys, ascending = ["_b", "stage1_score"], [True, False]
    else:
        keys, ascending = ["energy_density_Wh_kg"], [False]
    ranked = ranked.sort_values(keys, ascending=ascending, kind="stable")
    moved = int(ranked.head(top_k)["_gap"].sum())
    ranked = ranked.sort_values("_gap", kind="stable")  # the order above within each group
    survivors = ranked.head(top_k)
    moved -= int(survivors["_gap"].sum())
    if moved:
        logger.info(
            "physics: %d candidate(s) with an element in no reference compound (a hull that "
            "could only be a lower bound) gave their MLIP slots to the next ranked", moved,
        )  # fmt: skip
    t = time.perf_counter()
    chunks = _chunk_rows(
        survivors, ["id", "status", "error", "structure"], cfg.screening.mlip_batch
    )
    options = {
        "calculator": cfg.screening.calculator,
        "electrolyte": cfg.is_electrolyte,
        "fmax": cfg.screening.mlip_fmax,
        "steps": cfg.screening.mlip_steps,
        "device": cfg.screening.mlip_device,
    }
    stage3 = run_chunks(client, physics_stage, chunks, options, store, "physics", progress=progress)
    timings["physics_s"] = time.perf_counter() - t
    _merge_stage(table, stage3, "physics", PHYSICS_COLUMNS, PHYSICS_NUMERIC)


def _hull_gaps(formulas: pd.Series) -> np.ndarray:
    """Per formula, whether an element is in no shipped reference compound of its system."""
    from pymatgen.core import Composition

    from matscreen.physics.hull import uncovered_elements

    return np.array(
        [bool(uncovered_elements(el.symbol for el in Composition(f))) for f in formulas]
    )


def _merge_stage(
    table: pd.DataFrame, stage: pd.DataFrame, prefix: str, columns: list[str], numeric: list[str]
) -> None:
    """Copy a late stage's columns onto its rows of ``table`` (in place).

    A chunk whose task raised carries only ``status``/``error``: its rows get
    ``<prefix>_status = "failed"`` and the error as ``<prefix>_error``.
    """
    import pandas as pd

    if not len(stage):
        return
    stage = stage.copy()
    status_col, error_col = f"{prefix}_status", f"{prefix}_error"
    if status_col not in stage.columns:
        stage[status_col] = None
    status = stage["status"] if "status" in stage.columns else pd.Series(None, index=stage.index)
    task_failed = stage[status_col].isna() & status.eq("failed")
    stage.loc[task_failed, status_col] = "failed"
    if "error" in stage.columns:
        stage.loc[task_failed, error_col] = stage.loc[task_failed, "error"]
    stage = stage.set_index("id")
    idx = table["id"].isin(stage.index)
    for col in columns:
        if col in stage.columns:
            values = table.loc[idx, "id"].map(stage[col])
            if col in numeric:  # None (a failed row) -> NaN, not an object into a float column
                values = pd.to_numeric(values, errors="coerce")
            elif col in table and table[col].dtype != object:
                table[col] = table[col].astype(object)  # text/None into an all-NaN float column
            table.loc[idx, col] = values.to_numpy()
    for col in numeric:
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)


def _md(
    cfg: WorkflowConfig,
    table: pd.DataFrame,
    client: Client,
    store: CheckpointStore,
    timings: dict[str, float],
    progress: bool,
) -> None:
    """MD stage in place (electrolytes, ``screening.md_top_k`` > 0): Li transport by MLIP MD.

    Candidates: physics-stage rows that relaxed and sit within ``md_max_e_above_hull``
    of a complete hull, lowest BVSE barrier first; MD starts from the relaxed structure.
    """
    from matscreen.screening.stages import MD_COLUMNS, MD_NUMERIC, md_stage

    top_k = cfg.screening.md_top_k
    if not top_k or not cfg.is_electrolyte:
        return
    for col in MD_COLUMNS:
        table[col] = np.nan if col in MD_NUMERIC else None
    from matscreen.physics.checks import incomplete_hull_mask

    # a lower bound of e_above_hull (hull_complete False) confirms nothing
    ok = (
        table["physics_status"].eq("ok")
        & table["relaxed_structure"].notna()
        & (table["e_above_hull"] <= cfg.screening.md_max_e_above_hull)
        & ~incomplete_hull_mask(table.get("hull_complete", [None] * len(table)))
    )
    if not ok.any():
        logger.info("md: no physics-stage candidate within %.3f eV/atom of the hull",
                    cfg.screening.md_max_e_above_hull)  # fmt: skip
        return
    ranked = table.loc[ok].sort_values("bvse_barrier_3d", kind="stable").head(top_k)
    rows = ranked[["id"]].assign(status="ok", error=None, structure=ranked["relaxed_structure"])
    chunks = _chunk_rows(rows, ["id", "status", "error", "structure"], 1)
    options = {
        "calculator": cfg.screening.calculator,
        "temperatures": list(cfg.screening.md_temperatures),
        "time_ps": cfg.screening.md_time_ps,
        "device": cfg.screening.mlip_device,
        "seed": cfg.seed,
    }
    t = time.perf_counter()
    stage4 = run_chunks(client, md_stage, chunks, options, store, "md", progress=progress)
    timings["md_s"] = time.perf_counter() - t
    _merge_stage(table, stage4, "md", MD_COLUMNS, MD_NUMERIC)


def _order_columns(table: pd.DataFrame) -> pd.DataFrame:
    first = [
        "id",
        "formula",
        "family",
        "prototype",
        "status",
        "error",
        "pareto_rank",
        "descriptor_score",
    ]
    first = [c for c in first if c in table.columns]
    last = ["structure"]
    middle = [c for c in table.columns if c not in first and c not in last]
    return table[first + middle + last]


def _note_resume(cfg: WorkflowConfig, out: Path, earlier: bool) -> None:
    """Log what ``--resume`` finds: no earlier run (a typo in OUT?), or another workflow.

    Finished chunks are keyed by their content, so a changed workflow reuses
    only what it shares with the earlier one; the results are right either
    way, but a user who changed the workflow by mistake should hear of it.
    """
    if not earlier:
        logger.info("--resume: %s holds no earlier run; starting a fresh one", out)
        return
    try:
        before = json.loads((out / "run.json").read_text()).get("workflow")
    except (OSError, ValueError, AttributeError):
        return  # interrupted before run.json was written: nothing to compare with
    now = cfg.model_dump(mode="json")
    if isinstance(before, dict) and before != now:
        logger.warning(
            "--resume: the workflow differs from the earlier run's in %s; finished work is "
            "reused only where it is unchanged",
            ", ".join(_changed_fields(before, now)),
        )


def _changed_fields(before: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields whose values differ between two nested mappings."""
    changed = []
    for key in sorted(set(before) | set(now)):
        a, b = before.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _changed_fields(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed


def _previous_runs(path: Path) -> list[dict[str, Any]]:
    """Return the timings of the earlier runs recorded in ``path`` (a run.json), oldest first.

    A resumed run writes run.json again; the runs it resumed keep their
    ``finished_at``, ``timings_s`` and ``chunks_from_checkpoints`` here. An
    unreadable file gives an empty list (a warning is logged).
    """
    try:
        earlier = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        logger.warning("cannot read the earlier %s (%s); its timings are not kept", path, exc)
        return []
    if not isinstance(earlier, dict):
        return []
    runs = [r for r in earlier.get("previous_runs") or [] if isinstance(r, dict)]
    keys = ("finished_at", "timings_s", "chunks_from_checkpoints", "counts")
    return [*runs, {k: earlier[k] for k in keys if k in earlier}]


def _write_outputs(
    cfg: WorkflowConfig,
    out: Path,
    results: pd.DataFrame,
    timings: dict[str, float],
    cluster_info: dict[str, Any],
    reused: dict[str, int] | None = None,
) -> None:
    from matscreen.core.provenance import host_record, package_versions, timestamp
    from matscreen.report.html import write_report

    t = time.perf_counter()
    atomic_write_parquet(out / "results.parquet", results)
    counts = results["status"].value_counts().to_dict()
    write_report(results, cfg, out / "report.html")
    timings["report_s"] = time.perf_counter() - t
    run = {
        "workflow": cfg.model_dump(mode="json"),
        "seed": cfg.seed,
        "versions": package_versions(),
        **host_record(),
        "cluster": cluster_info,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        # a resumed run times only its own part: these chunks came from checkpoints
        "chunks_from_checkpoints": dict(reused or {}),
        "counts": {str(k): int(v) for k, v in counts.items()},
        "n_candidates": len(results),
        "finished_at": timestamp(),
        # a resume of a run that had finished (or got this far before) keeps what it measured
        "previous_runs": _previous_runs(out / "run.json"),
    }
    atomic_write_json(out / "run.json", run)
    logger.info("wrote %s (%s)", out / "results.parquet", json.dumps(run["counts"]))
