"""Scaling of the streaming first stage: throughput per worker count, peak memory, SLURM overhead.

Run::

    python benchmarks/scaling.py                       # the full sizes (10,000 and 100,000)
    python benchmarks/scaling.py --n-throughput 2000 --n-memory 20000   # quicker, labelled so

1. Throughput of :func:`matscreen.screening.stream.featurize_predict_stream`
   on the same N candidates with 1 and then 2 local Dask workers (one thread
   each, after a warm-up that loads the models on every worker); prints
   ``scaling_2_workers`` = time(1 worker) / time(2 workers).
2. Peak memory (RSS of this process and all its children: nannies and
   workers, sampled every 0.2 s) while M candidates stream through 2 workers;
   prints ``peak_mem_<M>_GB`` (``peak_mem_100k_GB`` at the full size).
3. If SLURM answers ``sinfo``: wall time of the same small screening
   workflow with ``--cluster slurm`` over ``--cluster local`` (one worker
   each), printed as ``slurm_overhead_ratio``.

4. ``matscreen predict stability`` on a folder of seed prototypes (CIFs
   of at most 40 sites; relaxation cache off, reference phases warmed up
   first): wall time in this process row by row (``MATSCREEN_PREDICT_BATCH=1``),
   then in batches of 8 rows whose cells are relaxed together (the default),
   then with ``--workers 2`` (a Dask task per batch); prints
   ``predict_stability_batch_speedup`` (row by row / batched, one process),
   ``predict_stability_scaling_2_workers`` (batched: one process / 2 workers)
   and checks all three give the same status and ``e_above_hull``.

Candidates are the halide-electrolyte space (``generate_candidates``), made
distinct by small lattice strains and generated lazily as JSON rows, so the
driver never holds the whole set. The headline ``name: value`` lines come
last. Sizes smaller than the defaults are stated in the output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
OPTIONS: dict[str, Any] = {
    "composition": True, "structure": True, "transport": True, "cache_dir": None,
    "family": "halide_electrolyte",
}  # fmt: skip


def base_rows() -> list[dict[str, Any]]:
    """Return the ok candidates of the halide space as (id, formula, structure dict)."""
    from matscreen.candidates.generate import generate_candidates
    from matscreen.candidates.space import load_space

    records = generate_candidates(load_space("halide_electrolytes"), family="halide_electrolyte")
    out = []
    for rec in records:
        if rec.status != "ok":
            continue
        row = rec.to_row()
        out.append({"id": row["id"], "formula": row["formula"], "structure": row["structure"]})
    return out


def strained_rows(bases: list[dict[str, Any]], n: int) -> Iterator[dict[str, Any]]:
    """Yield ``n`` distinct candidate rows lazily: copy ``k`` of a base is strained by ~1e-5*k."""
    parsed = [json.loads(b["structure"]) for b in bases]
    for i in range(n):
        j, k = i % len(bases), i // len(bases)
        d = json.loads(json.dumps(parsed[j]))  # fresh copy; cheap for ~30 sites
        fa, fb, fc = 1 + 2e-5 * k, 1 - 1e-5 * k, 1 + 1e-5 * (k % 17)
        m = d["lattice"]["matrix"]
        d["lattice"]["matrix"] = [[x * fa for x in m[0]], [x * fb for x in m[1]],
                                  [x * fc for x in m[2]]]  # fmt: skip
        for site in d["sites"]:
            site.pop("xyz", None)  # stale after the strain; rebuilt from "abc"
        yield {"id": f"{bases[j]['id']}-s{k:05d}", "formula": bases[j]["formula"],
               "status": "ok", "error": None, "structure": json.dumps(d)}  # fmt: skip


class MemorySampler(threading.Thread):
    """Sample the summed RSS of this process and its descendants until stopped."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self.peak_driver = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Sample until :meth:`stop`."""
        me = psutil.Process()
        while not self._stop_event.is_set():
            total = driver = 0
            try:
                driver = me.memory_info().rss
                total = driver
                for child in me.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.Error:
                        continue
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self.peak_driver = max(self.peak_driver, driver)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop_event.set()
        self.join()


def run_stream(
    bases: list[dict[str, Any]], n: int, workers: int, chunk_size: int, sampler: bool = False
) -> tuple[float, int, MemorySampler | None]:
    """Stream ``n`` candidates through ``workers`` local workers.

    Returns (seconds, ok rows, memory sampler or None).
    """
    import pyarrow.dataset as ds
    from distributed import Client, LocalCluster

    from matscreen.screening.stream import featurize_predict_stream

    out_dir = Path(tempfile.mkdtemp(prefix="matscreen-scaling-"))
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                     dashboard_address=None, host="127.0.0.1") as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        # Warm-up: imports and model loading on every worker, not timed.
        warm = list(strained_rows(bases[:4], 4))
        futures = [
            client.submit(_warm, warm, OPTIONS, pure=False, workers=[w], allow_other_workers=False)
            for w in client.scheduler_info()["workers"]
        ]
        client.gather(futures)
        mem = MemorySampler() if sampler else None
        if mem is not None:
            mem.start()
        t0 = time.perf_counter()
        featurize_predict_stream(
            strained_rows(bases, n), client=client, options=OPTIONS, out_dir=out_dir,
            chunk_size=chunk_size,
        )  # fmt: skip
        elapsed = time.perf_counter() - t0
        if mem is not None:
            mem.stop()
    table = ds.dataset(out_dir, format="parquet").to_table(columns=["id", "status"])
    n_out = table.num_rows
    n_ok = sum(1 for s in table.column("status").to_pylist() if s == "ok")
    ids = table.column("id").to_pylist()
    assert n_out == n and len(set(ids)) == n, f"{n_out} rows back for {n}"
    print(f"  {workers} worker(s), {n} candidates: {elapsed:.1f} s, {n / elapsed:.1f} rows/s, "
          f"{n_ok} ok")  # fmt: skip
    shutil.rmtree(out_dir, ignore_errors=True)
    return elapsed, n_ok, mem


def _warm(rows: list[dict[str, Any]], options: dict[str, Any]) -> int:
    from matscreen.screening.stages import featurize_stage

    return len(featurize_stage(rows, options))


def slurm_answers() -> bool:
    """Tell whether a SLURM controller answers ``sinfo`` with an idle/mixed node."""
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                             timeout=15)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(s in ("idle", "mix", "alloc") for s in out.stdout.split())


def _timed_cli(args: list[str], env: dict[str, str], label: str, timeout: int) -> float | None:
    """Run ``matscreen ARGS`` in a fresh process; return its wall time (None if it failed)."""
    cmd = [sys.executable, "-m", "matscreen.cli", "--log-level", "WARNING", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    seconds = time.perf_counter() - t0
    print(f"  {label}: exit {proc.returncode}, {seconds:.1f} s")
    if proc.returncode not in (0, 1):  # 1: some rows failed, which a benchmark may hold
        print("  " + proc.stderr.strip().replace("\n", "\n  ")[-2000:])
        return None
    return seconds


def slurm_overhead(limit: int) -> tuple[float, float] | None:
    """Time the same small workflow with ``--cluster local`` and ``--cluster slurm``."""
    work = Path(tempfile.mkdtemp(prefix="matscreen-slurm-bench-"))
    wf = work / "wf.yaml"
    wf.write_text(
        "name: slurm-bench\nfamily: halide_electrolyte\ncandidates:\n"
        f"  space: halide_electrolytes\n  limit: {limit}\nscreening:\n  bvse_top_k: 0\n"
    )
    cfg = work / "jobqueue.yaml"
    cfg.write_text(
        "jobqueue:\n  slurm:\n    name: matscreen-bench\n    queue: debug\n    cores: 1\n"
        "    processes: 1\n    memory: 2GB\n    walltime: '00:20:00'\n    interface: lo\n"
        f"    local-directory: {work / 'scratch'}\n    log-directory: {work / 'logs'}\n"
        "    death-timeout: 60\n"
    )
    env = {**os.environ, "MATSCREEN_JOBQUEUE_CONFIG": str(cfg),
           "MATSCREEN_CACHE_DIR": str(work / "cache")}  # fmt: skip
    times = {}
    # Untimed warm-up run: fills the fresh cache (conductivity forest refit, features), so
    # that neither timed run pays for it.
    for cluster in ("warm-up", "local", "slurm"):
        out = str(work / f"run-{cluster}")
        args = ["screen", str(wf), "--out", out, "--cluster", cluster.replace("warm-up", "local"),
                "--workers", "1"]  # fmt: skip
        seconds = _timed_cli(args, env, f"screen --cluster {cluster}", timeout=900)
        if seconds is None:
            return None
        times[cluster] = seconds
    shutil.rmtree(work, ignore_errors=True)
    return times["local"], times["slurm"]


def predict_scaling(max_sites: int = 40) -> tuple[int, dict[str, float]] | None:
    """Time ``predict stability`` on seed CIFs row by row, batched, and on 2 Dask workers."""
    import pandas as pd
    from pymatgen.core import Structure

    repo = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="matscreen-predict-bench-"))
    folder = work / "cifs"
    folder.mkdir()
    for cif in sorted((repo / "seeds" / "prototypes").glob("*.cif")):
        if len(Structure.from_file(cif)) <= max_sites:
            shutil.copy(cif, folder / cif.name)
    n = len(list(folder.iterdir()))
    env = {**os.environ, "MATSCREEN_CACHE_DIR": str(work / "cache"),
           "MATSCREEN_RELAX_CACHE": "false"}  # fmt: skip
    times, tables = {}, {}
    runs = (
        ("warm-up", [], "8"),
        ("row by row", [], "1"),
        ("batched", [], "8"),
        ("2 workers", ["--workers", "2"], "8"),
    )
    for label, extra, batch in runs:
        out = work / f"{label.replace(' ', '-')}.csv"
        args = ["predict", "stability", str(folder), "--out", str(out), *extra]
        run_env = {**env, "MATSCREEN_PREDICT_BATCH": batch}
        seconds = _timed_cli(args, run_env, f"predict stability ({label})", timeout=3600)
        if seconds is None:
            return None
        times[label] = seconds
        tables[label] = pd.read_csv(out)
    base = tables["row by row"]
    same = True
    for label in ("batched", "2 workers"):
        other = tables[label]
        diff = float((base["e_above_hull"] - other["e_above_hull"]).abs().max())
        agree = bool((base["status"] == other["status"]).all()) and not diff > 1e-3
        print(f"  {label} vs row by row: same status: {agree}; max |d e_above_hull| "
              f"{diff * 1000:.3f} meV/atom")  # fmt: skip
        same = same and agree
    print(f"  {n} CIFs; all three agree (status, e_above_hull to 1 meV/atom): {same}")
    shutil.rmtree(work, ignore_errors=True)
    return (n, times) if same else None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the headline lines last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-throughput", type=int, default=10_000)
    parser.add_argument("--n-memory", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--slurm-limit", type=int, default=32, help="candidates in the workflow")
    parser.add_argument("--skip-slurm", action="store_true")
    parser.add_argument("--skip-stream", action="store_true", help="skip [1] and [2]")
    parser.add_argument("--skip-predict", action="store_true", help="skip [4]")
    args = parser.parse_args(argv)

    print(f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB, "
          f"load average {os.getloadavg()[0]:.2f} (shared machine: timings are noisy)")  # fmt: skip
    headline: list[str] = []
    if not args.skip_stream:
        stream_sections(args, headline)
    else:
        print("[1], [2] streaming throughput and memory: skipped (--skip-stream)")

    if args.skip_slurm:
        print("[3] SLURM: skipped (--skip-slurm)")
    elif not slurm_answers():
        print("[3] SLURM: sinfo does not answer; skipped")
    else:
        print(f"[3] SLURM vs local, workflow of {args.slurm_limit} halide candidates, 1 worker")
        result = slurm_overhead(args.slurm_limit)
        if result is not None:
            local, slurm = result
            headline.append(f"slurm_local_s: {local:.1f}")
            headline.append(f"slurm_slurm_s: {slurm:.1f}")
            headline.append(f"slurm_overhead_ratio: {slurm / local:.2f}")
    if args.skip_predict:
        print("[4] predict stability: skipped (--skip-predict)")
    else:
        print("[4] predict stability on seed CIFs: row by row, batched, 2 local Dask workers")
        scaled = predict_scaling()
        if scaled is not None:
            n, t = scaled
            headline.append(f"predict_stability_serial_s_per_row: {t['batched'] / n:.1f}")
            headline.append(
                f"predict_stability_batch_speedup: {t['row by row'] / t['batched']:.2f}"
            )
            headline.append(
                f"predict_stability_scaling_2_workers: {t['batched'] / t['2 workers']:.2f}"
            )
    print()
    for line in headline:
        print(line)
    return 0


def stream_sections(args: argparse.Namespace, headline: list[str]) -> None:
    """Sections [1] throughput per worker count and [2] peak memory of the streaming stage."""
    t0 = time.perf_counter()
    bases = base_rows()
    print(f"{len(bases)} base candidates in {time.perf_counter() - t0:.1f} s; "
          f"copies made distinct by lattice strains, generated lazily")  # fmt: skip
    print(f"[1] throughput, {args.n_throughput} candidates, chunks of {args.chunk_size}")
    t1, _, _ = run_stream(bases, args.n_throughput, 1, args.chunk_size)
    t2, _, _ = run_stream(bases, args.n_throughput, 2, args.chunk_size)
    if args.n_throughput != 10_000:
        headline.append(f"scaling_n_candidates: {args.n_throughput}  (NOT the 10,000 of the spec)")
    headline.append(f"throughput_1_worker_rows_per_s: {args.n_throughput / t1:.1f}")
    headline.append(f"throughput_2_workers_rows_per_s: {args.n_throughput / t2:.1f}")
    headline.append(f"scaling_2_workers: {t1 / t2:.2f}")

    print(f"[2] peak memory, {args.n_memory} candidates streamed with 2 workers")
    tm, _, mem = run_stream(bases, args.n_memory, 2, args.chunk_size, sampler=True)
    assert mem is not None
    label = "100k" if args.n_memory == 100_000 else f"{args.n_memory}"
    if args.n_memory != 100_000:
        headline.append(f"peak_mem_n_candidates: {args.n_memory}  (NOT the 100,000 of the spec)")
    headline.append(f"peak_mem_driver_GB: {mem.peak_driver / 1e9:.2f}")
    headline.append(f"peak_mem_time_s: {tm:.0f}")
    headline.append(f"peak_mem_{label}_GB: {mem.peak / 1e9:.2f}")


if __name__ == "__main__":
    sys.exit(main())
