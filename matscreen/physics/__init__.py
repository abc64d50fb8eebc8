"""Physics checks of candidates: MLIP relaxation, convex hull, windows, voltages.

Modules (import what you need; heavy dependencies load lazily):

- :mod:`~matscreen.physics.calculators`: named MLIPs (``chgnet``, ``sevenn``), ``get_calculator``
- :mod:`~matscreen.physics.relax`: ``relax_structure``, ``relax_many``, ``batched_relax``
- :mod:`~matscreen.physics.relax_cache`: ``cached_relax`` (relaxations kept on disk per cell)
- :mod:`~matscreen.physics.chgnet_batch`: vectorised CHGNet energies/forces/stress of many cells
- :mod:`~matscreen.physics.references`: MP entries, elemental and built-in reference phases
- :mod:`~matscreen.physics.hull`: ``reference_entries``, ``structure_hull``, ``hull_record``
- :mod:`~matscreen.physics.window`: ``stability_window``, ``moisture_reactivity``,
  ``cathode_compatibility``
- :mod:`~matscreen.physics.delithiation`: a candidate's own delithiated cell for its oxidation limit
- :mod:`~matscreen.physics.voltage`: ``VoltageSurrogate``, ``grouped_cv``, ``mlip_voltage``
- :mod:`~matscreen.physics.diffusion`: ``md_diffusivity``, ``arrhenius_estimate``, ``li_transport``
  (Li transport by MLIP MD)
- :mod:`~matscreen.physics.tables`: ``predict_stability_table``, ``predict_voltage_table``
"""

from __future__ import annotations

__all__ = ["predict_stability_table", "predict_voltage_table"]


def __getattr__(name: str):  # noqa: ANN202 - lazy re-export
    if name in __all__:
        from matscreen.physics import tables

        return getattr(tables, name)
    raise AttributeError(name)
