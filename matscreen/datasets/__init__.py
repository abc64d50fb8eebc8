"""Loaders for the datasets shipped under the top-level ``datasets/`` folder.

- :func:`load_obelix`: OBELiX experimental Li-ion conductivities (``datasets/obelix``).
- :func:`load_migration_barriers`: literature DFT-NEB migration barriers with their host
  crystals (``datasets/migration_barriers``).
- :func:`load_element_prices`: element prices in USD/kg (``datasets/element_prices``).
"""

from __future__ import annotations

from matscreen.datasets.element_prices import load_element_prices
from matscreen.datasets.migration_barriers import load_migration_barriers
from matscreen.datasets.obelix import CENSORED_LOG10_SIGMA, load_obelix

__all__ = ["CENSORED_LOG10_SIGMA", "load_element_prices", "load_migration_barriers", "load_obelix"]
