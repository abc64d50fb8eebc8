# ruff: noqa: D103
"""Table functions: columns, order, pass-through, failed rows with reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from matscreen.physics.tables import predict_stability_table, predict_voltage_table


def test_stability_table_mixed_rows(licl: Structure) -> None:
    overlapping = licl.copy()
    overlapping.append("Li", overlapping[0].coords + [0.1, 0, 0], coords_are_cartesian=True)
    df = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "formula": ["LiCl", "Li3YCl6", "Xq2O", "LiCl", "LiZnPS9", "LiAmO2"],
            "structure": [licl, None, None, overlapping, None, None],
        }
    )
    out = predict_stability_table(df, relax=False)  # relaxation is tested in test_relax
    assert list(out["id"]) == [1, 2, 3, 4, 5, 6]
    assert list(out["status"]) == ["ok", "ok", "failed", "failed", "failed", "failed"]
    assert "unknown element(s) Xq" in out.loc[2, "error"]
    assert "Am not covered by chgnet" in out.loc[5, "error"]  # not "no elemental reference"
    assert out.loc[0, "method"] == "mlip" and out.loc[1, "method"] == "reference"
    assert out.loc[0, "e_above_hull"] < 0.03
    assert out.loc[0, "window_high_V"] > 3.8
    assert out.loc[1, "window_low_V"] > 0.3 and out.loc[1, "window_high_V"] > 3.8
    assert "LiCl" in out.loc[1, "decomposition"] or out.loc[1, "e_above_hull"] < 0
    assert "Xq" in out.loc[2, "error"] or "parse" in out.loc[2, "error"]
    assert "overlapping" in out.loc[3, "error"]
    assert "no structure" in out.loc[4, "error"]
    assert out.loc[0, "calculator"] == "chgnet"


def test_voltage_table_surrogate_and_bad_rows() -> None:
    df = pd.DataFrame(
        {
            "formula_charge": ["Mn2O4", "FePO4", "Mn2O4", None, "C6"],
            "formula_discharge": ["LiMn2O4", "LiFePO4", "LiFe2O4", "LiCoO2", "LiC6"],
            "note": ["a", "b", "c", "d", "e"],
        }
    )
    from matscreen.physics.voltage import VoltageSurrogate, load_voltage_data

    data = load_voltage_data()
    small = VoltageSurrogate(n_estimators=30).fit(data, data["voltage"])
    out = predict_voltage_table(df, surrogate=small)
    assert list(out["note"]) == ["a", "b", "c", "d", "e"]
    assert list(out["status"]) == ["ok", "ok", "failed", "failed", "failed"]
    # graphite: the reason, not "could not featurize", and no method claimed for the row
    assert "no redox-active cation" in out.loc[4, "error"] and out.loc[4, "method"] is None
    assert 3.0 < out.loc[0, "voltage"] < 5.0 and out.loc[0, "voltage_std"] > 0
    assert 2.5 < out.loc[1, "voltage"] < 4.5
    # capacity from the formulas (LiFePO4: 170 mAh/g), energy density = voltage x capacity
    assert abs(out.loc[1, "capacity_mAh_g"] - 169.9) < 0.1
    assert (
        out.loc[0, "energy_density_Wh_kg"] == out.loc[0, "voltage"] * out.loc[0, "capacity_mAh_g"]
    )
    assert "host" in out.loc[2, "error"]
    assert np.isnan(out.loc[2, "voltage"]) or out.loc[2, "voltage"] is None


def test_voltage_table_structure_path() -> None:
    from matscreen.physics.references import cathode_structure

    df = pd.DataFrame(
        {
            "formula_charge": ["Mn2O4"],
            "formula_discharge": ["LiMn2O4"],
            "structure_charge": [cathode_structure("Mn2O4")],
            "structure_discharge": [cathode_structure("LiMn2O4")],
        }
    )
    out = predict_voltage_table(df, relax=False)
    assert out.loc[0, "status"] == "ok" and out.loc[0, "method"] == "mlip"
    assert 3.0 < out.loc[0, "voltage"] < 5.5
    assert out.loc[0, "capacity_mAh_g"] > 140


def test_stability_table_orders_a_disordered_cif_structure() -> None:
    from matscreen.datasets.obelix import obelix_structures

    s = obelix_structures()["de5"]  # Li3InCl6 with In/vacancy disorder, as most CIFs are
    assert not s.is_ordered
    out = predict_stability_table(
        pd.DataFrame({"formula": ["Li3InCl6"], "structure": [s]}), relax=False
    )
    assert out.loc[0, "status"] == "ok", out.loc[0, "error"]
    assert "ordered from partial occupancies" in out.loc[0, "ordering"]
    assert "Li3InCl6" in out.loc[0, "ordering"]
    # unrelaxed ordered approximant of a known phase: above the hull, but not absurdly
    assert -0.05 < out.loc[0, "e_above_hull"] < 0.3


def test_stability_table_builds_binaries_for_an_uncovered_system() -> None:
    # Li-Al-N has no shipped or built-in binary: without prototype binaries Li3AlN2 sat
    # ~1 eV/atom "below" a hull of the bare elements. Li3N and AlN come from generated
    # prototype cells; Li3AlN2 itself is a known compound (mp-13944, 48 sites, in the library
    # since its cap went from 40 to 60 sites; before, this cell sat 0.14 eV/atom below
    # Li3N + AlN with relaxation, as cif_stability showed)
    from matscreen.datasets.obelix import obelix_structures
    from matscreen.physics.hull import cached_reference_entries

    refs = {
        e.entry_id
        for e in cached_reference_entries("chgnet", ("Al", "Li", "N"), prototype_binaries=True)
    }
    generated = {"chgnet-auto-AlN-AB_hP4_186_b_b", "chgnet-auto-Li3N-A3B_hP4_191_bc_a"}
    assert generated | {"chgnet-Li3AlN2-mp-13944"} <= refs
    s = obelix_structures()["br1"]  # Li3AlN2 (Ia-3, ordered), OBELiX test entry
    df = pd.DataFrame({"formula": ["Li3AlN2", "Li3N"], "structure": [s, None]})
    out = predict_stability_table(df, relax=False)
    assert out.loc[0, "status"] == "ok", out.loc[0, "error"]
    assert bool(out.loc[0, "hull_complete"])
    # the published cell, unrelaxed, sits above the MLIP-relaxed known phase (0.13 eV/atom)
    assert list(out.loc[0, "decomposition"]) == ["Li3AlN2"]
    assert 0.0 < out.loc[0, "e_above_hull"] < 0.3
    # a formula-only row is not answered with a generated prototype: Li3N takes its
    # published cells (OBELiX) instead
    assert out.loc[1, "status"] == "ok" and out.loc[1, "method"] == "template"
    assert (
        "known structure: OBELiX" in out.loc[1, "result_note"]
        and "auto-" not in out.loc[1, "result_note"]
    )


def test_voltage_table_orders_disordered_cathodes() -> None:
    # disordered (Fd-3m) LNMO, the common form: Ni/Mn share the 16d site 1:3
    from matscreen.physics.references import cathode_structure

    pair = {}
    for name in ("LiMn2O4", "Mn2O4"):
        s = cathode_structure(name)
        s.replace_species({"Mn": {"Ni": 0.25, "Mn": 0.75}})
        assert not s.is_ordered
        pair[name] = s
    df = pd.DataFrame(
        {
            "formula_charge": ["Ni0.5Mn1.5O4"],
            "formula_discharge": ["LiNi0.5Mn1.5O4"],
            "structure_charge": [pair["Mn2O4"]],
            "structure_discharge": [pair["LiMn2O4"]],
        }
    )
    out = predict_voltage_table(df, relax=False)
    assert out.loc[0, "status"] == "ok", out.loc[0, "error"]
    note = out.loc[0, "ordering"]
    assert "charge: ordered" in note and "discharge: ordered" in note
    assert 3.5 < out.loc[0, "voltage"] < 6.0


def test_a_formula_alone_is_placed_on_the_hull_like_its_structure(licl: Structure) -> None:
    """A formula-only row takes the lowest reference phase of that composition and places
    it on the hull of every reference, itself included: LiCl from its formula sits on the
    hull (as its structure does), not 2.1 eV/atom below a hull of the bare elements with
    a false 'Li missing' flag; a fractional formula finds the same phase."""
    df = pd.DataFrame(
        {
            "formula": ["LiCl", "Li0.5Cl0.5", "Li2Cl2", "LiCl"],
            "structure": [None, None, None, licl],
        }
    )
    out = predict_stability_table(df, relax=False)
    assert list(out["status"]) == ["ok"] * 4, list(out["error"])
    assert list(out["method"]) == ["reference"] * 3 + ["mlip"]
    for i in range(3):
        assert out.loc[i, "e_above_hull"] == 0.0
        assert list(out.loc[i, "decomposition"]) == ["LiCl"]
        assert bool(out.loc[i, "hull_complete"]) and not out.loc[i, "error"]
        assert not out.loc[i, "result_note"]
        assert out.loc[i, "e_form_per_atom"] < -1.5
    assert abs(out.loc[3, "e_above_hull"]) < 0.03
    assert str(out.loc[0, "window_low_V"]) == "0.0"  # no "-0.0" in the table


def test_an_incomplete_hull_leaves_the_window_empty(licl: Structure, monkeypatch) -> None:
    """One policy with the screening's physics stage: no window from a phase diagram
    that misses competing phases (it would be too wide)."""
    import matscreen.physics.checks as checks

    def gappy(elements, references, decomposition=()):
        return {"hull_complete": False, "hull_missing": "Cl"}, "competing phases of Cl missing"

    monkeypatch.setattr(checks, "hull_gap_record", gappy)
    out = predict_stability_table(pd.DataFrame({"structure": [licl]}), relax=False)
    assert out.loc[0, "status"] == "ok" and not out.loc[0, "hull_complete"]
    assert out.loc[0, "window_low_V"] is None and out.loc[0, "window_high_V"] is None
    assert out.loc[0, "result_note"] == "competing phases of Cl missing; window not computed"
    assert out.loc[0, "error"] is None


def test_given_structures_are_relaxed_together_and_rows_stay_apart(
    licl: Structure,
    monkeypatch,
    own_cache_dir,  # noqa: ANN001
) -> None:
    """The table's given structures are relaxed in one batch (not a formula row, not a cell
    with an element the MLIP lacks); each row still gets its own hull and failure."""
    import matscreen.physics.relax_cache as relax_cache

    strained = licl.copy()
    strained.apply_strain(0.03)
    overlapping = licl.copy()
    overlapping.append("Li", overlapping[0].coords + [0.1, 0, 0], coords_are_cartesian=True)
    uncovered = licl.copy()
    uncovered.replace_species({"Cl": "Am"})
    seen: list[list[str]] = []
    real = relax_cache.cached_relax_together

    def spy(structures, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append([s.composition.reduced_formula for s in structures])
        return real(structures, *args, **kw)

    monkeypatch.setattr(relax_cache, "cached_relax_together", spy)
    df = pd.DataFrame(
        {
            "formula": ["LiCl", "LiCl", "LiCl", "LiCl", "LiAm"],
            "structure": [licl, None, strained, overlapping, uncovered],
        }
    )
    out = predict_stability_table(df, window=False, device="cpu")
    assert seen == [["LiCl", "LiCl", "Li2Cl"]]  # the overlapping cell fails in the batch
    assert list(out["status"]) == ["ok", "ok", "ok", "failed", "failed"]
    assert list(out["method"][:3]) == ["mlip", "reference", "mlip"]
    assert abs(out.loc[2, "e_above_hull"] - out.loc[0, "e_above_hull"]) < 2e-3
    assert "overlapping" in out.loc[3, "error"]
    assert "Am not covered by chgnet" in out.loc[4, "error"]


def test_voltage_pairs_are_relaxed_together(monkeypatch, own_cache_dir, licl) -> None:  # noqa: ANN001
    """The two cells of every pair with both structures go into one batched relaxation; a
    formula-only pair (the surrogate), a pair with one cell and cells that are no insertion
    pair (they fail without a relaxation) add nothing to it."""
    import matscreen.physics.relax_cache as relax_cache
    from matscreen.physics.references import cathode_structure

    seen: list[list[str]] = []
    real = relax_cache.cached_relax_together

    def spy(structures, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(sorted(s.composition.reduced_formula for s in structures))
        return real(structures, *args, **kw)

    monkeypatch.setattr(relax_cache, "cached_relax_together", spy)
    charged, discharged = cathode_structure("Mn2O4"), cathode_structure("LiMn2O4")
    df = pd.DataFrame(
        {
            "formula_charge": ["Mn2O4", "FePO4", "Mn2O4", "Mn2O4"],
            "formula_discharge": ["LiMn2O4", "LiFePO4", "LiMn2O4", "LiMn2O4"],
            "structure_charge": [charged, None, None, charged],
            "structure_discharge": [discharged, None, discharged, licl],
        }
    )
    out = predict_voltage_table(df, steps=3, device="cpu")  # 3 FIRE steps: not converged
    assert seen == [["LiMn2O4", "MnO2"]]
    assert list(out["status"]) == ["ok", "ok", "ok", "failed"]
    assert list(out["method"][:3]) == ["mlip", "surrogate", "surrogate"]
    assert "host" in out.loc[3, "error"]
    assert "relaxation not converged" in out.loc[0, "result_note"]
    assert 2.0 < out.loc[0, "voltage"] < 6.0
    kept = list((own_cache_dir / "physics" / "relaxed" / "chgnet").glob("*.json"))
    assert len(kept) >= 2  # both cells (and Li metal, relaxed on its own)


def test_long_table_is_relaxed_a_part_at_a_time(monkeypatch, own_cache_dir, licl) -> None:  # noqa: ANN001
    """From Python, a table longer than BATCH_CELLS rows is relaxed a part at a time, each
    part just before its rows (not every structure before the first hull)."""
    import matscreen.physics.relax_cache as relax_cache

    monkeypatch.setattr(relax_cache, "BATCH_CELLS", 2)
    cells = []
    for strain in (0.0, 0.02, 0.03, 0.04):
        s = licl.copy()
        s.apply_strain(strain)
        cells.append(s)
    events: list[str] = []
    real = relax_cache.cached_relax_together

    def spy(structures, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        events.append(f"relax {len(structures)}")
        return real(structures, *args, **kw)

    monkeypatch.setattr(relax_cache, "cached_relax_together", spy)
    import matscreen.physics.hull as hull

    real_hull = hull.structure_hull

    def hull_spy(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        events.append("hull")
        return real_hull(*args, **kw)

    monkeypatch.setattr(hull, "structure_hull", hull_spy)
    df = pd.DataFrame({"formula": ["LiCl"] * 4, "structure": cells})
    out = predict_stability_table(df, window=False, device="cpu", steps=60)
    assert events == ["relax 2", "hull", "hull", "relax 2", "hull", "hull"]
    assert list(out["status"]) == ["ok"] * 4
    assert out["e_above_hull"].max() - out["e_above_hull"].min() < 2e-3
