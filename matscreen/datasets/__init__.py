"""Loaders for the datasets shipped under the top-level ``datasets/`` folder.

- :func:`load_obelix`: OBELiX experimental Li-ion conductivities (``datasets/obelix``).
"""

from __future__ import annotations

from matscreen.datasets.obelix import CENSORED_LOG10_SIGMA, load_obelix

__all__ = ["CENSORED_LOG10_SIGMA", "load_obelix"]
