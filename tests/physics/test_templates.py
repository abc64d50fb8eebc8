"""Trial structures for a formula without one (known structure types of its stoichiometry)."""

from __future__ import annotations

import pandas as pd
from pymatgen.core import Composition

from matscreen.physics.tables import predict_stability_table
from matscreen.physics.templates import _assignment, template_structures


def test_templates_match_the_stoichiometry_and_keep_li_and_anion_sites() -> None:
    trials = dict(template_structures("Li3HoCl6"))
    labels = list(trials)
    assert labels[0] == "prototype:Li3YCl6_P-3m1 Y->Ho"  # closest substitution first
    # the known-compound library's cells are structure types too (Li3ScCl6, C2/m)
    assert "library:Li3ScCl6-mp-686004 Sc->Ho" in labels and len(labels) <= 3
    for s in trials.values():
        assert s.composition.reduced_formula == "Li3HoCl6"
    # a library compound's own cell comes first for its formula (no substitution)
    assert template_structures("Li3ScCl6")[0][0] == "library:Li3ScCl6-mp-686004"
    # Br onto the Cl sites, not onto Y's; the volume grows with the larger anion. Li3ErBr6
    # (C2/m, the type Li3YBr6 takes) is the closer bromide
    (first, _), (label, s), *_ = template_structures("Li3YBr6")
    chloride_volume = 11.2055**2 * 6.0346 * 3**0.5 / 2  # the prototype's cell
    assert first == "library:Li3ErBr6-mp-37873 Er->Y"
    assert label == "prototype:Li3YCl6_P-3m1 Cl->Br" and s.volume > 1.1 * chloride_volume
    # one trial per structure type: LiNiO2, LiCrO2, LiFeO2 ... are one layered type
    r3m = ("reference:LiNiO2", "reference:LiCrO2", "reference:LiFeO2", "reference:LiAlO2")
    layered = [lab for lab, _ in template_structures("LiCoO2") if lab.startswith(r3m)]
    assert len(layered) == 1
    assert template_structures("LiZnPS9") == [] and template_structures("Xx2O") == []
    # equal amounts are paired to move the chemistry least: Pb takes the A cation's site, Ti
    # stays (ilmenite NiTiO3 and perovskite LaTiO3 are the two ATiO3 trials)
    trials = template_structures("PbTiO3")
    assert [label for label, _ in trials[:2]] == [
        "reference:NiTiO3 Ni->Pb", "reference:LaTiO3 La->Pb"
    ]  # fmt: skip
    assert all(s.composition.reduced_formula == "TiPbO3" for _, s in trials)
    # anions stay on anion sites: H2O is no rutile with O on the metal site
    assert template_structures("H2O") == []
    # so in groups too large to permute (six of one amount), paired in electronegativity order
    mapping = _assignment(Composition("LiNaKRbCsMgCl"), Composition("LiScYLaAlGaCl"))
    assert mapping is not None and mapping["Cl"] == "Cl" and mapping["La"] == "Cs"
    # a fractional formula matches by atomic fractions
    assert [lab for lab, _ in template_structures("Li1.5Ho0.5Cl3")] == labels


def test_a_formula_without_structure_or_reference_takes_its_best_template() -> None:
    df = pd.DataFrame({"formula": ["Li3HoCl6", "LiZnPS9"]})  # (Li3ScCl6 is a known compound)
    out = predict_stability_table(df, relax=False)  # relaxation is tested in test_relax
    assert list(out["status"]) == ["ok", "failed"]
    assert out.loc[0, "method"] == "template" and "upper bound" in out.loc[0, "result_note"]
    assert out.loc[0, "error"] is None and out.loc[1, "result_note"] is None
    assert "no known structure type of its stoichiometry (ABCD9)" in out.loc[1, "error"]


def test_library_cells_are_templates_of_exact_stoichiometries_only(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """The known-compound library's cells are trial types for formulas of their exact atomic
    fractions; a solid solution keeps its shared-site type among the trials even when a
    library compound of more elements has its atomic fractions; a benchmark can leave cells
    out; and the on-disk index is keyed by the library file."""
    import matscreen.core.paths as paths
    from matscreen.physics import templates
    from matscreen.physics.references import KNOWN_COMPOUNDS_FILE

    own = "library:Li3ScCl6-mp-686004"
    assert template_structures("Li3ScCl6")[0][0] == own
    left = [lab for lab, _ in template_structures("Li3ScCl6", leave_out={own})]
    assert left and not any(lab.startswith(own) for lab in left)
    # LiNi0.5Mn0.5O2 has the atomic fractions of Li2ZnGeO4 (library); the layered type with Ni
    # sharing the Mn site is tried too (before, only library cells were)
    labels = [lab for lab, _ in template_structures("LiNi0.5Mn0.5O2")]
    assert "prototype:LiMnO2_C2m Mn->Mn0.5Ni0.5" in labels and len(labels) == 3
    # Li3Y0.5Er0.5Cl6 matches Li6ZrBeF12 exactly, but Y and Er sharing the Li3YCl6 site moves
    # less of the chemistry
    labels = [lab for lab, _ in template_structures("Li3Y0.5Er0.5Cl6")]
    assert labels[0] == "prototype:Li3YCl6_P-3m1 Y->Er0.5Y0.5"
    for formula in ("Li3Y0.5Er0.5Cl6", "Li3Y0.9Er0.1Cl6", "Li6.25Ga0.25La3Zr2O12"):
        shared = [lab for lab, _ in template_structures(formula) if "0." in lab]
        assert shared and not any(lab.startswith("library:") for lab in shared)
    # the index key follows the library file (an edited library builds the index again)
    before = templates._index_version()
    edited = tmp_path / "reference_structures" / KNOWN_COMPOUNDS_FILE
    edited.parent.mkdir()
    edited.write_bytes((paths.datasets_dir() / "reference_structures" / KNOWN_COMPOUNDS_FILE)
                       .read_bytes() + b"\0")  # fmt: skip
    monkeypatch.setattr(paths, "datasets_dir", lambda: tmp_path)
    assert templates._index_version() != before


def test_doped_formulas_share_a_site_and_leave_li_sites_partly_empty() -> None:
    """Dopants share the site of a chemically close element when their amounts add up to
    the site's; Li below the template's leaves Li sites empty; the cell comes ordered."""
    (label, s), *others = template_structures("Li6.5La3Zr1.5Nb0.5O12")
    assert label.startswith("prototype:Li7La3Zr2O12_I41acd Zr->Nb0.25Zr0.75,Li->Li0.929")
    assert s.is_ordered and not others
    counts = s.composition.element_composition
    assert counts["Nb"] / counts["La"] == 1 / 6 and counts["Li"] / counts["La"] == 13 / 6
    (label, s), *_ = template_structures("LiFe0.5Mn0.5PO4")
    assert label.startswith("prototype:LiMnPO4_Pnma Mn->Fe0.5Mn0.5")
    assert s.composition.reduced_formula == "Li2MnFe(PO4)2"
    # a minor cation joins Li on the Li sites (Ga-LLZO), the rest of them empty
    (label, s), *_ = template_structures("Li6.25Ga0.25La3Zr2O12")
    assert "Li->Ga0.0357Li0.893" in label and s.composition.reduced_formula == "Li25La12Zr8GaO48"
    assert s.properties["ordering"].startswith("ordered from partial occupancies")
    # ranked by the atomic fraction moved: Zr joins Y in Li3YCl6 before Y and Zr join Li in LiCl
    assert template_structures("Li2.5Y0.5Zr0.5Cl6")[0][0].startswith("prototype:Li3YCl6_P-3m1")
    # the formula's amounts are kept before the chemistry is: a little Ga joins Li on its
    # sites rather than pushing Zr off its own
    (label, _), *_ = template_structures("Li6.75Ga0.08La3Zr2O12")
    assert "Li->Ga" in label and "Zr->" not in label
    # ... but not on Li sites left mostly empty: Fe on a third of those of Li5GaO4 (a 214-atom
    # cell) is no trial of Li3Fe2(PO4)3 (a built-in itself since 2026-11-29, left out here),
    # nor Tb on a sixth of Li3BO3's of LiTb(PO3)4; an antifluorite with a quarter of them
    # empty is (Li8TiO6 on Li2O, as Li5FeO4)
    own = {"reference:Li3Fe2(PO4)3"}
    assert [lbl for lbl, _ in template_structures("Li3Fe2(PO4)3", leave_out=own)] == [
        "library:Li3In2(PO4)3-mp-6425 In->Fe"
    ]
    assert not any("Li->" in lbl for lbl, _ in template_structures("LiTb(PO3)4"))
    assert "reference:Li2O Li->Li0.667Ti0.0833" in [
        lbl for lbl, _ in template_structures("Li8TiO6", leave_out={"library:Li8TiO6-mp-772521"})
    ]
    # a dopant too dilute for an ordered cell is refused with the reason, never dropped
    reasons: list[str] = []
    assert template_structures("Li3Y0.97Er0.03Cl6", reasons=reasons) == []
    assert "Er too dilute for an ordered cell" in reasons[0]
    # a cell whose amounts differ from the formula's says so (a doping series step, a site
    # filled up from 0.98)
    assert "realised as Li27Y8ErCl54" in template_structures("Li3Y0.9Er0.1Cl6")[0][0]
    assert "realised as LiFePO4" in template_structures("LiFe0.98PO4")[0][0]
    # mixed anions share the anion site
    assert template_structures("Li3YBr3Cl3")[0][1].composition.reduced_formula == "Li3Y(BrCl)3"
    # no far-fetched sharing: P never takes La's (LATP is no garnet) nor a transition
    # metal's site; LATP gets only its own published NASICON cell (the fallback)
    latp = template_structures("Li1.3Al0.3Ti1.7(PO4)3")
    assert latp and all(label.startswith("known structure: OBELiX") for label, _ in latp)
    # Li beyond the Li sites joins the transition-metal site: Li-rich layered oxides and
    # Li-excess spinels, the Mn cathodes of the mission (they had no template before)
    (label, s), *_ = template_structures("Li1.2Mn0.6Ni0.2O2")
    assert label.startswith("prototype:LiMnO2_C2m Mn->Li0.2Mn0.6Ni0.2")
    assert s.composition.reduced_formula == "Li6Mn3NiO10" and "realised" not in label
    (label, s), *_ = template_structures("Li1.1Mn1.9O4")
    assert label.startswith("prototype:LiMn2O4_Fd-3m Mn->Li0.05Mn0.95")
    mn_site_li = [site for site in s if site.specie.symbol == "Li" and _octahedral(s, site)]
    assert len(mn_site_li) == 1  # one Li of nine on a 16d (octahedral) site
    # (a layered cell with half its Li sites empty, the best fit before, is ranked after it)
    assert template_structures("Li1.05Mn1.95O4")[0][0].startswith("prototype:LiMn2O4_Fd-3m")


def test_a_doped_formula_gets_a_relaxed_template_hull() -> None:
    out = predict_stability_table(pd.DataFrame({"formula": ["LiFe0.5Mn0.5PO4"]}))
    assert out.loc[0, "status"] == "ok" and out.loc[0, "method"] == "template"
    # an olivine solid solution sits on (or just above) the tie line of its end members
    assert sorted(out.loc[0, "decomposition"]) == ["LiFePO4", "LiMnPO4"]
    assert -0.01 < out.loc[0, "e_above_hull"] < 0.02
    # how the shared Fe/Mn site was ordered goes where a CIF's ordering goes, not in result_note
    assert out.loc[0, "ordering"].startswith("ordered from partial occupancies")
    assert "ordered from" not in out.loc[0, "result_note"]


def test_a_formula_beyond_the_shared_site_search_says_so() -> None:
    formula = "LiMg0.1Al0.1Ti0.2Zr0.2Hf0.1Nb0.1Ta0.1Sn0.1O2"
    # refused from the formula alone, before any reference is built (minutes for Nb-O)
    out = predict_stability_table(pd.DataFrame({"formula": [formula]}), relax=False)
    assert out.loc[0, "status"] == "failed"
    error = out.loc[0, "error"]
    assert "with 9 elements besides Li (more than 7) it is no reference phase" in error


def _octahedral(structure, site) -> bool:
    """Whether a site has six O neighbours within 2.4 A (16d) rather than four (8a)."""
    return len(structure.get_neighbors(site, 2.4)) == 6


def test_the_template_index_is_kept_on_disk_for_the_next_process(
    own_cache_dir,
    monkeypatch,  # noqa: ANN001
) -> None:
    """Building the index takes seconds (reference structures from their space groups);
    a later process reads it back, and a file of another version is not trusted."""
    import json

    from matscreen.physics import templates

    path = own_cache_dir / "physics" / "template_index.json"
    path.parent.mkdir(parents=True)
    stale = {"version": "old", "templates": {"items": [["prototype:X", {"Li": 1.0}, 1]]}}
    path.write_text(json.dumps(stale))
    templates._templates.cache_clear()
    try:
        built = templates._templates()
        assert len(built) > 50 and ("prototype:X", Composition("Li"), 1) not in built
        assert json.loads(path.read_text())["version"] == templates._index_version()
        templates._templates.cache_clear()

        def no_building(*args):  # noqa: ANN002, ANN202
            raise AssertionError("the index was built again instead of read back")

        import matscreen.candidates.prototypes as prototypes

        with monkeypatch.context() as m:
            m.setattr(prototypes, "list_prototypes", no_building)
            assert templates._templates() == built  # the same names, formulas, groups
        # an edited file of the right version is built again, not trusted
        blob = json.loads(path.read_text())
        blob["templates"]["items"][0][2] = "P2_1"
        path.write_text(json.dumps(blob))
        templates._templates.cache_clear()
        assert templates._templates() == built
    finally:
        templates._templates.cache_clear()


def test_a_stoichiometry_without_a_type_falls_back_to_the_compounds_published_cell() -> None:
    """Li7P3S11 has no structure type here; its OBELiX CIF (disordered, ordered by Ewald
    energy) is its trial cell. A formula with a type keeps its templates (Li6PS5Cl takes the
    argyrodite Li6PS5I of the known-compound library), and one that is no known compound gets
    nothing."""
    from matscreen.physics.templates import known_structures

    (label, cell), *_ = known_structures("Li6PS5Cl")
    assert label == "known structure: OBELiX 122 (10.1021/jacs.7b06327)"
    assert cell.is_ordered and len(cell) == 52
    assert cell.composition.reduced_formula == "Li6PS5Cl" and cell.properties["ordering"]
    assert template_structures("Li6PS5Cl")[0][0] == "library:Li6PS5I-mp-950995 I->Cl"
    (label, cell), *_ = template_structures("Li7P3S11")
    assert label.startswith("known structure: OBELiX mdp") and cell.is_ordered
    # two published polymorphs of one compound are both tried
    assert len(template_structures("Li3N")) == 2
    # Li3.25Ge0.25P0.75S4 is Li4GeS4 with Ge partly replaced by P (the thio-LISICON series):
    # that doped built-in is its template, so the fallback is not needed; Li10GeP2S12 has its
    # own cell in the library (mp-696128), the type of Li10SnP2S12 too
    assert template_structures("Li3.25Ge0.25P0.75S4")[0][0].startswith("reference:Li4GeS4 Ge->")
    assert template_structures("Li10SnP2S12")[0][0] == "library:Li10Ge(PS6)2-mp-696128 Ge->Sn"
    assert all(not lab.startswith("known") for lab, _ in template_structures("Li3HoCl6"))
    assert [lab for lab, _ in known_structures("Li6PS5Cl", max_structures=1)] == [
        "known structure: OBELiX 122 (10.1021/jacs.7b06327)"
    ]
    assert known_structures("Li5PS5Cl2") == [] and template_structures("Li5PS5Cl2") == []


def test_builtins_made_from_library_cells_share_no_sites() -> None:
    """Li3Fe2(PO4)3 is built in on the Li3In2(PO4)3 library cell (R-3 NASICON); as a shared-site
    type it would take every NASICON electrolyte with Li on its own sites instead of LATP's.
    Like the library's cells it takes only formulas of its stoichiometry: LATP keeps its
    published cell, Li3In2(PO4)3 (its own cell left out) takes Li3Fe2(PO4)3 with In."""
    from matscreen.physics.references import BUILTIN_REFERENCES, LIBRARY_CELL_REFERENCES

    assert LIBRARY_CELL_REFERENCES <= set(BUILTIN_REFERENCES)
    labels = [lbl for lbl, _ in template_structures("Li1.5Al0.5Ti1.5(PO4)3")]
    assert labels and all(lbl.startswith("known structure: OBELiX") for lbl in labels)
    own = {"library:Li3In2(PO4)3-mp-6425"}
    (label, cell), *_ = template_structures("Li3In2(PO4)3", leave_out=own)
    assert label == "reference:Li3Fe2(PO4)3 Fe->In"
    assert cell.composition.reduced_formula == "Li3In2(PO4)3"
