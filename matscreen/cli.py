"""The ``matscreen`` command line: a thin layer over the Python API.

Exit codes: 0 success; 1 the run finished but some rows failed (listed on
stderr); 2 usage or input error (one line, no traceback unless ``--debug``).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="matscreen",
    help="Screen and design solid-state battery materials (electrolytes, Mn cathodes).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)
_STATE = {"debug": False}
MAX_LISTED_FAILURES = 20


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="Logging level.")] = "INFO",
) -> None:
    _STATE["debug"] = debug
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        _fail_usage(f"--log-level {log_level}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _quiet_dask_logging(level)


def _quiet_dask_logging(level: int) -> None:
    """Keep Dask's INFO chatter (and its shutdown tracebacks) off stderr.

    ``distributed`` sets its own loggers from the dask config (``logging``) when it
    is first imported, which is after this callback: setting the level here alone
    was undone (the main job printed ~30 scheduler lines, and a SLURM run a
    ``CommClosedError`` traceback logged at INFO as the workers left). So the
    level goes into the dask config too: WARNING, or ``level`` when higher. With
    ``--log-level DEBUG`` distributed keeps its own INFO; a logging set-up of the
    user's own in the dask config (``logging``, ``logging-file-config``, also under
    ``distributed.``) is left alone.
    """
    import dask.config

    quiet = max(level, logging.WARNING)
    for noisy in ("tornado", "asyncio"):
        logging.getLogger(noisy).setLevel(quiet)
    if level < logging.INFO:
        return
    if "distributed" in sys.modules:  # loaded already: its loggers are set
        logging.getLogger("distributed").setLevel(quiet)
        return
    own = ("logging", "logging-file-config", "distributed.logging",
           "distributed.logging-file-config")  # fmt: skip
    if any(dask.config.get(key, None) is not None for key in own):
        return
    dask.config.set({"logging.distributed": logging.getLevelName(quiet).lower()})


def _fail_usage(message: str) -> None:
    typer.echo(f"matscreen: error: {message}", err=True)
    raise typer.Exit(2)


def _report_failures(table, label: str = "id") -> int:  # noqa: ANN001 - DataFrame
    failed = table[table["status"] == "failed"]
    if not len(failed):
        return 0
    typer.echo(f"{len(failed)} row(s) failed:", err=True)
    for _, row in failed.head(MAX_LISTED_FAILURES).iterrows():
        name, error = str(row.get(label, "")), str(row["error"])
        typer.echo(f"  {name}: {error.removeprefix(name + ': ')}", err=True)
    if len(failed) > MAX_LISTED_FAILURES:
        typer.echo(f"  ... and {len(failed) - MAX_LISTED_FAILURES} more", err=True)
    return 1


def _report_caveats(table) -> None:  # noqa: ANN001 - DataFrame
    """Say on stderr how many ``ok`` rows come with a caveat.

    A hull that lacks competing phases (``hull_complete`` False: e_above_hull a
    lower bound), or a ``result_note``.
    """
    ok = table[table["status"] == "ok"]
    said = []
    if "hull_complete" in ok:
        lower = int((ok["hull_complete"].astype("object") == False).sum())  # noqa: E712
        if lower:
            said.append(f"{lower} with an incomplete hull (e_above_hull a lower bound)")
    if "result_note" in ok:
        noted = int(ok["result_note"].fillna("").astype(str).str.len().gt(0).sum())
        if noted:
            said.append(f"{noted} with a result_note")
    if said:
        typer.echo(f"of the {len(ok)} ok row(s): {'; '.join(said)}", err=True)


def _run(func, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Call the API; turn input errors into exit code 2."""
    from matscreen.core.errors import ClusterStartError, MatscreenInputError, OutputLockedError

    try:
        return func(*args, **kwargs)
    except (ClusterStartError, MatscreenInputError, OutputLockedError, OSError, ValueError) as exc:
        if _STATE["debug"]:  # the traceback too, same exit code
            import traceback

            traceback.print_exc()
        _fail_usage(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


@app.command()
def screen(
    workflow: Annotated[Path, typer.Argument(help="Workflow YAML file.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    cluster: Annotated[
        str, typer.Option("--cluster", help="local, slurm, pbs or tcp://HOST:PORT.")
    ] = "local",
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Dask workers.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run in OUT.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; run nothing.")
    ] = False,
) -> None:
    """Run a screening workflow; write results.parquet, report.html and run.json."""
    from matscreen.core.clusters import check_batch_cluster, check_cluster_name
    from matscreen.core.config import load_workflow

    cfg = _run(load_workflow, workflow)
    _run(check_cluster_name, cluster)  # before the plan and before any candidate is made
    if out.exists() and not out.is_dir():
        _fail_usage(f"--out {out} is a file; give the output folder of the run")
    if dry_run:
        typer.echo(_run(_plan, cfg, out, cluster, workers))
        return
    _run(check_batch_cluster, cluster, workers=workers)  # before the candidates are made
    from matscreen.screening.run import screen as run_screen

    try:
        results = _run(run_screen, cfg, out=out, cluster=cluster, workers=workers, resume=resume)
    except (KeyboardInterrupt, SystemExit) as exc:
        code = _interrupted(exc)
        if code is None:
            raise
        kept = out / "checkpoints"
        if kept.is_dir() and any(kept.iterdir()):
            hint = f"finished chunks are kept in {kept}: rerun with --resume to continue"
        else:
            hint = "no chunk had finished"
        _say_interrupted(hint)
        raise typer.Exit(code) from None
    counts = results["status"].value_counts().to_dict()
    typer.echo(f"wrote {out}/results.parquet, report.html, run.json: {counts}")
    raise typer.Exit(_report_failures(results))


def _interrupted(exc: BaseException) -> int | None:
    """Return the exit status of an interruption, or None for any other exit.

    Ctrl-C (130), and SIGTERM from the batch system or SIGHUP from a dropped session
    (143, 129: turned into SystemExit while matscreen owns a cluster; with
    ``--cluster tcp://...`` or in one process they end it without a note).
    """
    if isinstance(exc, KeyboardInterrupt):
        return 130
    code = getattr(exc, "code", None)
    return code if code in (129, 143) else None


def _relaxations_kept(prop: str) -> str:
    """Say what a rerun still reuses after an interruption that saved no row."""
    if prop == "conductivity":
        return ""
    from matscreen.physics.relax_cache import relax_cache_enabled

    if not relax_cache_enabled():
        return ""
    return "; finished MLIP relaxations are kept in the relaxation cache and a rerun reuses them"


def _say_interrupted(hint: str) -> None:
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        typer.echo(f"matscreen: interrupted; {hint}", err=True)


def _plan(cfg, out: Path, cluster: str, workers: int | None) -> str:  # noqa: ANN001
    from matscreen.core.settings import get_settings
    from matscreen.screening.run import check_space_family, load_candidate_space

    space = load_candidate_space(cfg)  # a bad space fails the dry run too
    check_space_family(cfg, space)
    fz = cfg.featurize
    sc = cfg.screening
    surrogate = (
        "conductivity surrogate" if cfg.is_electrolyte
        else "voltage surrogate, capacity and energy density"
    )  # fmt: skip
    stages = [
        f"featurize (composition={fz.composition}, structure={fz.structure}, "
        f"transport={fz.transport}) and {surrogate}, "
        f"chunks of {fz.chunk_size or get_settings().CHUNK_SIZE}"
    ]
    filters = []
    if sc.max_cost_usd_per_kg:
        filters.append(f"filter       raw-element cost <= {sc.max_cost_usd_per_kg:g} USD/kg")
    if cfg.is_electrolyte and sc.bvse_top_k:
        stages.append(
            f"BVSE Li barrier (bvlain, {sc.bvse_resolution} Å) for the top {sc.bvse_top_k}"
        )
    if sc.mlip_top_k:
        checks = (
            "hull, Li window, moisture and cathode reactivity" if cfg.is_electrolyte else "hull"
        )
        stages.append(
            f"MLIP relaxation ({sc.calculator}, fmax {sc.mlip_fmax:g} eV/Å, "
            f"<= {sc.mlip_steps} steps, device {sc.mlip_device}) and {checks} "
            f"for the top {sc.mlip_top_k}"
        )
    if cfg.is_electrolyte and sc.mlip_top_k and sc.md_top_k:
        temperatures = ", ".join(f"{t:g}" for t in sc.md_temperatures)
        stages.append(
            f"MLIP MD at {temperatures} K ({sc.md_time_ps:g} ps each), Arrhenius "
            f"sigma at 300 K, for the top {sc.md_top_k} within {sc.md_max_e_above_hull:g} "
            "eV/atom of the hull"
        )
    lines = [
        f"workflow     {cfg.name} ({cfg.family}), seed {cfg.seed}",
        f"candidates   space {space.name} ({len(space.prototypes)} prototypes)"
        + (f", first {cfg.candidates.limit}" if cfg.candidates.limit else ""),
        f"stage 1      {stages[0]}",
        *filters,
        *(f"stage {i}      {text}" for i, text in enumerate(stages[1:], start=2)),
    ]
    lines += [
        "ranking      descriptor score + Pareto fronts",
        f"output       {out}/results.parquet, report.html, run.json "
        f"(checkpoints in {out}/checkpoints)",
        f"cluster      {cluster}" + (f", {workers} workers" if workers else ""),
    ]
    if cluster in ("slurm", "pbs"):
        from matscreen.core.clusters import check_batch_cluster, job_script
        from matscreen.core.errors import ClusterStartError

        script = job_script(cluster, workers=workers)  # wrong settings fail the dry run
        try:
            check_batch_cluster(cluster, workers=workers)  # what only stops the start
        except (ClusterStartError, ValueError) as exc:
            lines.append(f"WARNING      {exc}")
        lines += ["", f"worker job script ({cluster}):", script]
    return "\n".join(lines)


def _row_labels(table, input_path: Path) -> list[str]:  # noqa: ANN001 - DataFrame
    """``row N`` (1-based data row of a CSV) and the formula, or the CIF file's name."""
    if input_path.suffix.lower() != ".csv":  # a CIF or a folder of CIFs
        return list(table["file"].astype(str))
    formula = table["formula"] if "formula" in table.columns else table["formula_discharge"]
    return [f"row {i + 1} {f}".rstrip() for i, f in enumerate(formula.fillna("").astype(str))]


def _csv_text(table) -> str:  # noqa: ANN001 - DataFrame
    """Return the table as CSV, list cells (``decomposition``) as JSON lists."""
    import json

    out = table.copy()
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, list | tuple)).any():
            out[column] = out[column].map(
                lambda v: json.dumps(list(v)) if isinstance(v, list | tuple) else v
            )
    return out.to_csv(index=False)


def _check_output_file(out: Path) -> None:
    """Exit 2 if ``out`` cannot become a file: a folder, or below a file."""
    if out.is_dir():
        _fail_usage(f"--out {out} is a folder; give the path of a CSV file")
    ancestor = out.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        _fail_usage(f"--out {out}: {ancestor} is a file, not a folder")


@app.command()
def predict(
    prop: Annotated[
        str, typer.Argument(metavar="PROPERTY", help="conductivity, stability or voltage.")
    ],
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="CSV, CIF or folder of CIFs.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output CSV.")],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="conductivity: a model folder written by `matscreen train conductivity` "
            "(default: the shipped model).",
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="stability, voltage: compute the rows as Dask tasks on local, slurm, pbs or "
            "tcp://HOST:PORT (default: one after another in this process).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Dask workers (alone: a local cluster)."),
    ] = None,
) -> None:
    """Predict a property for every row of INPUT; write OUT.csv (input order, columns kept)."""
    from matscreen.core.clusters import check_batch_cluster, check_cluster_name
    from matscreen.core.io import atomic_write_text
    from matscreen.core.locks import RunLock

    if cluster is None and workers is not None:
        cluster = "local"
    if cluster is not None:
        _run(check_cluster_name, cluster)
        if prop != "conductivity":  # conductivity runs in this process
            _run(check_batch_cluster, cluster, workers=workers)
    _check_output_file(out)  # before the work, which may take hours
    if out.resolve() == input_path.resolve():
        _fail_usage(f"--out {out} is the input file; write the results to another file")
    if out.suffix.lower() != ".csv":
        typer.echo(f"matscreen: note: --out {out} gets CSV text whatever its suffix", err=True)
    partial = out.with_name(out.name + ".partial")  # finished rows; a rerun resumes from them
    lock = RunLock(partial)  # a second predict into the same OUT is refused
    _run(lock.acquire)
    done = False
    try:
        table = _run(
            _predict_on, cluster if prop != "conductivity" else None, workers,
            prop, input_path, checkpoint=partial, model=model,
        )  # fmt: skip
        _run(atomic_write_text, out, _csv_text(table))
        done = True
    except (KeyboardInterrupt, SystemExit) as exc:
        code = _interrupted(exc)
        if code is None:
            raise
        kept = len(list(partial.glob("*.json")))
        _say_interrupted(
            f"the {kept} finished row(s) are kept in {partial}: rerun the same command to continue"
            if kept
            else "no row had been saved (rows are saved a batch at a time, MATSCREEN_PREDICT_BATCH)"
            + _relaxations_kept(prop)
        )
        raise typer.Exit(code) from None
    finally:
        if done or not any(partial.glob("*.json")):  # written, or nothing to resume from
            _clear_checkpoint(partial, keep=lock.path)  # while still holding the lock
        lock.release()
        with contextlib.suppress(OSError):  # left alone if another run locked it meanwhile
            partial.rmdir()
    typer.echo(f"wrote {out}: {table['status'].value_counts().to_dict()}")
    _report_caveats(table)
    raise typer.Exit(_report_failures(table.assign(id=_row_labels(table, input_path))))


def _predict_on(cluster: str | None, workers: int | None, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
    """Run predict_file with a Dask client on ``cluster``, or in this process when None."""
    from matscreen.core.predict import predict_file

    if cluster is None:
        return predict_file(*args, **kwargs)
    from matscreen.core.clusters import open_client

    with open_client(cluster, workers=workers) as client:
        return predict_file(*args, client=client, **kwargs)


def _clear_checkpoint(folder: Path, keep: Path) -> None:
    """Remove everything in a predict checkpoint folder except its lock file ``keep``."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry == keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


@app.command()
def train(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="conductivity")],
    out: Annotated[
        Path, typer.Option("--out", help="Model folder to write (replaced if it exists).")
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Training CSV: formula and log10_sigma (log10 S/cm; write a bound such as "
            "sigma < 1E-10 S/cm as -15, the OBELiX convention), "
            "optionally cif, space_group_number, a, b, c, alpha, beta, gamma, cell_formula, doi; "
            "or the OBELiX CSV layout. Default: the shipped OBELiX training split.",
        ),
    ] = None,
) -> None:
    """Retrain a shipped surrogate on new data (use it with predict --model MODEL_FOLDER)."""
    if model != "conductivity":
        _fail_usage(f"unknown model {model!r}; trainable: conductivity")
    from matscreen.surrogates.conductivity import train_conductivity_model

    if data is None:  # exactly the shipped model's recipe
        from matscreen.surrogates.conductivity import train_shipped_model

        path = _run(train_shipped_model, out)
    else:
        path = _run(train_conductivity_model, data, out)
    typer.echo(f"wrote {path}")


@app.command()
def export(
    results: Annotated[
        Path, typer.Argument(help="results.parquet (screen) or proposals.parquet (design).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the structures to.")],
    fmt: Annotated[
        str, typer.Option("--format", help="cif (one file per row) or extxyz (one file).")
    ] = "cif",
    all_rows: Annotated[
        bool, typer.Option("--all", help="Every row with a structure, not only status ok.")
    ] = False,
    relaxed: Annotated[
        bool,
        typer.Option(
            "--relaxed",
            help="The MLIP-relaxed cell where a row has one (its hull and window), the input "
            "cell elsewhere; each file or frame says which.",
        ),
    ] = False,
    relaxed_only: Annotated[
        bool,
        typer.Option(
            "--relaxed-only", help="Only the rows with an MLIP-relaxed cell (the physics stage's)."
        ),
    ] = False,
) -> None:
    """Export the structures of a results table as CIF files or one extended-XYZ file."""
    from matscreen.report.export import export_structures

    if fmt not in ("cif", "extxyz"):
        _fail_usage(f"--format {fmt}: use cif or extxyz")
    if not results.is_file():
        _fail_usage(f"{results}: no such file")
    if out.exists() and not out.is_dir():
        _fail_usage(f"--out {out} is a file; give a folder")
    statuses = None if all_rows else ("ok",)
    written = _run(
        export_structures, results, out, fmt=fmt, statuses=statuses, relaxed=relaxed,
        relaxed_only=relaxed_only,
    )  # fmt: skip
    typer.echo(f"wrote {len(written)} file(s) to {out}")


@app.command()
def design(
    workflow: Annotated[Path, typer.Argument(help="Design workflow YAML file.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output folder (refused if it holds an earlier design run, unless --resume).",
        ),
    ],
    device: Annotated[
        str,
        typer.Option("--device", help="cpu or cuda (cuda without a GPU is an error, no fallback)."),
    ] = "cpu",
    budget: Annotated[
        int | None,
        typer.Option(
            "--budget",
            min=1,
            help="Cap on physics evaluations over all rounds (default: the workflow's "
            "loop.budget, else none); the run ends after loop.rounds rounds of loop.batch_size "
            "either way.",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted design run in OUT (same workflow; its finished "
            "rounds are kept). Raising loop.rounds or --budget extends a finished run.",
        ),
    ] = False,
) -> None:
    """Run inverse design; write proposals.parquet and report.html.

    proposals.parquet: one row per physics-checked proposal (round, composition,
    predicted objectives with their std, physics verdict); columns in
    matscreen.design.run_design.
    """
    from matscreen.design import run_design

    if device not in ("cpu", "cuda"):
        _fail_usage(f"--device {device!r}: use cpu or cuda")
    proposals = _run(run_design, workflow, out=out, device=device, budget=budget, resume=resume)
    typer.echo(f"wrote {out}/proposals.parquet and report.html: {len(proposals)} proposals")


#: Options of ``matscreen`` itself, and whether each takes a value.
GLOBAL_OPTIONS: dict[str, bool] = {"--debug": False, "--log-level": True}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move ``--debug`` and ``--log-level X`` written after the subcommand before it.

    ``matscreen predict stability x.csv --out o.csv --debug`` then does what
    ``matscreen --debug predict ...`` does (it was refused as an unknown option).
    Arguments after ``--`` are left alone.

    Examples
    --------
    >>> hoist_global_options(["predict", "voltage", "p.csv", "--debug", "--log-level", "DEBUG"])
    ['--debug', '--log-level', 'DEBUG', 'predict', 'voltage', 'p.csv']
    """
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            hoisted += argv[i : i + 1 + takes_value]
            i += 1 + takes_value
            continue
        rest.append(arg)
        i += 1
    return hoisted + rest


def main() -> None:
    """Entry point of the ``matscreen`` console script.

    Usage errors (a missing option, an unknown one) print one line,
    ``matscreen: error: ...``, and exit 2, as the commands' own input errors do.
    """
    try:  # recent Typer vendors its own click
        from typer import _click as click  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - older Typer on top of click
        import click

    no_args = getattr(click.exceptions, "NoArgsIsHelpError", ())
    try:  # Typer 0.29 keeps Abort (Ctrl-C at a prompt) in typer.exceptions, click in its own
        from typer.exceptions import Abort as abort  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - older Typer on top of click
        abort = getattr(click.exceptions, "Abort", ())
    try:
        code = app(args=hoist_global_options(sys.argv[1:]), standalone_mode=False)
    except no_args as exc:  # `matscreen` alone: the help, as before
        typer.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(2)
    except click.exceptions.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "matscreen"
        typer.echo(f"matscreen: error: {exc.format_message()} (see '{where} -h')", err=True)
        sys.exit(2)
    except abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
