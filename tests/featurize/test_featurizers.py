"""matscreen featurizers against matminer's reference implementations and hand values."""

from __future__ import annotations

import numpy as np
import pytest
from matminer.featurizers.base import MultipleFeaturizer
from pymatgen.core import Composition

from matscreen.featurize.composition import (
    ElementStatistics,
    IonicCharacter,
    StoichiometryNorms,
    ValenceOrbitalFractions,
)
from matscreen.featurize.structure import (
    CoordinationStatistics,
    DensityFeaturesFast,
    SymmetryFeatures,
)
from matscreen.featurize.transport import BVSEBarrier, LiTransportFeatures

FORMULAS = ["Li3YCl6", "LiMn2O4", "Li7La3Zr2O12", "LiNi0.5Mn1.5O4", "Li2.5Y0.5Zr0.5Cl6",
            "LiCl", "Li", "Li1.3Al0.3Ti1.7(PO4)3", "Li3OCl"]  # fmt: skip


def test_ase_atoms_are_featurized_like_their_structure() -> None:
    """INTERFACE.md: structures in are Structure or ASE Atoms (Atoms gave 'cannot read a
    composition from MSONAtoms' in the engine and in the featurizers)."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    from matscreen.featurize.engine import featurize

    licl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.14), ["Li", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])  # fmt: skip
    atoms = AseAtomsAdaptor.get_atoms(licl)
    table = featurize([atoms, licl], [StoichiometryNorms(), DensityFeaturesFast()])
    assert table["featurize_error"].isna().all()
    assert np.allclose(table.drop(columns="featurize_error").to_numpy(dtype=float)[0],
                       table.drop(columns="featurize_error").to_numpy(dtype=float)[1])  # fmt: skip
    assert ElementStatistics().featurize(atoms) == ElementStatistics().featurize(licl)
    assert LiTransportFeatures().featurize(atoms) == LiTransportFeatures().featurize(licl)


def _magpie():
    from matminer.featurizers.composition import ElementProperty

    return ElementProperty.from_preset("magpie")


def _stoichiometry():
    from matminer.featurizers.composition import Stoichiometry

    return Stoichiometry()


def _valence_orbital():
    from matminer.featurizers.composition import ValenceOrbital

    return ValenceOrbital()


@pytest.mark.parametrize(
    ("ours", "reference"),
    [
        (ElementStatistics(), _magpie),
        (StoichiometryNorms(), _stoichiometry),
        (ValenceOrbitalFractions(), _valence_orbital),
    ],
    ids=["magpie", "stoichiometry", "valence-orbital"],
)
def test_composition_featurizers_match_matminer(ours, reference):
    ref = reference()
    comps = [Composition(f) for f in FORMULAS]
    expected = np.array([ref.featurize(c) for c in comps], dtype=float)
    values, errors = ours.featurize_batch(comps)
    assert errors == [None] * len(comps)
    assert ours.feature_labels() == ref.feature_labels()
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-9)


def test_ionic_character_matches_matminer_ionproperty():
    from matminer.featurizers.composition import IonProperty

    comps = [Composition(f) for f in FORMULAS]
    expected = np.array([IonProperty(fast=True).featurize(c)[1:] for c in comps])
    values, _ = IonicCharacter().featurize_batch(comps)
    np.testing.assert_allclose(values, expected, atol=1e-12)


def test_hand_checked_values():
    # LiCl: mean Z = (3 + 17) / 2; 2-norm of (1/2, 1/2) = sqrt(1/2).
    f = ElementStatistics()
    values = dict(zip(f.feature_labels(), f.featurize(Composition("LiCl")), strict=True))
    assert values["MagpieData mean Number"] == pytest.approx(10.0)
    assert values["MagpieData range Number"] == pytest.approx(14.0)
    assert StoichiometryNorms(p_list=(2,)).featurize(Composition("LiCl")) == [
        pytest.approx(0.5**0.5)
    ]


def test_bad_compositions_fail_per_row_with_reasons():
    values, errors = ElementStatistics().featurize_batch(["LiCl", "Xx2O", "", "Li(("])
    assert errors[0] is None and np.isfinite(values[0]).all()
    assert "unknown element" in errors[1]
    assert "cannot parse formula" in errors[2] and "cannot parse formula" in errors[3]
    assert np.isnan(values[1:]).all()


def test_featurizers_work_inside_matminer_multiplefeaturizer():
    mf = MultipleFeaturizer([ElementStatistics(), StoichiometryNorms()])
    row = mf.featurize(Composition("Li3YCl6"))
    assert len(row) == len(mf.feature_labels()) == 132 + 6


def test_structure_featurizers_match_matminer(licl, lifepo4, si):
    from matminer.featurizers.structure import DensityFeatures, GlobalSymmetryFeatures

    numeric = ["spacegroup_num", "crystal_system_int", "is_centrosymmetric", "n_symmetry_ops"]
    for s in (licl, lifepo4, si):
        np.testing.assert_allclose(
            DensityFeaturesFast().featurize(s), DensityFeatures().featurize(s)
        )
        ref = GlobalSymmetryFeatures(desired_features=numeric).featurize(s)
        assert SymmetryFeatures().featurize(s) == [float(x) for x in ref]


def test_coordination_of_rocksalt_and_olivine(licl, lifepo4):
    cn_mean, cn_min, cn_max, bond, distortion = CoordinationStatistics().featurize(licl)
    assert (cn_mean, cn_min, cn_max) == (6.0, 6.0, 6.0)
    assert bond == pytest.approx(5.13 / 2, abs=1e-6)
    assert distortion == pytest.approx(0.0, abs=1e-9)
    labels = CoordinationStatistics().feature_labels()
    values = dict(zip(labels, CoordinationStatistics().featurize(lifepo4), strict=True))
    assert values["cn_min"] == 4.0  # PO4 tetrahedra
    assert values["cn_max"] == 6.0  # LiO6 and FeO6 octahedra


def test_li_transport_on_rocksalt_licl(licl):
    f = LiTransportFeatures()
    v = dict(zip(f.feature_labels(), f.featurize(licl), strict=True))
    assert v["li_fraction"] == pytest.approx(0.5)
    assert v["li_li_nn_mean"] == pytest.approx(5.13 / 2**0.5, abs=1e-6)  # fcc nearest neighbours
    assert v["li_anion_cn_mean"] == 6.0
    assert v["volume_per_anion"] == pytest.approx(5.13**3 / 4)
    assert v["li_network_dim"] == 3.0
    # Midpoint of a Li-Li hop in rock salt sits a/(2*sqrt(2)) from two Cl: opening = that - r(Cl-).
    assert v["bottleneck_radius_max"] == pytest.approx(5.13 / (2 * 2**0.5) - 1.67, abs=0.02)


def test_li_transport_needs_li(nacl):
    with pytest.raises(ValueError, match="no Li"):
        LiTransportFeatures().featurize(nacl)


def test_feature_labels_match_lengths(licl):
    for f in (
        DensityFeaturesFast(),
        SymmetryFeatures(),
        CoordinationStatistics(),
        LiTransportFeatures(),
    ):
        assert len(f.featurize(licl)) == len(f.feature_labels())


def test_disordered_structure_is_a_clear_error(licl):
    disordered = licl.copy()
    disordered.replace_species({"Li": {"Li": 0.5, "Na": 0.5}})
    with pytest.raises(ValueError, match="partial occupancies"):
        DensityFeaturesFast().featurize(disordered)


@pytest.mark.slow
def test_bvse_barrier_rocksalt_licl(licl):
    e1, e2, e3 = BVSEBarrier(resolution=0.3).featurize(licl)
    assert 0.1 < e3 < 2.0
    assert e1 <= e2 <= e3


def test_adduct_formulas_are_read_and_a_dot_is_a_decimal_point() -> None:
    from matscreen.featurize.composition import as_composition

    assert as_composition("Li2SO4·H2O") == as_composition("Li2SO4(H2O)")
    assert as_composition(" LiBr * 2 H2O ") == as_composition("LiBr(H2O)2")
    assert as_composition("Li6.4La3Zr1.4Ta0.6O12")["Li"] == pytest.approx(6.4)
    with pytest.raises(ValueError, match="empty part"):
        as_composition("Li2SO4··H2O")
    with pytest.raises(ValueError, match="finite"):
        as_composition("Li1e400Cl")


def test_structure_featurizers_say_they_need_a_structure() -> None:
    from pymatgen.core import Composition

    from matscreen.featurize.structure import DensityFeaturesFast
    from matscreen.featurize.transport import LiTransportFeatures

    for featurizer in (DensityFeaturesFast(), LiTransportFeatures()):
        with pytest.raises(TypeError, match="needs a pymatgen Structure, not Composition"):
            featurizer.featurize(Composition("LiCl"))


def test_a_perovskite_a_site_li_has_its_twelve_oxygens() -> None:
    """LLTO's A-site Li has 12 O at 2.74 A, beyond 1.25 x (0.76 + 1.40) = 2.70 A: it read as
    uncoordinated (li_anion_cn_mean 0, cn_min 0); now its first shell counts."""
    from pymatgen.core import Structure

    from matscreen.core.paths import seeds_dir

    llto = Structure.from_file(str(seeds_dir() / "prototypes" / "Li0.5La0.5TiO3_P4mmm.cif"))
    transport = dict(zip(LiTransportFeatures().feature_labels(),
                         LiTransportFeatures().featurize(llto), strict=True))  # fmt: skip
    assert transport["li_anion_cn_mean"] == 12.0
    coordination = CoordinationStatistics().featurize(llto)
    assert coordination[1] == 6.0 and coordination[2] == 12.0  # Ti octahedra, La/Li A sites
