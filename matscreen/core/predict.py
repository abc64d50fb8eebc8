"""``matscreen predict``: read an input file, run one property model, keep every row.

The property functions live with their stage (surrogates for conductivity,
physics for stability and voltage); this module only turns a file into a table,
sends the readable rows to the model, and puts every row back in input order
with ``status`` and ``error``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from matscreen.core.errors import MatscreenInputError, join_notes
from matscreen.core.inputs import read_predict_input
from matscreen.core.io import is_missing
from matscreen.core.progress import time_left

if TYPE_CHECKING:
    import pandas as pd
    from distributed import Client

logger = logging.getLogger(__name__)

Property = Literal["conductivity", "stability", "voltage"]
PROPERTIES: tuple[str, ...] = ("conductivity", "stability", "voltage")
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "conductivity": ("formula",),
    "stability": ("formula",),
    "voltage": ("formula_charge", "formula_discharge"),
}


def _model(prop: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    if prop == "conductivity":
        from matscreen.surrogates.conductivity import predict_conductivity_table

        return predict_conductivity_table
    if prop == "stability":
        from matscreen.physics.tables import predict_stability_table

        return predict_stability_table
    from matscreen.physics.tables import predict_voltage_table

    return predict_voltage_table


def result_columns(prop: str) -> tuple[str, ...]:
    """Return the columns ``matscreen predict PROP`` adds to every row."""
    if prop == "conductivity":
        from matscreen.surrogates.conductivity import OUTPUT_COLUMNS

        return tuple(OUTPUT_COLUMNS)
    from matscreen.physics.tables import STABILITY_COLUMNS, VOLTAGE_COLUMNS

    return tuple(STABILITY_COLUMNS if prop == "stability" else VOLTAGE_COLUMNS)


def _column_hint(found: list[Any], missing: list[str]) -> str:
    """Why a CSV may lack a column: its header in another spelling, or another separator."""
    names = [str(c) for c in found]
    near = [c for c in names if c.strip().lower() in missing and c not in missing]
    if near:
        return f" (found {', '.join(map(repr, near))}: column names are lower case, no spaces)"
    shown = ", ".join(map(repr, names[:6])) + (", ..." if len(names) > 6 else "")
    glued = len(names) == 1 and any(sep in names[0] for sep in (";", "\t", "|"))
    return f" (found {shown}" + ("; the CSV must be comma-separated)" if glued else ")")


def _is_internal(column: str) -> bool:
    """Model-input names that only the reader sets (structures read from CIF paths)."""
    return column.startswith("structure") or column == "input_error"


def predict_file(
    prop: str,
    path: str | Path,
    *,
    checkpoint: str | Path | None = None,
    model: str | Path | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """Predict one property for every row of a CSV, a CIF or a folder of CIFs.

    Parameters
    ----------
    prop
        ``conductivity``, ``stability`` or ``voltage``.
    path
        The input (see :func:`matscreen.core.inputs.read_predict_input`).
    checkpoint
        Folder for per-row results of the slow properties (stability,
        voltage): each finished row is saved there, and a rerun with the
        same folder reuses the rows whose input (formula, other columns, the
        structure's content hash), MLIP and matscreen version are unchanged
        (failed rows are computed again). The caller removes it once the
        output is written.
    model
        Conductivity only: a model folder written by
        :func:`~matscreen.surrogates.conductivity.train_conductivity_model`
        (default: the shipped model).
    client
        Stability and voltage: a Dask client whose workers compute the rows,
        one task per row (see :func:`matscreen.core.clusters.open_client`);
        finished rows are checkpointed by this process as they arrive.
        Without one the rows run here, one after another. Conductivity
        always runs here (10,000 rows take seconds).

    Returns
    -------
    pandas.DataFrame
        Every input row in input order: the input columns first, unchanged,
        then ``status``, ``error`` and the property columns
        (:func:`result_columns`). An input column with the name of a result
        column (an earlier output fed back in) keeps its values as
        ``input_<name>``; input columns named ``structure...`` or
        ``input_error`` are passed through and never read (structures come
        from CIF paths).

    Raises
    ------
    MatscreenInputError
        For an unknown property, an unreadable input or a missing column.
    """
    import pandas as pd

    if prop not in PROPERTIES:
        raise MatscreenInputError(f"unknown property {prop!r}; use one of {', '.join(PROPERTIES)}")
    if model is not None and prop != "conductivity":
        raise MatscreenInputError(f"--model is for conductivity; {prop} uses the MLIP setting")
    predictor = None
    if model is not None:
        from matscreen.surrogates.conductivity import load_conductivity_model

        try:
            predictor = load_conductivity_model(model)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            raise MatscreenInputError(f"--model {model}: {exc}") from None
    structure_columns = ("cif_charge", "cif_discharge") if prop == "voltage" else ("cif",)
    given = read_predict_input(path, structure_columns=structure_columns)
    table = given.table
    missing = [c for c in REQUIRED_COLUMNS[prop] if c not in table.columns]
    if missing:
        hint = ""
        if prop == "voltage" and Path(path).suffix.lower() != ".csv":
            hint = ("; voltage reads a CSV of electrode pairs (formula_charge, formula_discharge"
                    "[, cif_charge, cif_discharge]), not a CIF or a folder")  # fmt: skip
        elif Path(path).suffix.lower() == ".csv":
            hint = _column_hint(list(table.columns), missing)
        raise MatscreenInputError(
            f"{path}: missing column(s) {', '.join(missing)} for {prop}{hint}"
        )
    results = result_columns(prop)
    if prop != "conductivity":  # a bad DEFAULT_CALCULATOR setting: one usage error, not N rows
        from matscreen.physics.calculators import default_calculator_name

        default_calculator_name()
    unread = [c for c in table.columns if _is_internal(c)]
    if unread:
        logger.warning(
            "%s: column(s) %s passed through, not read (structures come from CIF paths in %s)",
            path, ", ".join(unread), " / ".join(structure_columns),
        )  # fmt: skip
    model_input = table[[c for c in table.columns if c not in results and not _is_internal(c)]]
    model_input = model_input.assign(**given.structures)
    renamed = {c: _free_name(f"input_{c}", table.columns) for c in results if c in table.columns}
    out = table.rename(columns=renamed)
    if renamed:
        logger.warning(
            "%s: input column(s) named like result columns kept as %s", path,
            ", ".join(f"{old} -> {new}" for old, new in renamed.items()),
        )  # fmt: skip
    errors = list(given.errors)
    notes = _structure_notes(prop, table, given.structures)
    for i, (note, contradicts) in enumerate(notes):
        if contradicts and errors[i] is None:  # another compound: not worth its relaxations
            errors[i] = note
    good = pd.Series([e is None for e in errors], index=table.index)
    if predictor is not None and good.any():
        predicted = predictor.predict_table(model_input.loc[good])
    elif good.any():
        predicted = _predict_rows(
            prop, model_input.loc[good], Path(checkpoint) if checkpoint else None, client
        )
    else:
        predicted = pd.DataFrame(columns=list(results))
    for column in results:
        values = pd.Series(None, index=table.index, dtype=object)
        if column in predicted.columns and good.any():
            values.loc[good] = predicted[column].to_numpy()
        out[column] = values
    out.loc[~good, "status"] = "failed"
    out.loc[~good, "error"] = [e for e in errors if e is not None]
    for i, (note, contradicts) in enumerate(notes):
        row = table.index[i]
        if note and not contradicts and out.at[row, "status"] == "ok":
            out.at[row, "result_note"] = join_notes(out.at[row, "result_note"], note)
    out = out.infer_objects()
    logger.info("%s: %d rows, %d failed", prop, len(out), int((out["status"] != "ok").sum()))
    return out


def _predict_rows(
    prop: str, rows: pd.DataFrame, checkpoint: Path | None, client: Client | None = None
) -> pd.DataFrame:
    """Run the model on readable rows: in batches (here or as Dask tasks), each row saved."""
    import pandas as pd

    if prop == "conductivity" or (checkpoint is None and client is None):
        if client is not None:
            logger.info("%s runs in this process (10,000 rows take seconds), not on Dask", prop)
        return _model(prop)(rows)
    results = list(result_columns(prop))
    files: list[Path | None] = [
        checkpoint / f"{prop}-{_row_key(prop, row)}.json" if checkpoint else None
        for _, row in rows.iterrows()
    ]
    records: dict[Any, dict[str, Any]] = {}
    for index, file in zip(rows.index, files, strict=True):
        saved = _read_record(file) if file is not None else None
        if saved is not None and saved.get("status") == "ok":
            records[index] = saved
    if records:
        logger.info(
            "%s: %d of %d rows already done in %s", prop, len(records), len(rows), checkpoint
        )
    todo = {i: f for i, f in zip(rows.index, files, strict=True) if i not in records}
    started, computed = time.monotonic(), 0
    for batch in _computed_rows(prop, rows, list(todo), client, done=len(records)):
        computed += len(batch)  # a batch's rows finish together: one estimate per batch
        left = time_left(time.monotonic() - started, computed, len(todo) - computed)
        for k, (index, record) in enumerate(batch):
            records[index] = record
            file = todo[index]
            if file is not None and record["status"] == "ok":  # a failure may pass: tried again
                from matscreen.core.io import atomic_write_json

                atomic_write_json(file, record)
            logger.info(
                "%s: %s %s%s (%d/%d done%s)", prop, _row_name(index), record["status"],
                f" ({record['error']})" if record["error"] else "", len(records), len(rows),
                left if k == len(batch) - 1 else "",
            )  # fmt: skip
    return pd.DataFrame.from_records(
        [records[i] for i in rows.index], columns=results, index=rows.index
    )


def _row_name(index: Any) -> str:
    """``row N`` (1-based, as the failure summary counts input rows) for a table index."""
    try:
        return f"row {int(index) + 1}"
    except (TypeError, ValueError):
        return f"row {index}"


def _batch_rows(prop: str) -> int:
    """Return the rows per unit of work (the PREDICT_BATCH setting).

    A batch relaxes its given structures together (batched CHGNet: 2.4x on 2 CPU
    cores for 8 cells): a stability row's cell, a voltage row's pair of cells.
    """
    from matscreen.core.settings import get_settings

    return get_settings().PREDICT_BATCH


def predict_rows(prop: str, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Compute rows of a slow property; the unit of work of a Dask task.

    Parameters
    ----------
    prop
        ``stability`` or ``voltage``.
    rows
        Rows of the table, as :func:`predict_file` passes them to the model.

    Returns
    -------
    list of dict
        Per row, in order, the result columns (:func:`result_columns`) as plain
        Python values.
    """
    from matscreen.core.io import to_builtin

    part = _model(prop)(rows, progress=False)
    columns = result_columns(prop)
    return [{c: to_builtin(part[c].iloc[i]) for c in columns} for i in range(len(part))]


def _batches(todo: list[Any], size: int) -> list[list[Any]]:
    return [todo[i : i + size] for i in range(0, len(todo), size)]


def _computed_rows(
    prop: str,
    rows: pd.DataFrame,
    todo: list[Any],
    client: Client | None,
    done: int,
) -> Iterator[list[tuple[Any, dict[str, Any]]]]:
    """Yield the ``(index, record)`` pairs of the rows in ``todo``, a batch as it finishes.

    On Dask, a batch whose task raises (a lost worker, memory) is tried again one row
    per task, so that only the row that causes it fails, with the reason.
    """
    from tqdm.auto import tqdm

    size = _batch_rows(prop)
    bar = tqdm(total=len(rows), initial=done, desc=prop, unit="row", disable=None)
    try:
        if client is None:
            for batch in _batches(todo, size):
                yield list(zip(batch, predict_rows(prop, rows.loc[batch]), strict=True))
                bar.update(len(batch))
            return
        from distributed import as_completed

        workers = max(len(client.scheduler_info().get("workers", {})), 1)
        size = max(1, min(size, -(-len(todo) // workers)))  # every worker gets some

        def submit(batch: list[Any]) -> Any:
            future = client.submit(predict_rows, prop, rows.loc[batch], pure=False)
            futures[future] = batch
            return future

        futures: dict[Any, list[Any]] = {}
        pending = as_completed([submit(batch) for batch in _batches(todo, size)])
        for future in pending:
            batch = futures.pop(future)
            try:
                records = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker fails its rows, not the run
                if len(batch) > 1:
                    logger.warning(
                        "%s: a task of %d rows failed on a Dask worker (%s: %s); trying them "
                        "one by one", prop, len(batch), type(exc).__name__, exc,
                    )  # fmt: skip
                    for index in batch:
                        pending.add(submit([index]))
                    continue
                records = [_failed_record(prop, f"{type(exc).__name__} on a Dask worker: {exc}")]
            finally:
                future.release()  # held here now: not recomputed if its worker goes away
            bar.update(len(batch))
            yield list(zip(batch, records, strict=True))
    finally:
        bar.close()


def _failed_record(prop: str, error: str) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(result_columns(prop))
    record.update(status="failed", error=error)
    return record


def _read_record(file: Path) -> dict[str, Any] | None:
    """Return a saved row result, or None (missing or unreadable: computed again)."""
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError):
        return None


def _row_key(prop: str, row: pd.Series) -> str:
    """Hash of what a row's result depends on: its inputs, the MLIP, the matscreen version."""
    import matscreen
    from matscreen.core.hashing import config_hash, structure_hash
    from matscreen.physics.calculators import default_calculator_name

    fields = {
        str(column): (
            (None if is_missing(value) else structure_hash(value))
            if str(column).startswith("structure")
            else str(value)
        )
        for column, value in row.items()
    }
    return config_hash(
        {"property": prop, "fields": fields, "calculator": default_calculator_name(),
         "matscreen": matscreen.__version__}
    )  # fmt: skip


#: Atomic-fraction L1 distance above which a row's formula and its CIF disagree.
FORMULA_CIF_TOLERANCE = 0.02
#: An element with at least this atomic fraction on one side (formula or CIF) and absent
#: from the other makes them different compounds: the row fails (a dopant the formula
#: leaves out, below it, is only noted).
FORMULA_CIF_ELEMENT_FRACTION = 0.05


def _structure_notes(
    prop: str, table: pd.DataFrame, structures: dict[str, list[Any]]
) -> list[tuple[str | None, bool]]:
    """Per row, a note when the structures given do not say what the formulas say.

    A formula whose atomic fractions differ from its CIF's by more than
    :data:`FORMULA_CIF_TOLERANCE` (L1) is named (the CIF is what the model
    used); when an element of at least :data:`FORMULA_CIF_ELEMENT_FRACTION`
    is on one side only, they are different compounds and the flag is True
    (the row fails); a voltage row with a CIF on one side only used the
    composition surrogate, not the MLIP.

    Returns
    -------
    list of (str or None, bool)
        Per row: the note, and whether formula and CIF contradict each other.
    """
    from matscreen.core.formula import fraction_distance, parse_formula

    sides = (("formula_charge", "structure_charge"), ("formula_discharge", "structure_discharge"))
    pairs = sides if prop == "voltage" else (("formula", "structure"),)
    notes: list[tuple[str | None, bool]] = [(None, False)] * len(table)
    for i in range(len(table)):
        found: list[str] = []
        contradicts = False
        have = [structures.get(col, [None] * len(table))[i] is not None for _, col in pairs]
        if prop == "voltage" and sum(have) == 1:  # still checked: a CIF of another compound
            side = "charge" if have[0] else "discharge"
            found.append(f"only cif_{side} given: the composition surrogate was used (the MLIP "
                         "path needs both CIFs)")  # fmt: skip
        for formula_col, structure_col in pairs:
            s = structures.get(structure_col, [None] * len(table))[i]
            formula = str(table[formula_col].iloc[i]).strip() if formula_col in table else ""
            if s is None or not formula:
                continue
            try:
                given = parse_formula(formula).fractional_composition
            except (ValueError, KeyError):
                continue
            read = s.composition.element_composition.fractional_composition
            symbols = {el.symbol for el in given} | {el.symbol for el in read}
            one_sided = sorted(
                el for el in symbols
                if min(given[el], read[el]) == 0
                and max(given[el], read[el]) >= FORMULA_CIF_ELEMENT_FRACTION
            )  # fmt: skip
            if one_sided:
                contradicts = True
                found.append(
                    f"{formula_col} {formula} and its CIF ({s.composition.reduced_formula}) are "
                    f"different compounds ({', '.join(one_sided)} on one side only)"
                )
            elif fraction_distance(given, read) > FORMULA_CIF_TOLERANCE:
                found.append(
                    f"{formula_col} {formula} differs from its CIF's composition "
                    f"{s.composition.reduced_formula}; the CIF was used"
                )
        notes[i] = ("; ".join(found) or None, contradicts)
    return notes


def _free_name(name: str, taken: pd.Index) -> str:
    """``name``, or ``name_2``, ``name_3``, ... if the table already has it."""
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name}_{k}"
    return candidate
