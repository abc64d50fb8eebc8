# ruff: noqa: D103
"""Tests for the candidate-space model, YAML loading and the record round-trips."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from matscreen.candidates import CandidateRecord, CandidateSpace, load_space, space_names
from matscreen.candidates.generate import generate_candidates

SMALL = {
    "name": "small",
    "prototypes": [
        {
            "prototype": "Li3InCl6_C2m",
            "sites": {"In": ["In", "Y"], "Cl": ["Cl", {"Cl": "1/2", "Br": "1/2"}]},
            "partial": [{"site": "In", "species": ["Zr"], "fractions": ["1/2"]}],
        }
    ],
}


def test_misspelled_field_named() -> None:
    bad = {"prototypes": [{"prototype": "Li3InCl6_C2m", "sitez": {"In": ["Y"]}}]}
    with pytest.raises(ValidationError, match="sitez"):
        CandidateSpace.model_validate(bad)
    with pytest.raises(ValidationError, match="max_atom"):
        CandidateSpace.model_validate({**SMALL, "max_atom": 10})


def test_unknown_element_clear_error() -> None:
    bad = {"prototypes": [{"prototype": "Li3InCl6_C2m", "sites": {"In": ["Yy"]}}]}
    with pytest.raises(ValidationError, match="unknown element 'Yy'"):
        CandidateSpace.model_validate(bad)
    bad = {
        "prototypes": [
            {
                "prototype": "Li3InCl6_C2m",
                "partial": [{"site": "In", "species": ["Qq"], "fractions": [0.5]}],
            }
        ]
    }
    with pytest.raises(ValidationError, match="unknown element 'Qq'"):
        CandidateSpace.model_validate(bad)


def test_unknown_site_and_prototype() -> None:
    with pytest.raises(ValidationError, match="not an element of prototype"):
        CandidateSpace.model_validate(
            {"prototypes": [{"prototype": "Li3InCl6_C2m", "sites": {"Y": ["Y"]}}]}
        )
    with pytest.raises(ValidationError, match="known prototypes"):
        CandidateSpace.model_validate({"prototypes": [{"prototype": "Li3XCl6"}]})


def test_load_space_errors_name_file_and_field(tmp_path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("prototypes:\n  - prototype: Li3InCl6_C2m\n    partail: []\n")
    with pytest.raises(ValueError, match=r"space\.yaml.*prototypes\.0\.partail"):
        load_space(path)
    path.write_text("prototypes: [\n")
    with pytest.raises(ValueError, match="invalid YAML"):
        load_space(path)
    with pytest.raises(ValueError, match="halide_electrolytes"):
        load_space("no_such_space")


def test_load_space_workflow_section(tmp_path) -> None:
    import yaml

    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump({"candidates": SMALL, "other": 1}))
    assert load_space(path).name == "small"
    assert set(space_names()) >= {"halide_electrolytes", "oxide_electrolytes", "mn_cathodes"}


def test_record_round_trip() -> None:
    records = generate_candidates(CandidateSpace.model_validate(SMALL))
    rec = next(r for r in records if r.ewald_energy_eV is not None)
    again = CandidateRecord.model_validate_json(rec.model_dump_json())
    assert again.structure == rec.structure
    assert again.model_dump() == rec.model_dump()
    row = rec.to_row()
    assert isinstance(row["structure"], str) and isinstance(row["substitution"], str)
    assert CandidateRecord.from_row(row).structure == rec.structure
    failed = CandidateRecord(
        id="x",
        formula="Li",
        family="mn_cathode",
        prototype="p",
        substitution={},
        status="failed",
        error="why",
    )
    assert CandidateRecord.from_row(failed.to_row()) == failed
