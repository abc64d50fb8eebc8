"""Streaming the first stage: every row back once, bounded in flight, same as featurize_stage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from matscreen.screening.stages import featurize_stage
from matscreen.screening.stream import featurize_predict_stream, part_name

pytestmark = pytest.mark.timeout(120)

OPTIONS = {
    "composition": True, "structure": True, "transport": True, "cache_dir": None,
    "family": "halide_electrolyte",
}  # fmt: skip


@pytest.fixture(scope="module")
def base_rows() -> list[dict[str, Any]]:
    """Small Li halide / oxide rows (a few atoms each), one unreadable, one failed upstream."""
    from pymatgen.core import Lattice, Structure

    rocksalt = [[0, 0, 0], [0.5, 0.5, 0.5]]
    protos = [
        Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.13), ["Li", "Cl"], rocksalt),
        Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.50), ["Li", "Br"], rocksalt),
        Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.62), ["Li", "O"], [[0.25] * 3, [0] * 3]),
    ]
    rows = []
    for i in range(21):
        s = protos[i % 3].copy()
        s.apply_strain(0.004 * (i // 3))
        rows.append({"id": f"c{i:03d}", "formula": s.composition.reduced_formula, "status": "ok",
                     "error": None, "structure": json.dumps(s.as_dict()), "extra": i})  # fmt: skip
    rows[5]["structure"] = "{broken"
    rows[9].update(status="failed", error="generation: supercell too large", structure=None)
    return rows


def _read(out: Path) -> pd.DataFrame:
    import pyarrow.dataset as ds

    table = ds.dataset(out, format="parquet").to_table().to_pandas()
    return table.sort_values("row_index").reset_index(drop=True)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Start a real LocalCluster with 2 single-threaded worker processes."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            host="127.0.0.1", memory_limit="2GiB",
        ) as cluster,
        Client(cluster) as c,
    ):  # fmt: skip
        yield c


def test_every_row_once_and_equal_to_featurize_stage(client, base_rows, tmp_path):
    """Each row comes back once, in order, equal to one featurize_stage call."""
    """Start a real LocalCluster with 2 single-threaded worker processes."""
    out = featurize_predict_stream(
        iter(base_rows), client=client, options=OPTIONS, out_dir=tmp_path / "parts", chunk_size=4
    )
    assert sorted(p.name for p in out.glob("*.parquet")) == [part_name(i) for i in range(6)]
    streamed = _read(out)
    assert list(streamed["row_index"]) == list(range(len(base_rows)))
    assert list(streamed["id"]) == [r["id"] for r in base_rows]  # each once, in order
    assert streamed.loc[5, "status"] == "failed"
    assert "unreadable structure" in streamed.loc[5, "error"]
    assert streamed.loc[9, "error"] == "generation: supercell too large"
    assert (streamed.drop(index=[5, 9])["status"] == "ok").all()

    keys = ["id", "formula", "status", "error", "structure"]
    expected = featurize_stage([{k: r[k] for k in keys} for r in base_rows], OPTIONS)
    text = [c for c in expected.columns if expected[c].dtype == object]
    expected = expected.astype(dict.fromkeys(text, "string"))  # parts store text as strings
    pd.testing.assert_frame_equal(
        streamed.drop(columns="row_index"), expected, check_dtype=False, rtol=1e-6
    )


def test_in_flight_is_bounded_and_rows_are_read_lazily(client, base_rows, tmp_path):
    """Rows are pulled only as chunks finish: pulled - written <= (max_in_flight + 1) chunks."""
    out_dir = tmp_path / "parts"
    chunk_size, max_in_flight = 2, 2
    gaps: list[int] = []

    def rows() -> Iterator[dict[str, Any]]:
        for i, row in enumerate(base_rows):
            parts = out_dir.glob("*.parquet") if out_dir.exists() else []
            written = sum(len(pd.read_parquet(p, columns=["id"])) for p in parts)
            gaps.append(i - written)
            yield row

    featurize_predict_stream(
        rows(), client=client, options=OPTIONS, out_dir=out_dir,
        chunk_size=chunk_size, max_in_flight=max_in_flight,
    )  # fmt: skip
    assert max(gaps) <= (max_in_flight + 1) * chunk_size
    assert len(_read(out_dir)) == len(base_rows)


def test_default_in_flight_and_argument_checks(client, base_rows, tmp_path):
    """The default in-flight bound works; bad arguments are refused."""
    out = featurize_predict_stream(
        (r for r in base_rows[:3]), client=client, options=OPTIONS, out_dir=tmp_path / "p"
    )
    assert len(_read(out)) == 3 and [p.name for p in out.glob("*.parquet")] == [part_name(0)]
    with pytest.raises(ValueError, match="chunk_size"):
        featurize_predict_stream([], client=client, options=OPTIONS, out_dir=tmp_path, chunk_size=0)
    with pytest.raises(ValueError, match="max_in_flight"):
        featurize_predict_stream(
            [], client=client, options=OPTIONS, out_dir=tmp_path, max_in_flight=0
        )


def test_a_failing_task_fails_its_rows_only(client, base_rows, tmp_path):
    """A task that raises gives failed rows with the reason, not a crash."""
    bad_options = {**OPTIONS, "family": None}  # featurize_stage raises on every chunk
    out = featurize_predict_stream(
        iter(base_rows[:4]), client=client, options=bad_options, out_dir=tmp_path / "p",
        chunk_size=2,
    )  # fmt: skip
    table = _read(out)
    assert list(table["id"]) == [r["id"] for r in base_rows[:4]]
    assert (table["status"] == "failed").all()
    assert table["error"].str.startswith("featurize task failed: AttributeError").all()


def test_chunks_stack_without_pandas_all_na_deprecation() -> None:
    """A chunk whose numeric column is all None (no window computed there) next to one with
    numbers: pandas warned (FutureWarning) on every such run; the dtype stays float and text
    columns keep None."""
    import warnings

    import pandas as pd

    from matscreen.screening.run import concat_rows

    a = pd.DataFrame({"id": ["a"], "x": pd.Series([None], dtype=object), "note": [None]})
    b = pd.DataFrame({"id": ["b"], "x": [1.5], "note": ["deep below the hull"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        out = concat_rows([a, b])
    assert out["x"].dtype == float and out["x"].isna().tolist() == [True, False]
    # pandas 2: an object column with None; pandas 3: its "str" dtype with NaN (as read back)
    assert out["note"].isna().tolist() == [True, False] and out["note"][1] == "deep below the hull"
    assert out["note"].dtype != object or out["note"][0] is None
    assert list(out.columns) == ["id", "x", "note"] and concat_rows([]).empty


def test_cathode_properties_only_for_cathodes(base_rows):
    """Capacities and the Mn3+ fraction are cathode columns: NaN in an electrolyte run."""
    rows = [dict(r) for r in base_rows[:3]]
    columns = ["capacity_li_mAh_g", "capacity_redox_mAh_g", "mn3_fraction"]
    electrolyte = featurize_stage(rows, OPTIONS)
    assert (electrolyte["status"] == "ok").all()
    assert electrolyte[columns].isna().all().all()
    assert (electrolyte["cost_usd_per_kg"] > 0).all()
    cathode = featurize_stage(rows, {**OPTIONS, "family": "mn_cathode"})
    assert (cathode["capacity_li_mAh_g"] > 0).all() and (cathode["mn3_fraction"] == 0).all()
