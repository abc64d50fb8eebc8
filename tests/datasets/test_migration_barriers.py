"""DFT-NEB migration-barrier loader: real shipped data, host crystals rebuilt from the paths."""

from __future__ import annotations

import numpy as np
import pytest

from matscreen.datasets import load_migration_barriers


@pytest.fixture(scope="module")
def li_hops():
    return load_migration_barriers("Li")


def test_li_hops_are_all_loaded_with_finite_barriers(li_hops):
    assert len(li_hops) == 154 + 21
    assert (li_hops["split"] == "test").sum() == 21
    assert len(load_migration_barriers("Li", "train")) == 154
    assert np.isfinite(li_hops["barrier"]).all()
    assert (li_hops["barrier"] >= 0).all()
    # b-Li3PS4 has ten hops in the train file; they share one host name
    assert (li_hops[li_hops["split"] == "train"]["host_name"] == "b-Li3PS4").sum() == 10


def test_host_puts_the_ion_on_both_ends_of_its_path(li_hops):
    row = li_hops.set_index("sys_name").loc["b-Li3PS4_7"]
    host, start = row["host"], row["path_start"]
    assert len(host) == len(start) + 1
    # the vacancy hop's two ends restore the perfect crystal's stoichiometry
    assert host.composition.reduced_formula == "Li3PS4"
    # the end site is a real Li site: as far from its anions as the host's other Li
    end = host[1]
    others = [i for i, site in enumerate(host) if site.specie.symbol == "S"]
    nearest = min(host.get_distance(1, i) for i in others)
    assert end.specie.symbol == "Li"
    assert 2.2 < nearest < 2.7
    assert 1.5 < row["hop_length"] < 9.0


def test_an_ion_not_in_the_dataset_or_an_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="no migration barrier of 'Xe'"):
        load_migration_barriers("Xe")
    with pytest.raises(ValueError, match="split must be"):
        load_migration_barriers("Li", "validation")
