"""matscreen.candidates: prototypes from ``seeds/``, substitution enumeration, ordering.

Public API (imported lazily so ``import matscreen.candidates`` stays cheap)::

    list_prototypes(family=None) -> list[str]
    load_prototype(name) -> Structure
    prototype_info(name) -> PrototypeInfo
    CandidateSpace, load_space(name_or_path) -> CandidateSpace
    generate_candidates(space, *, seed=0, family=None) -> list[CandidateRecord]
    CandidateRecord
    is_charge_balanced(composition) -> bool
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "list_prototypes": "prototypes",
    "load_prototype": "prototypes",
    "prototype_info": "prototypes",
    "PrototypeInfo": "prototypes",
    "CandidateSpace": "space",
    "PrototypeSpace": "space",
    "PartialSubstitution": "space",
    "load_space": "space",
    "space_names": "space",
    "generate_candidates": "generate",
    "CandidateRecord": "records",
    "is_charge_balanced": "oxidation",
    "common_oxidation_states": "oxidation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
