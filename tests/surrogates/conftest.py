"""Fixtures for the surrogate tests: real OBELiX rows, tiny model settings."""

from __future__ import annotations

import pytest

TINY_ATTENTION = {"n_members": 2, "d_model": 16, "n_layers": 1, "n_heads": 2, "d_embed": 4,
                  "epochs": 3, "batch_size": 32}  # fmt: skip
TINY_FOREST = {"n_estimators": 20}


@pytest.fixture(scope="session")
def obelix_train():
    """Return the OBELiX training split (no structures)."""
    from matscreen.datasets import load_obelix

    return load_obelix("train", structures=False)


@pytest.fixture(scope="session")
def small_train(obelix_train):
    """Return 120 OBELiX training rows (every 4th), with their lattice columns."""
    return obelix_train.iloc[::4].reset_index(drop=True)
