"""Design space: feasibility, decoding to ordered charge-balanced structures, infeasible spaces."""

from __future__ import annotations

import numpy as np
import pytest

from matscreen.candidates.oxidation import is_charge_balanced
from matscreen.design.config import DesignConfig
from matscreen.design.space import DesignSpace, InfeasibleSpaceError


def test_decoded_points_are_valid_ordered_charge_balanced(config: DesignConfig) -> None:
    """Decoded points are valid ordered charge balanced."""
    space = DesignSpace.from_spec(config.space, config.family)
    points = space.feasible_points()
    assert points
    for p in space.sample(6, np.random.default_rng(0)):
        rec = space.decode(p, seed=0, n_orderings=4)
        assert rec.status == "ok", rec.error
        s = rec.structure
        assert s.is_ordered
        assert len(s) <= config.space.max_atoms
        assert is_charge_balanced(s.composition)
        assert s.composition.reduced_formula == space.formula(p)
        dmin = min(s.distance_matrix[np.triu_indices(len(s), 1)])
        assert dmin > 1.0


def test_aliovalent_dopant_is_compensated_with_li_vacancies(config: DesignConfig) -> None:
    """Aliovalent dopant is compensated with li vacancies."""
    space = DesignSpace.from_spec(config.space, config.family)
    # In site: half Zr (4+) -> Li vacancies
    sp = space.blocks[0].sites[0].species
    counts = tuple(1 if s in ("In", "Zr") else 0 for s in sp)
    point = next(
        p for p in space.feasible_points() if p.counts[0] == counts and p.counts[1] == (3, 0)
    )
    amounts = space.amounts(point)
    assert amounts["Li"] == pytest.approx(3 - 0.5)


def test_relaxation_matches_discrete_amounts(config: DesignConfig) -> None:
    """Relaxation matches discrete amounts."""
    import torch

    space = DesignSpace.from_spec(config.space, config.family)
    for p in space.feasible_points()[:10]:
        w = torch.tensor(space.point_weights(p)[None, :], dtype=torch.float32)
        amounts, penalty = space.amounts_torch(p.proto, w)
        exact = space.amounts(p)
        for el, amt in exact.items():
            assert float(amounts[0, space.index[el]]) == pytest.approx(amt, abs=1e-5)
        assert float(penalty[0]) == pytest.approx(0.0, abs=1e-6)
        assert space.round_weights(p.proto, w.numpy()) == [p]


def test_infeasible_space_raises_clear_error(make_config) -> None:
    """Infeasible space raises clear error."""
    cfg = make_config(
        space={
            "max_atoms": 40,
            "prototypes": [
                {
                    "prototype": "Li3InCl6_C2m",
                    "sites": {"In": {"species": ["Zr", "Hf"], "grid": 1}},
                    "compensation": "none",
                }
            ],
        }
    )
    space = DesignSpace.from_spec(cfg.space, cfg.family)
    with pytest.raises(InfeasibleSpaceError, match="no feasible point.*not charge balanced"):
        space.feasible_points()


def test_run_design_refuses_infeasible_space(tmp_path, make_config) -> None:
    """Run design refuses infeasible space."""
    from matscreen.design import run_design

    cfg = make_config(
        space={"max_atoms": 5, "prototypes": [
            {"prototype": "Li3InCl6_C2m", "sites": {"In": {"species": ["In", "Y"], "grid": 2}}}
        ]}
    )  # fmt: skip
    with pytest.raises(InfeasibleSpaceError, match="max_atoms=5"):
        run_design(cfg, out=tmp_path / "out")
    assert not (tmp_path / "out" / "proposals.parquet").exists()


def test_config_errors_name_file_and_field(tmp_path) -> None:
    """Config errors name file and field."""
    from matscreen.design.config import load_design_config

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "family: halide_electrolyte\nspace:\n  prototypes:\n    - prototype: Li3InCl6_C2m\n"
        "      sites: {In: {species: [In], grid: 2, colour: red}}\n"
        "objectives: [{kind: cost, goal: minimize}]\n"
    )
    with pytest.raises(
        ValueError, match=r"bad.yaml: space.prototypes.0.sites.In.colour: unknown field"
    ):
        load_design_config(bad)


def test_config_refuses_loose_types_like_the_screening_workflow(tmp_path) -> None:
    """YAML `true` is not a grid, "1" is not a weight, 1.5 is not a number of rounds."""
    from matscreen.design.config import load_design_config

    bad = tmp_path / "loose.yaml"
    bad.write_text(
        "family: halide_electrolyte\nspace:\n  prototypes:\n    - prototype: Li3InCl6_C2m\n"
        "      sites: {In: {species: [In, Y], grid: true}}\n"
        "objectives: [{kind: cost, goal: minimize, weight: '1'}]\n"
        "loop: {rounds: 1.5}\n"
    )
    with pytest.raises(ValueError) as err:
        load_design_config(bad)
    for field in ("sites.In.grid", "objectives.0.weight", "loop.rounds"):
        assert field in str(err.value)
    good = bad.read_text().replace("true", "2").replace("'1'", "1").replace("1.5", "2")
    bad.write_text(good)
    cfg = load_design_config(bad)
    assert cfg.loop.rounds == 2 and cfg.objectives[0].weight == 1.0


@pytest.mark.parametrize("name", ["design_halide_electrolytes", "design_mn_cathodes"])
def test_shipped_workflows_validate_and_are_feasible(name: str) -> None:
    """Shipped workflows validate and are feasible."""
    from matscreen.design.config import load_design_config

    cfg = load_design_config(name)
    space = DesignSpace.from_spec(cfg.space, cfg.family)
    assert len(space.feasible_points()) > 50


def test_fractional_known_formulas_are_recognised() -> None:
    """OBELiX writes doped compositions fractionally (Li2.5Y0.5Zr0.5Cl6); the same material
    written as integers (what the decoded cells give) is not novel."""
    from matscreen.design.novelty import is_novel, known_formulas, reduced_formula

    assert reduced_formula("Li2.5Y0.5Zr0.5Cl6") == reduced_formula("Li5YZrCl12") == "Li5YZrCl12"
    assert reduced_formula("Li6Y2Cl12") == "Li3YCl6"
    assert "Li2.5Y0.5Zr0.5Cl6" not in known_formulas()  # stored normalised
    assert not is_novel("Li5YZrCl12") and not is_novel("Li2.5Y0.5Zr0.5Cl6")
    # a Materials Project compound of the hull's known-compound library is no novelty either
    assert not is_novel("Li3ScCl6") and not is_novel("Li6Sc2Cl12")


def test_reduced_formula_is_exact_on_written_decimals() -> None:
    """Amounts are read as exact fractions (up to four decimals), so a known doped formula and
    its exact integer multiple share one key and nearby compositions do not."""
    from matscreen.design.novelty import reduced_formula

    assert reduced_formula("Li0.91Hf2.02166667P3O12") == reduced_formula("Li546Hf1213P1800O7200")
    assert reduced_formula("Li3.001Y0.999Cl6") != reduced_formula("Li3Y0.999Cl6")
    assert "Li" in reduced_formula("Li0.0001Cl")  # a trace element is kept


def test_min_fraction_keeps_every_point_above_the_floor(make_config) -> None:
    """min_fraction {In: 0.5} on a grid of 4 allows only points with >= 2/4 In on the site; the
    gradient and evolutionary searches only ever see those (feasible set), and bad floors are
    refused with the field named."""
    from fractions import Fraction

    from pydantic import ValidationError

    def space(floor: dict | None):  # noqa: ANN202
        site = {"species": ["In", "Y", "Sc", "Zr"], "grid": 4, "max_species": 2}
        if floor is not None:
            site["min_fraction"] = floor
        cfg = make_config(
            space={"max_atoms": 40, "prototypes": [
                {"prototype": "Li3InCl6_C2m", "sites": {"In": site, "Cl": {"species": ["Cl"]}}}
            ]},
        )  # fmt: skip
        return DesignSpace.from_spec(cfg.space, cfg.family)

    free, floored = space(None), space({"In": 0.5})
    kept = floored.feasible_points()
    assert 0 < len(kept) < len(free.feasible_points())
    for p in kept:
        assert floored.raw_occupancy(p)["In"].get("In", Fraction(0)) >= Fraction(1, 2)
    assert set(kept) == {
        p for p in free.feasible_points()
        if free.raw_occupancy(p)["In"].get("In", Fraction(0)) >= Fraction(1, 2)
    }  # fmt: skip
    with pytest.raises(ValidationError, match="not among the site's species"):
        space({"Mn": 0.5})
    with pytest.raises(ValidationError, match="cannot fit one site"):
        space({"In": 0.75, "Y": 0.5})
    with pytest.raises(ValidationError, match="max_species is 2"):
        space({"In": 0.25, "Y": 0.25, "Sc": 0.25})


def test_rounding_relaxed_weights_respects_min_fraction(make_config) -> None:
    """Relaxed weights that put little or no In on the site still round to a point with the
    site's In floor (>= 2/4), i.e. to a feasible point of the floored space."""
    site = {"species": ["In", "Y", "Sc", "Zr"], "grid": 4, "max_species": 2,
            "min_fraction": {"In": 0.5}}  # fmt: skip
    cfg = make_config(
        space={"max_atoms": 40, "prototypes": [
            {"prototype": "Li3InCl6_C2m", "sites": {"In": site, "Cl": {"species": ["Cl"]}}}
        ]},
    )  # fmt: skip
    space = DesignSpace.from_spec(cfg.space, cfg.family)
    feasible = set(space.feasible_points())
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(4), size=200)
    weights[:50, 0] = 0.0  # no In at all
    weights[50:100] = [0.05, 0.0, 0.9, 0.05]  # Sc-rich: In and Sc are the two kept
    cl = np.ones((len(weights), space.blocks[0].n_columns - 4))  # the Cl site's column
    points = space.round_weights(0, np.hstack([weights, cl]))
    for p in points:
        assert p.counts[0][0] >= 2 and sum(c > 0 for c in p.counts[0]) <= 2
    assert set(points) <= feasible
    assert points[50].counts[0] == (2, 0, 2, 0)
    # all weight on a species the floor pushes out, or none at all: still <= max_species
    zero_in = space.round_weights(0, np.hstack([[[0.0, 1.0, 0.0, 0.0], [0.0] * 4], cl[:2]]))
    assert [p.counts[0] for p in zero_in] == [(2, 2, 0, 0), (2, 2, 0, 0)]


def test_run_design_refuses_a_folder_that_holds_a_design_run(tmp_path, make_config) -> None:
    """An earlier design run's proposals are never overwritten (screen refuses the same)."""
    from matscreen.core.errors import MatscreenInputError
    from matscreen.design import run_design

    out = tmp_path / "out"
    out.mkdir()
    (out / "proposals.parquet").write_bytes(b"earlier run")
    with pytest.raises(MatscreenInputError, match="already holds a design run"):
        run_design(make_config(), out=out)
    assert (out / "proposals.parquet").read_bytes() == b"earlier run"
    assert not (out / "run.lock").exists()
