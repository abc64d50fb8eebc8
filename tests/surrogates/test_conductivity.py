"""The shipped conductivity model, table prediction and retraining."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from matscreen.surrogates.conductivity import (
    DEFAULT_MODEL_DIR,
    MODEL_VERSION,
    OUTPUT_COLUMNS,
    default_conductivity_model,
    load_conductivity_model,
    predict_conductivity_table,
    train_conductivity_model,
)

from .conftest import TINY_ATTENTION, TINY_FOREST


@pytest.fixture(scope="module")
def shipped():
    return default_conductivity_model()


def test_shipped_files_are_small_and_versioned():
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    assert manifest["version"] == MODEL_VERSION
    assert manifest["training"]["source"] == "obelix:train"
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir())
    assert size < 2_000_000


def test_shipped_model_loads_offline_and_orders_sanity_set(shipped):
    out = predict_conductivity_table(
        pd.DataFrame({"formula": ["Li3InCl6", "Li3YBr6", "Li3PO4", "LiAlSiO4"]}), model=shipped
    )
    assert (out["status"] == "ok").all()
    sigma = dict(zip(out["formula"], out["log10_sigma"], strict=True))
    assert sigma["Li3InCl6"] > sigma["Li3PO4"] + 2
    assert sigma["Li3YBr6"] > sigma["LiAlSiO4"] + 2
    assert (out["log10_sigma_std"] > 0).all()


def test_bad_inputs_fail_with_reasons(shipped):
    df = pd.DataFrame(
        {
            "formula": ["Li3InCl6", "NaCl", "Qq3Li", None, "", "Li7La3Zr2O12", "Li2Og3(("],
            "tag": list("abcdefg"),
        },
        index=[10, 11, 12, 13, 14, 15, 16],
    )
    out = predict_conductivity_table(df, model=shipped)
    assert list(out.index) == list(df.index) and list(out["tag"]) == list("abcdefg")
    assert set(OUTPUT_COLUMNS) <= set(out.columns)
    assert list(out["status"]) == ["ok", "failed", "failed", "failed", "failed", "ok", "failed"]
    errors = out["error"].tolist()
    assert errors[0] is None and errors[5] is None
    assert "no Li" in errors[1]
    assert "Qq" in errors[2] or "parse" in errors[2]
    assert errors[3] == "missing formula"
    assert errors[4] == "empty formula"
    failed = out["status"] == "failed"
    assert out.loc[failed, "log10_sigma"].isna().all()
    assert out.loc[~failed, "log10_sigma"].notna().all()
    assert out.loc[failed, "sigma_out_of_domain"].isna().all()  # no verdict for a failed row


def test_fit_refuses_what_predict_refuses_and_the_default_loads_once():
    """A Li-ion model: training rows without Li were accepted by fit (predict refused
    them); the table and load_conductivity_model(device='cpu') loaded the model twice."""
    from matscreen.surrogates.attention import AttentionConductivityRegressor
    from matscreen.surrogates.forest import ConductivityForest

    X, y = ["LiCl", "Li3InCl6", "NaCl"], [-5.0, -3.0, -9.0]
    with pytest.raises(ValueError, match=r"training row 2: no Li"):
        ConductivityForest(n_estimators=5).fit(X, y)
    with pytest.raises(ValueError, match=r"training row 2: no Li"):  # the torch model too
        AttentionConductivityRegressor(n_members=1, epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"training row 0: Li metal"):
        AttentionConductivityRegressor(n_members=1, epochs=1).fit(["Li", "LiCl"], [-1.0, -5.0])
    assert load_conductivity_model(device="cpu") is default_conductivity_model()


def test_a_lone_atoms_and_screen_json_structures_are_read(shipped):
    """A single ASE Atoms was iterated atom by atom; the JSON structures of a screening
    run's results.parquet failed every row ('cannot parse formula {"@module": ...')."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    from matscreen.core.io import structure_to_json

    licl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])  # fmt: skip
    expected = shipped.ensemble.predict(licl)
    assert shipped.ensemble.predict(AseAtomsAdaptor.get_atoms(licl)) == pytest.approx(expected)
    table = pd.DataFrame({"formula": ["LiCl"], "structure": [structure_to_json(licl)]})
    out = predict_conductivity_table(table, model=shipped)
    assert out["status"][0] == "ok" and out["log10_sigma"][0] == pytest.approx(expected[0])


def test_an_extrapolation_is_named_in_note(shipped):
    """sigma_out_of_domain says that a row is far out; result_note says why, on the row itself."""
    df = pd.DataFrame({"formula": ["Li3InCl6", "Li2PuCl5", "Li3YBr6", "NaCl"]})
    out = predict_conductivity_table(df, model=shipped)
    notes = out["result_note"].tolist()
    assert notes[0] is None and not out["sigma_out_of_domain"][0]
    assert notes[1] == "Pu in no training compound: an extrapolation"
    assert out["sigma_out_of_domain"][1] and out["error"][1] is None
    assert out["sigma_out_of_domain"][2] == notes[2].startswith("far from the training")
    assert notes[3] is None and out["status"][3] == "failed"  # error, not note, on failures


def test_the_estimator_api_refuses_what_the_table_refuses(shipped):
    """A Li-ion model: predict() raises on no-Li and Li-metal rows as the table fails them;
    a one-column 2-D array (what sklearn column transformers pass) reads as formulas."""
    model = shipped.ensemble
    rows = model.predict_rows(["NaCl", "Li", "Li3YCl6"])
    assert "no Li" in rows.errors[0] and "Li metal" in rows.errors[1] and rows.errors[2] is None
    assert np.isnan(rows.mean[:2]).all() and np.isfinite(rows.mean[2])
    with pytest.raises(ValueError, match="no Li"):
        model.predict(["NaCl"])
    column = pd.DataFrame({"formula": ["Li3YCl6", "LiCl"]})[["formula"]].to_numpy()
    np.testing.assert_allclose(model.predict(column), model.predict(["Li3YCl6", "LiCl"]))
    assert model.attention_.predict(["Li3YCl6"]).dtype == np.float64


def test_domain_flag(shipped):
    out = predict_conductivity_table(
        pd.DataFrame({"formula": ["Li7La3Zr2O12", "LiPu3Am2"]}), model=shipped
    )
    assert list(out["sigma_out_of_domain"]) == [False, True]
    assert out["sigma_domain_distance"].iloc[0] < out["sigma_domain_distance"].iloc[1]
    # robust scaling: one rare column (the In fraction) no longer carries a composition
    # past the threshold on its own
    halide = predict_conductivity_table(pd.DataFrame({"formula": ["Li3InCl6"]}), model=shipped)
    assert not halide["sigma_out_of_domain"].iloc[0]


def test_structure_rows(shipped, licl):
    from matscreen.datasets import load_obelix

    test = load_obelix("test")
    rows = test[test["structure"].notna()].head(3)
    df = pd.DataFrame({"formula": list(rows["formula"]) + ["LiCl"],
                       "structure": list(rows["structure"]) + [licl]})  # fmt: skip
    out = predict_conductivity_table(df, model=shipped)
    assert (out["status"] == "ok").all(), out["error"].tolist()


def test_ase_atoms_from_pymatgen_are_read_as_structures(shipped, licl):
    """``AseAtomsAdaptor.get_atoms`` returns ``MSONAtoms``, a subclass of ``ase.Atoms``."""
    from ase import Atoms
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(licl)
    plain = Atoms(atoms.get_chemical_symbols(), atoms.get_positions(), cell=atoms.cell, pbc=True)
    mean, std = shipped.ensemble.predict([atoms, plain, licl], return_std=True)
    assert np.isfinite(mean).all() and np.allclose(mean, mean[2]) and np.allclose(std, std[2])


def test_ten_thousand_rows_in_one_call(shipped):
    """The batched path gives each row what a small call gives it (timing: the benchmark's
    predict_10k_seconds)."""
    halides = [f"Li3{m}{x}6" for m in ("Y", "In", "Sc", "Er", "Ho") for x in ("Cl", "Br", "I")]
    formulas = [f"Li{3 - d:.3f}Y{1 - d:.3f}Zr{d:.3f}Cl6" for d in np.linspace(0, 0.9, 10_000)]
    df = pd.DataFrame({"formula": halides + formulas[: 10_000 - len(halides)]})
    out = predict_conductivity_table(df, model=shipped)
    assert (out["status"] == "ok").all() and np.isfinite(out["log10_sigma"]).all()
    picks = [0, 14, 15, 5000, 9999]
    small = predict_conductivity_table(df.iloc[picks], model=shipped)
    assert np.allclose(small["log10_sigma"], out["log10_sigma"].iloc[picks], atol=1e-5)
    assert np.allclose(small["log10_sigma_std"], out["log10_sigma_std"].iloc[picks], atol=1e-5)


def test_train_and_load_roundtrip(tmp_path, obelix_train):
    from matscreen.datasets import load_obelix

    rows = load_obelix("train").iloc[::6].reset_index(drop=True).head(60)
    cif_dir = tmp_path / "cifs"
    cif_dir.mkdir()
    cifs = []
    for _, row in rows.iterrows():
        if row["structure"] is not None and len(cifs) < 8:
            row["structure"].to(filename=str(cif_dir / f"{row['id']}.cif"))
            cifs.append(f"cifs/{row['id']}.cif")
        else:
            cifs.append("")
    csv = tmp_path / "train.csv"
    table = {"formula": rows["formula"], "log10_sigma": rows["log10_sigma"], "cif": cifs}
    pd.DataFrame(table).to_csv(csv, index=False)
    out_dir = train_conductivity_model(
        csv, tmp_path / "model", cv_folds=2, forest_params=TINY_FOREST,
        attention_params={**TINY_ATTENTION, "n_members": 1},
    )  # fmt: skip
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["forest_file"] == "forest.joblib"
    assert 0.0 <= manifest["ensemble"]["forest_weight_cell"] <= 1.0
    assert manifest["version"] == MODEL_VERSION and manifest["name"] == "conductivity-custom"
    assert manifest["cv"]["groups"] == "atomic-fraction L1 < 0.02"  # the CSV has no DOI column
    assert 2 <= manifest["cv"]["n_groups"] <= len(rows)
    model = load_conductivity_model(out_dir)
    res = predict_conductivity_table(pd.DataFrame({"formula": ["Li3InCl6", "KCl"]}), model=model)
    assert list(res["status"]) == ["ok", "failed"]


def test_training_table_errors(tmp_path, caplog):
    with pytest.raises(ValueError, match="lacks column.*log10_sigma.*OBELiX CSV layout"):
        train_conductivity_model(pd.DataFrame({"formula": ["Li3InCl6"]}), tmp_path / "m")
    with pytest.raises(ValueError, match=r"row 2 \('<1E-10'\).*as -15"):
        train_conductivity_model(
            pd.DataFrame({"formula": ["Li3InCl6", "LiCl"], "log10_sigma": ["-3", "<1E-10"]}),
            tmp_path / "m",
        )
    with pytest.raises(ValueError, match=r"row 2 \(NaCl\): no Li"):
        train_conductivity_model(
            pd.DataFrame({"formula": ["Li3InCl6", "NaCl"], "log10_sigma": [-3, -9]}), tmp_path / "m"
        )
    few = pd.DataFrame({"formula": ["Li3InCl6", "Li3YCl6", "LiCl"], "log10_sigma": [-3, -3, -9]})
    with pytest.raises(ValueError, match="needs at least 5 groups"):
        train_conductivity_model(few, tmp_path / "m")
    assert "3 training rows: with fewer than 50 the cross-validated weights" in caplog.text
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        train_conductivity_model(few, tmp_path / "file")
    assert not (tmp_path / "m").exists()
    mine = tmp_path / "my_results"  # a folder of other things is never replaced by a model
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    with pytest.raises(ValueError, match="other content"):
        train_conductivity_model(few, mine)
    assert (mine / "notes.txt").read_text() == "precious"


def test_training_on_formula_only_rows_and_the_obelix_layout(tmp_path, obelix_train):
    """A table of formula + log10_sigma alone (no cells: the README's example) trains; so does
    a CSV in the OBELiX layout; the model folder is replaced whole, and predict --model uses it."""
    from typer.testing import CliRunner

    from matscreen.cli import app
    from matscreen.datasets.obelix import obelix_dir

    small = obelix_train[["formula", "log10_sigma"]].iloc[::8].reset_index(drop=True)
    kwargs = {"cv_folds": 2, "forest_params": TINY_FOREST,
              "attention_params": {**TINY_ATTENTION, "n_members": 1}}  # fmt: skip
    out = train_conductivity_model(small, tmp_path / "m", **kwargs)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cv"]["n_cell"] == 0
    assert manifest["ensemble"]["forest_weight_cell"] == manifest["ensemble"]["forest_weight_comp"]
    (out / "stale.txt").write_text("from an older model")
    raw = pd.read_csv(obelix_dir() / "train.csv").iloc[::8]
    raw.to_csv(tmp_path / "obelix_layout.csv", index=False)
    out = train_conductivity_model(tmp_path / "obelix_layout.csv", tmp_path / "m", **kwargs)
    assert not (out / "stale.txt").exists()  # replaced, not merged
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.")]  # no temp left
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["n_rows"] == len(raw) and manifest["cv"]["n_cell"] == len(raw)
    Path("q.csv").write_text("formula\nLi3InCl6\n")
    result = CliRunner().invoke(
        app, ["predict", "conductivity", "q.csv", "--out", "p.csv", "--model", str(out)]
    )
    assert result.exit_code == 0, result.output
    mine = pd.read_csv("p.csv")["log10_sigma"][0]
    expected = predict_conductivity_table(
        pd.DataFrame({"formula": ["Li3InCl6"]}), model=load_conductivity_model(out)
    )["log10_sigma"][0]
    assert mine == pytest.approx(expected)
    (tmp_path / "link").symlink_to(out)  # a link to a model folder: the folder is replaced
    assert train_conductivity_model(small, tmp_path / "link", **kwargs) == out.resolve()
    assert (tmp_path / "link").is_symlink() and (tmp_path / "link" / "manifest.json").is_file()


def test_forest_cache_key_follows_the_forest_parameters() -> None:
    """A retrained model that keeps its version but changes its forest gets a new cache file."""
    import copy

    from matscreen.surrogates.conductivity import DEFAULT_MODEL_DIR, _forest_cache_path

    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    other = copy.deepcopy(manifest)
    other["forest_params"]["min_samples_leaf"] = manifest["forest_params"]["min_samples_leaf"] + 1
    assert _forest_cache_path(manifest, "1.0") != _forest_cache_path(other, "1.0")
    assert _forest_cache_path(manifest, "1.0") == _forest_cache_path(copy.deepcopy(manifest), "1.0")
