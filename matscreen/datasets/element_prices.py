"""Loader for the element prices shipped in ``datasets/element_prices`` (USD/kg).

Wikipedia's "Prices of chemical elements" (revision of December 2024, via the
mendeleev package; CC BY-SA 4.0), mostly 2019-2020 market prices: see
``datasets/element_prices/SOURCE.md``.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

#: File of the shipped table.
PRICES_FILE = "element_prices.csv"


def element_prices_path() -> Path:
    """Return the path of the shipped element-price table."""
    from matscreen.core.paths import datasets_dir

    path = datasets_dir() / "element_prices" / PRICES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"element prices not found: {path}")
    return path


@lru_cache(maxsize=1)
def load_element_prices() -> dict[str, float]:
    """Return the price of each element in USD/kg, by symbol.

    Returns
    -------
    dict[str, float]
        93 elements; radioactive ones without a market price (At, Rn, Fr,
        Ra, Pa, Es and beyond) are absent.

    Examples
    --------
    >>> prices = load_element_prices()
    >>> prices["Mn"] < prices["Co"] < prices["Li"]
    True
    """
    with element_prices_path().open(newline="") as fh:
        return {row["symbol"]: float(row["price_usd_per_kg"]) for row in csv.DictReader(fh)}
