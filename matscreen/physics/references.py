"""Reference phases for convex hulls: MP entries, elemental references, built-ins, known compounds.

Four sources feed a phase diagram (see ``matscreen/physics/README.md``):

1. Materials Project ``ComputedStructureEntry`` dicts shipped under
   ``datasets/mp_entries/`` (DFT GGA/GGA+U energies with MP2020 corrections);
2. MP elemental ground-state entries (``2023-02-07-mp-elemental-reference-entries``)
   for every element, DFT energies on the same MP2020 scale;
3. built-in reference structures for chemistries that ``datasets/mp_entries``
   does not cover (Li-M-Cl/Br halides, Li-Mn-O, Li-Ni-O), built here with
   ``Structure.from_spacegroup`` from literature Wyckoff positions, relaxed with
   the same MLIP as the candidate, and cached on disk; the CHGNet and SevenNet
   results ship in ``matscreen/physics/data/reference_cache_<calculator>.json``.
   The MCl3/MBr3 of the halide space's trivalent metals are AlCl3-type cells
   scaled by Shannon radii (approximants where the real structure type differs,
   see :func:`scaled_mx3`); MgCl2, FeCl2, MgBr2 CdCl2-type. Zr, Hf, Sn and Ti
   halides are not built in (their chain and molecular structures need more
   than a scaled prototype): hulls of candidates with them are flagged
   incomplete by :mod:`matscreen.physics.checks`;
4. the known-compound library (:func:`known_compound_references`): the Li
   compounds of Materials Project in A. Togo's phonondb, and the non-Li
   ternaries of the same archive that the systems of the datasets and seed
   spaces hold (TiP2O7, SrTiO3, La2TiO5, ...), relaxed with the same MLIP
   and cached like the built-ins.
"""

from __future__ import annotations

import gzip
import json
import logging
import warnings
from collections.abc import Callable, Iterable
from functools import cache, lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymatgen.core import Composition, Lattice, Structure

if TYPE_CHECKING:
    from pymatgen.entries.computed_entries import ComputedEntry, ComputedStructureEntry

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
MP_FILES = ("Li-Co-Ni-O.json.gz",)
MP_ELEMENTS_FILE = "2023-02-07-mp-elemental-reference-entries.json.gz"


def cache_dir() -> Path:
    """Return the on-disk cache folder for MLIP energies (created if missing and possible).

    ``physics/`` under the ``CACHE_DIR`` setting
    (:class:`~matscreen.core.settings.MatscreenSettings`: the environment
    variable ``MATSCREEN_CACHE_DIR``, else ``CACHE_DIR`` in the settings file,
    else ``~/.cache/matscreen``). A folder that cannot be created (a read-only
    home on a compute node) is returned all the same: the cache writes then
    warn, and nothing is cached.
    """
    from matscreen.core.settings import get_settings

    path = get_settings().CACHE_DIR.expanduser() / "physics"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        logger.warning("cannot create the cache folder %s (%s); set MATSCREEN_CACHE_DIR", path, exc)
    return path


def _mp_dir() -> Path:
    from matscreen.core.paths import datasets_dir

    return datasets_dir() / "mp_entries"


@lru_cache(maxsize=4)
def _load_mp_file(path: str) -> tuple[ComputedStructureEntry, ...]:
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    with gzip.open(path, "rt") as fh:
        raw = json.load(fh)
    entries = []
    for d in raw:
        entry = ComputedStructureEntry.from_dict(d)
        for key in ("e_above_hull", "is_stable", "e_form_per_atom"):
            if key in d:
                entry.data[key] = d[key]
        entries.append(entry)
    return tuple(entries)


def load_mp_entries(elements: Iterable[str] | None = None) -> list[ComputedStructureEntry]:
    """Return the shipped MP entries, optionally only those within ``elements``.

    Parameters
    ----------
    elements
        Chemical symbols; an entry is kept when all its elements are among them.

    Returns
    -------
    list[ComputedStructureEntry]
        DFT entries with MP2020 corrections; ``entry.data`` holds MP's
        ``e_above_hull``, ``is_stable`` and ``e_form_per_atom``.
    """
    out: list[ComputedStructureEntry] = []
    for name in MP_FILES:
        path = _mp_dir() / name
        if path.exists():
            out += list(_load_mp_file(str(path)))
    if elements is not None:
        allowed = set(elements)
        out = [e for e in out if {el.symbol for el in e.composition} <= allowed]
    return out


@lru_cache(maxsize=1)
def mp_elemental_references() -> dict[str, ComputedEntry]:
    """Return MP's elemental ground-state entries (DFT, MP2020 era), by symbol."""
    from pymatgen.entries.computed_entries import ComputedEntry

    with gzip.open(_mp_dir() / MP_ELEMENTS_FILE, "rt") as fh:
        raw = json.load(fh)
    with warnings.catch_warnings():  # pymatgen: "No Pauling electronegativity" for He, Ne, Ar
        warnings.filterwarnings("ignore", message="No Pauling electronegativity")
        return {sym: ComputedEntry.from_dict(d) for sym, d in raw.items()}


# --------------------------------------------------------------------------------------
# built-in reference structures (approximate literature Wyckoff positions; relaxed later)
# --------------------------------------------------------------------------------------


def _sg(sg: int | str, lattice: Lattice, species: list, coords: list) -> Structure:
    return Structure.from_spacegroup(sg, lattice, species, coords).get_primitive_structure()


def _spinel(a: float, a_site: str | None, b_site: str = "Mn") -> Structure:
    """Cubic spinel AB2O4 (Fd-3m origin choice 1), primitive cell; A may be empty."""
    species = [b_site, "O"]
    coords = [[0.625, 0.625, 0.625], [0.388, 0.388, 0.388]]
    if a_site:
        species.insert(0, a_site)
        coords.insert(0, [0.0, 0.0, 0.0])
    return _sg(227, Lattice.cubic(a), species, coords)


def _ordered_spinel(a: float, a_site: str, b_site: str, b_minor: str) -> Structure:
    """1:3 B-site-ordered spinel (P4_332; LiNi0.5Mn1.5O4 and LiFe5O8 type), conventional cell.

    ``a_site`` on the tetrahedral 8c sites, ``b_site`` on the octahedral 12d and
    ``b_minor`` on the octahedral 4b; the ideal positions of the cubic spinel
    (oxygen u of LiMn2O4), left to the MLIP's relaxation.
    """
    coords = [[0, 0, 0], [0.125, 0.125, 0.625], [0.125, 0.875, 0.375],
              [0.112, 0.112, 0.388], [0.112, 0.612, 0.888]]  # fmt: skip
    return _sg("P4_332", Lattice.cubic(a), [a_site, b_site, b_minor, "O", "O"], coords)


def _li4mn5o12() -> Structure:
    """Li4Mn5O12, Li[Li1/3 Mn5/3]O4: the cubic spinel with a sixth of the octahedral sites Li.

    a = 8.14 A; the octahedral Li and Mn ordered by point-charge Ewald energy
    (:func:`~matscreen.candidates.ordering.order_structure`, seed 0; a 42-atom cell).
    """
    from matscreen.candidates.ordering import order_structure

    s = _spinel(8.14, "Li")
    s.replace_species({"Mn": {"Mn": 5 / 6, "Li": 1 / 6}})
    return order_structure(s, seed=0).structure


def _searched(formula: str) -> Structure:
    from matscreen.physics.ordering_search import load_ordered_reference

    return load_ordered_reference(formula)


def _li2mo3(metal: str, volume: float | None = None) -> Structure:
    """Li2MO3 in the Li2MnO3 type (C2/m layered rock salt), rescaled to ``volume`` if given."""
    s = _sg(
        12,
        Lattice.monoclinic(4.93, 8.53, 5.03, 109.4),
        ["Li", "Li", "Li", metal, "O", "O"],
        [
            [0, 0.5, 0],
            [0, 0, 0.5],
            [0, 0.6606, 0.5],
            [0, 0.1672, 0],
            [0.2187, 0, 0.2273],
            [0.2540, 0.3216, 0.2233],
        ],
    )
    if volume:
        s.scale_lattice(volume * len(s) / 24)  # volume given per conventional cell (4 f.u.)
    return s


@lru_cache(maxsize=1)
def _aflow_library() -> dict[str, dict]:
    """Return pymatgen's copy of the AFLOW prototype library (Mehl et al. 2017).

    Keyed by label (``AB_oP8_62_c_c``: the last of the entries sharing it) and by
    ``label/formula`` (``AB_oP8_62_c_c/GeS``) for labels that several structure
    types share.
    """
    import pymatgen
    from pymatgen.util.provenance import StructureNL

    path = Path(pymatgen.__path__[0]) / "analysis" / "prototypes" / "aflow_prototypes.json.gz"
    with gzip.open(path, "rt") as fh:
        entries = json.load(fh)
    library: dict[str, dict] = {}
    for e in entries:
        label = e["tags"]["aflow"]
        formula = StructureNL.from_dict(e["snl"]).structure.composition.reduced_formula
        library[label] = library[f"{label}/{formula}"] = e["snl"]
    return library


def _aflow(
    label: str, substitute: dict[str, str] | None = None, volume: float | None = None
) -> Structure:
    """Return an AFLOW prototype structure by label, optionally substituted and rescaled.

    ``label`` may name the prototype's formula too (``AB_oP8_62_c_c/GeS``) where
    several structure types share a label; ``volume`` is the cell volume (A^3)
    to scale to after a substitution.
    """
    from pymatgen.util.provenance import StructureNL

    s = StructureNL.from_dict(_aflow_library()[label]).structure.copy()
    for prop in list(s.site_properties):
        s.remove_site_property(prop)
    if substitute:
        s.replace_species(substitute)
    if volume:
        s.scale_lattice(volume)
    return s


def _ilmenite(metal: str, a: float, c: float, b_site: str = "Ti") -> Structure:
    """M(B)O3 in the ilmenite type (R-3), the AFLOW FeTiO3 cell at hexagonal ``a``, ``c`` (A).

    ``metal`` takes Fe's sites and ``b_site`` Ti's (MnTiO3, ...; NiMnO3 with Mn).
    """
    volume = 3**0.5 / 2 * a * a * c / 3  # rhombohedral primitive cell: a third of the hexagonal
    return _aflow("AB3C_hR10_148_c_f_c/TiFeO3", {"Fe": metal, "Ti": b_site}, volume)


def _pyrochlore(a_site: str, b_site: str, a: float, x: float) -> Structure:
    """A2B2O7 pyrochlore (Fd-3m; A 16d, B 16c, O 48f (x, 1/8, 1/8), O' 8b in origin choice 2).

    pymatgen's Fd-3m is origin choice 1: the coordinates are shifted by 1/8.
    """
    return _sg(
        227,
        Lattice.cubic(a),
        [a_site, b_site, "O", "O"],
        [[5 / 8, 5 / 8, 5 / 8], [1 / 8, 1 / 8, 1 / 8], [x + 1 / 8, 0.25, 0.25], [0.5, 0.5, 0.5]],
    )


def _li3ycl6() -> Structure:
    return Structure.from_dict(json.loads((DATA_DIR / "Li3YCl6_ordered.json").read_text()))


#: P4X10 cages: bridging and terminal P-X bond lengths (A) and the P-X-P angle (degrees) of
#: molecular P4O10 (H-P2O5) and P4S10 (the P2S5 of sulfide-electrolyte synthesis).
_P4X10_GEOMETRY: dict[str, tuple[float, float, float]] = {
    "O": (1.60, 1.43, 124.0),
    "S": (2.09, 1.91, 109.0),
}
#: Cubic cell edge (A) of one P4X10 cage and the cage's orientation (unit quaternion x, y, z, w).
#: Found once by a search over 64 seeded random rotations of the cage (2026-11-27): the
#: orientation that fits the smallest cubic cell with at least 2.8 (O) / 3.3 A (S) between atoms
#: of neighbouring cages (2.834 / 3.329 A at these edges), stored so the built structure, and so
#: the shipped relaxed energy keyed by its hash, does not depend on a random number generator.
_P4X10_CELL: dict[str, float] = {"O": 6.27, "S": 7.97}
_P4X10_ORIENTATION: tuple[float, float, float, float] = (0.456684, 0.603163, -0.476304, -0.448072)


def _p4x10_cage(anion: str) -> tuple[list[str], Any]:
    """Species and Cartesian coordinates (A) of a P4X10 cage centred at the origin (Td).

    P on the vertices of a tetrahedron, a bridging X on each of its six edges,
    a terminal X on each P along the three-fold axis, from the bond lengths and
    angle of :data:`_P4X10_GEOMETRY`.
    """
    import numpy as np

    d_b, d_t, theta = _P4X10_GEOMETRY[anion]
    cos = np.cos(np.radians(theta))
    t = d_b * np.sqrt((1 - cos) / 4)  # P at t(+-1, +-1, +-1), an even number of minus signs
    s = t + d_b * np.sqrt((1 + cos) / 2)  # bridging X at s(+-1, 0, 0), ...
    vertices = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
    p = t * vertices
    xyz = np.vstack([p, s * np.vstack([np.eye(3), -np.eye(3)]), p + d_t * vertices / np.sqrt(3)])
    return ["P"] * 4 + [anion] * 10, xyz


def _p4x10_crystal(anion: str) -> Structure:
    """P2O5 / P2S5 as a crystal of P4X10 molecules: one cage per cubic cell.

    The cage of :func:`_p4x10_cage`, turned by :data:`_P4X10_ORIENTATION`, in a
    cubic cell of edge :data:`_P4X10_CELL`. The real crystals pack several cages
    per cell (H-P2O5 R3c, P4S10 P-1); the packing is worth tens of meV/atom in
    experiment (sublimation enthalpies), little next to the cage's bonds and
    partly invisible to an MLIP without dispersion; the MLIP's cell relaxation
    sets the cell.
    """
    from scipy.spatial.transform import Rotation

    species, xyz = _p4x10_cage(anion)
    xyz = Rotation.from_quat(_P4X10_ORIENTATION).apply(xyz)
    lattice = Lattice.cubic(_P4X10_CELL[anion])
    return Structure(lattice, species, xyz - xyz.min(axis=0), coords_are_cartesian=True)


def _alcl3_type(
    metal: str, a: float, b: float, c: float, beta: float, anion: str = "Cl"
) -> Structure:
    return _sg(
        12,
        Lattice.monoclinic(a, b, c, beta),
        [metal, anion, anion],
        [[0, 0.1662, 0], [0.2113, 0, 0.2253], [0.2282, 0.3209, 0.2337]],
    )


def _radius(symbol: str, charge: int) -> float:
    from pymatgen.core import Species

    try:
        with warnings.catch_warnings():  # "No ionic radius for Sn2+!": then the fallback
            warnings.simplefilter("ignore")
            return float(Species(symbol, charge).ionic_radius)
    except Exception:  # noqa: BLE001 - no Shannon radius for that charge
        from pymatgen.core import Element

        return float(Element(symbol).average_ionic_radius)


def scaled_mx3(metal: str, anion: str) -> Structure:
    """MX3 in the YCl3 (AlCl3-type) cell, lengths scaled by the M-X bond length.

    The M3+ and X- Shannon radii set the scale (relative to Y-Cl in YCl3).

    An approximant where the true structure differs (UCl3-type early
    lanthanide chlorides, BiI3-type bromides, molecular BiCl3): relaxed with
    the MLIP it is a fair, not exact, competing phase.
    """
    f = (_radius(metal, 3) + _radius(anion, -1)) / (_radius("Y", 3) + _radius("Cl", -1))
    return _alcl3_type(metal, 6.92 * f, 11.94 * f, 6.44 * f, 111.0, anion)


def _layered_limo2(metal: str, a: float, c: float, z_oxygen: float) -> Structure:
    """LiMO2 in the alpha-NaFeO2 type (R-3m), primitive cell.

    ``z_oxygen`` is the O 6c coordinate in the usual setting with M on 3a (0, 0, 0) and Li
    on 3b (0, 0, 1/2), as the literature gives it (~0.26); the cell is built in that setting.
    """
    return _sg(
        166, Lattice.hexagonal(a, c), [metal, "Li", "O"], [[0, 0, 0], [0, 0, 0.5], [0, 0, z_oxygen]]
    )


def _cdcl2_type(metal: str, anion: str, a: float, c: float) -> Structure:
    """MX2 in the CdCl2 type (R-3m; M 3a, X 6c z = 1/4), primitive cell."""
    return _sg(166, Lattice.hexagonal(a, c), [metal, anion], [[0, 0, 0], [0, 0, 0.25]])


#: Trivalent metals of the shipped halide space whose MX3 (X = Cl, Br) are built in.
HALIDE_TRIVALENT: tuple[str, ...] = (
    "Y", "In", "Sc", "Er", "Ho", "Lu", "Tm", "Yb", "Dy", "Tb", "Gd", "Sm", "Bi",
)  # fmt: skip


BUILTIN_REFERENCES: dict[str, Callable[[], Structure]] = {
    # elements needed as MLIP energies (voltage reference)
    "Li": lambda: Structure(Lattice.cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    # halides
    "LiCl": lambda: _sg(225, Lattice.cubic(5.13), ["Li", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "LiBr": lambda: _sg(225, Lattice.cubic(5.50), ["Li", "Br"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "YCl3": lambda: _alcl3_type("Y", 6.92, 11.94, 6.44, 111.0),
    "InCl3": lambda: _alcl3_type("In", 6.41, 11.10, 6.31, 109.8),
    "ScCl3": lambda: _alcl3_type("Sc", 6.38, 11.04, 6.23, 110.0),
    "Li3YCl6": _li3ycl6,
    # MCl3 / MBr3 of the halide space (YCl3, InCl3, ScCl3 above with their own cells)
    **{
        f"{m}{x}3": (lambda m=m, x=x: scaled_mx3(m, x))
        for m in HALIDE_TRIVALENT
        for x in ("Cl", "Br")
        if f"{m}{x}" not in ("YCl", "InCl", "ScCl")
    },
    "MgCl2": lambda: _cdcl2_type("Mg", "Cl", 3.64, 17.67),
    "FeCl2": lambda: _cdcl2_type("Fe", "Cl", 3.59, 17.54),
    "MgBr2": lambda: _cdcl2_type("Mg", "Br", 3.81, 18.8),  # CdI2-type in fact; approximant
    # Zr/Hf tetrahalides: MLIP search over orderings on close-packed anions (ordering_search)
    **{f: (lambda f=f: _searched(f)) for f in ("ZrCl4", "HfCl4", "ZrBr4", "HfBr4")},
    # oxides
    "Li2O": lambda: _sg(225, Lattice.cubic(4.61), ["Li", "O"], [[0.25, 0.25, 0.25], [0, 0, 0]]),
    "MnO": lambda: _sg(225, Lattice.cubic(4.44), ["Mn", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "NiO": lambda: _sg(225, Lattice.cubic(4.18), ["Ni", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "MnO2": lambda: _sg(
        136, Lattice.tetragonal(4.40, 2.87), ["Mn", "O"], [[0, 0, 0], [0.305, 0.305, 0]]
    ),
    "Mn2O3": lambda: _sg(
        206,
        Lattice.cubic(9.41),
        ["Mn", "Mn", "O"],
        [[0.25, 0.25, 0.25], [0.9664, 0, 0.25], [0.3851, 0.1453, 0.3818]],
    ),
    "Mn3O4": lambda: _spinel(8.40, "Mn"),  # cubic approximant of tetragonal hausmannite
    "LiMn2O4": lambda: _spinel(8.24, "Li"),
    # the Li-excess spinel end member: without it Li[LixMn2-x]O4 (the "Li" dopant of the spinel
    # space) split to LiMn2O4 + Li2MnO3 + MnO2, and Li4Mn5O12 lay 46 (CHGNet) / 35 (SevenNet)
    # meV/atom below Li2MnO3 + MnO2
    "Li4Mn5O12": _li4mn5o12,
    "MnO2-spinel": lambda: _spinel(8.04, None),  # lambda-MnO2 (delithiated spinel)
    "Li2MnO3": lambda: _li2mo3("Mn"),
    "LiMnO2": lambda: _sg(
        12,
        Lattice.monoclinic(5.44, 2.81, 5.39, 116.0),
        ["Li", "Mn", "O"],
        [[0, 0.5, 0.5], [0, 0, 0], [0.272, 0, 0.776]],
    ),
    # garnet / NASICON / perovskite competing phases (AFLOW prototypes where they are real,
    # isostructural substitutions scaled to the experimental cell volume otherwise)
    "ZrO2": lambda: _aflow("A2B_mP12_14_2e_e"),  # baddeleyite
    "HfO2": lambda: _aflow("A2B_mP12_14_2e_e", {"Zr": "Hf"}, 138.0),
    "Al2O3": lambda: _aflow("A2B3_hR10_167_c_e"),  # corundum
    "Ga2O3": lambda: _aflow("A2B3_hR10_167_c_e", {"Al": "Ga"}, 96.3),  # alpha; beta is lower
    "LiNbO3": lambda: _aflow("ABC3_hR10_161_a_a_b"),
    "LiTaO3": lambda: _aflow("ABC3_hR10_161_a_a_b", {"Nb": "Ta"}, 105.7),
    "La2O3": lambda: _sg(  # A type, P-3m1
        164,
        Lattice.hexagonal(3.938, 6.136),
        ["La", "O", "O"],
        [[1 / 3, 2 / 3, 0.2467], [0, 0, 0], [1 / 3, 2 / 3, 0.6470]],
    ),
    "La2Zr2O7": lambda: _pyrochlore("La", "Zr", 10.80, 0.332),
    "Li2ZrO3": lambda: _li2mo3("Zr", 4 * 61.2),  # C2/c in fact (Li2SnO3 type); approximant
    # their Hf analogues, for the Hf garnets of the oxide space (without them Li7La3Hf2O12
    # came out 61 meV/atom below a Li2O + La2O3 + HfO2 hull): La2Hf2O7 pyrochlore (a 10.77 A)
    # and Li2HfO3 (C2/c, isostructural with Li2ZrO3; same approximant, its volume scaled by
    # (r Hf4+ / r Zr4+)^3 = (0.71 / 0.72)^3; the MLIP relaxes both)
    "La2Hf2O7": lambda: _pyrochlore("La", "Hf", 10.77, 0.332),
    "Li2HfO3": lambda: _li2mo3("Hf", 4 * 61.2 * (0.71 / 0.72) ** 3),
    "LiOH": lambda: Structure.from_spacegroup(  # P4/nmm, origin choice 1
        129,
        Lattice.tetragonal(3.549, 4.334),
        ["Li", "O", "H"],
        [[0, 0, 0], [0, 0.5, 0.1934], [0, 0.5, 0.4016]],
    ),
    "LiNiO2": lambda: _layered_limo2("Ni", 2.88, 14.2, 0.25),
    # dopants of the Mn-cathode spaces (their binary oxides; AFLOW prototypes, experimental
    # volumes of the primitive cells) and the olivine phosphates
    "MgO": lambda: _aflow("AB_cF8_225_a_b", {"Na": "Mg", "Cl": "O"}, 4.212**3 / 4),
    "TiO2": lambda: _aflow("A2B_tP6_136_f_a"),  # rutile
    "Cr2O3": lambda: _aflow("A2B3_hR10_167_c_e", {"Al": "Cr"}, 96.5),  # corundum (eskolaite)
    "Fe2O3": lambda: _aflow("A2B3_hR10_167_c_e", {"Al": "Fe"}, 100.6),  # corundum (hematite)
    # the Fe2+ oxides, so an Fe2+ compound no longer splits partly to Fe metal + Fe2O3 (the
    # Fe-O hull lay 93 (CHGNet) / 135 (SevenNet) meV/atom too high at FeO), and the ferrite
    # spinels of the Fe-doped Li-Mn oxides: wuestite (rocksalt), magnetite (cubic spinel,
    # Fe on both sites), alpha-LiFe5O8 (ordered spinel: Fe tetrahedral, Li:Fe 1:3
    # octahedral) and jacobsite MnFe2O4; experimental cell lengths
    "FeO": lambda: _sg(225, Lattice.cubic(4.332), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    "Fe3O4": lambda: _spinel(8.396, "Fe", "Fe"),
    "LiFe5O8": lambda: _ordered_spinel(8.33, "Fe", "Fe", "Li"),
    "MnFe2O4": lambda: _spinel(8.51, "Mn", "Fe"),
    # trigonal FePO4 (berlinite type: the AlPO4 cell, Fe for Al, at the experimental 82.3 A^3
    # per formula unit), the Fe phosphate of the LFMP system; without it FePO4 lay 0.25
    # eV/atom below Fe2O3 + P2O5. The MLIPs put the olivine-derived heterosite 0 (CHGNet) / 17
    # (SevenNet) meV/atom above it, a BPO4-type cell 3-4 below
    "FePO4": lambda: _isostructural("AlPO4", {"Al": "Fe"}, 82.3),
    "LiMnPO4": lambda: _olivine(True),
    "LiFePO4": lambda: _olivine(True, "Fe", 10.332 * 6.010 * 4.692),
    # the olivine end members of the Co/Ni/Mg-doped LFMP of the cathode space (without them
    # a doped olivine "decomposes" to elemental P and its hull is flagged incomplete)
    "LiCoPO4": lambda: _olivine(True, "Co", 10.206 * 5.920 * 4.701),
    "LiNiPO4": lambda: _olivine(True, "Ni", 10.032 * 5.854 * 4.677),
    "LiMgPO4": lambda: _olivine(True, "Mg", 10.147 * 5.909 * 4.692),
    # their Li ternaries: Li2TiO3 (C2/c in fact; Li2MnO3-type approximant at the experimental
    # volume per formula unit) and layered LiCrO2 (R-3m)
    "Li2TiO3": lambda: _li2mo3("Ti", 4 * 53.4),
    "LiCrO2": lambda: _layered_limo2("Cr", 2.90, 14.41, 0.26),
    # competitors of doped cathodes: LiFeO2 (layered R-3m approximant of the cation-ordered
    # rocksalts, at the gamma-LiFeO2 volume per formula unit, 35.8 A^3) and beta-Li3PO4
    # (Pmn2_1, enargite type; 155.5 A^3 per cell of two formula units), the Li-rich phosphate
    # an olivine with Li excess decomposes to
    "LiFeO2": lambda: _layered_limo2("Fe", 2.926, 14.48, 0.26),
    "Li3PO4": lambda: _aflow("AB3C4_oP16_31_a_ab_2ab", {"As": "P", "Cu": "Li", "S": "O"}, 155.5),
    # Sn and Ru of the Li-rich Li2(Mn,M)O3 space and Al of the doped spinels: the binary oxide
    # and the Li ternary a doped cathode competes with (rutile SnO2 and RuO2 at their
    # experimental volumes; Li2SnO3 (C2/c in fact) and Li2RuO3 (P2_1/m at room temperature,
    # the Li2MnO3 type above ~540 K) as Li2MnO3-type cells at the experimental volume per
    # formula unit, 60.0 and ~52.4 A^3; alpha-LiAlO2, the layered
    # R-3m polymorph, for the tetrahedral gamma ground state; the MgAl2O4 spinel from AFLOW)
    "SnO2": lambda: _aflow("A2B_tP6_136_f_a", {"Ti": "Sn"}, 71.5),
    "RuO2": lambda: _aflow("A2B_tP6_136_f_a", {"Ti": "Ru"}, 62.7),
    "Li2SnO3": lambda: _li2mo3("Sn", 4 * 60.0),
    "Li2RuO3": lambda: _li2mo3("Ru", 4 * 52.4),
    "LiAlO2": lambda: _layered_limo2("Al", 2.80, 14.22, 0.2608),
    "MgAl2O4": lambda: _aflow("A2BC4_cF56_227_d_a_e"),
    # ilmenite titanates of the divalent metals the Mn-cathode spaces put beside Ti (Ti-doped
    # spinels, layered and Li-rich oxides; LNMO with Ti on Mn and Fe or Co on Ni): without
    # MnTiO3 a Li-Mn-Ti-O hull lay 65 (CHGNet) / 80 (SevenNet) meV/atom too low at its
    # composition (MnO + TiO2). The AFLOW FeTiO3 prototype at the experimental hexagonal cells
    # (a, c in A: MnTiO3 5.137, 14.283; FeTiO3 5.088, 14.09; CoTiO3 5.066, 13.918; NiTiO3
    # 5.030, 13.79; the primitive cell is a third)
    **{
        f"{m}TiO3": (lambda m=m, a=a, c=c: _ilmenite(m, a, c))
        for m, a, c in (
            ("Mn", 5.137, 14.283),
            ("Fe", 5.088, 14.09),
            ("Co", 5.066, 13.918),
            ("Ni", 5.030, 13.79),
        )  # fmt: skip
    },
    # ordered LNMO (P4_332, a = 8.17 A; the seed prototype's cell) and the ilmenite NiMnO3
    # (a, c = 4.905, 13.59 A): with LNMO only a cathode test structure, Li-Ni-Mn-O offered
    # Li2MnO3 + MnO2 + NiO at its composition, 62 (CHGNet) / 63 (SevenNet) meV/atom above
    # it, and the hull of every doped-LNMO candidate lay 45-57 meV/atom too high; NiMnO3 lies
    # 20 meV/atom below MnO2 + NiO (CHGNet)
    "Li2NiMn3O8": lambda: _ordered_spinel(8.17, "Li", "Mn", "Ni"),
    "NiMnO3": lambda: _ilmenite("Ni", 4.905, 13.59, b_site="Mn"),
    # the orthophosphates M3(PO4)2 of the olivine metals (an olivine LiMPO4 competes with
    # M3(PO4)2 + Li3PO4; their pyrophosphates are LIBRARY_CELL_BUILTINS): without them the
    # Li-M-P-O hulls offered M metal + FePO4 or MO + P2O5 at these compositions, and the cells
    # lie 0.15-0.34 eV/atom under those (CHGNet). Farringtonite (the Mg3(PO4)2 cell: the real
    # type of Co3(PO4)2 and Ni3(PO4)2; an approximant of graftonite Fe3(PO4)2 and Mn3(PO4)2,
    # alpha-Zn3(PO4)2 and triclinic Cu3(PO4)2, whose relaxed energy is an upper bound of the
    # real phase's, so it can only leave a hull less tight)
    **{
        f"{m}3(PO4)2": (lambda m=m: _isostructural("Mg3(PO4)2", {"Mg": m}))
        for m in ("Fe", "Mn", "Co", "Ni", "Zn", "Cu")
    },
    # phosphorus: the binaries P2O5 and P2S5 (molecular P4X10 crystals, _p4x10_crystal) and
    # gamma-Li3PS4 (Pmn2_1, enargite type like beta-Li3PO4; 308.9 A^3 per cell of two formula
    # units, Homma et al. 2011). Without them a phosphate or thiophosphate "decomposes" partly
    # to elemental P and its hull is flagged incomplete
    # reduced Ti3+ oxides, the products of reducing Ti4+ oxide electrolytes (LLTO, LATP);
    # without them LLTO's reduction limit came out at 1.04 V (1.33 V with them) and Ti-rich
    # hulls "decomposed" partly to Ti metal. Ti2O3: corundum at the experimental volume
    # (a 5.157, c 13.61 A; 104.5 A^3 per primitive cell); LiTiO2: the cation-disordered
    # rocksalt (a 4.14 A) as the layered R-3m cell of the same volume per formula unit.
    # (NbO2 alone is not built in: a built-in Nb-O binary stops the generated Nb-O prototypes,
    # Nb2O5 among them, of `predict stability`, and LiNbO3 then "oxidised" to NbO2 + O2.)
    "Ti2O3": lambda: _aflow("A2B3_hR10_167_c_e", {"Al": "Ti"}, 104.5),
    "LiTiO2": lambda: _layered_limo2("Ti", 4.14 / 2**0.5, 4.14 * 2 * 3**0.5, 0.25),
    # LaTiO3, the Ti3+ perovskite LLTO reduces to (its reduction limit 1.33 -> 1.72 V, DFT
    # 1.75 V); Pbnm, GdFeO3 type: the AFLOW CaTiO3 prototype with La for Ca at the
    # experimental volume (5.634 x 5.616 x 7.915 A)
    "LaTiO3": lambda: _aflow("AB3C_oP20_62_c_cd_a", {"Ca": "La"}, 5.634 * 5.616 * 7.915),
    # LiNbO2, the Nb3+ product of reducing LiNbO3 (P6_3/mmc, trigonal-prismatic NbO2 layers
    # with Li between them; a 2.906, c 10.46 A, O at z 0.126): with it LiNbO3's reduction limit
    # (CHGNet) goes from 0.80 to 1.04 V
    "LiNbO2": lambda: _sg(
        194,
        Lattice.hexagonal(2.906, 10.46),
        ["Li", "Nb", "O"],
        [[0, 0, 0], [1 / 3, 2 / 3, 0.75], [1 / 3, 2 / 3, 0.1263]],
    ),
    "P2O5": lambda: _p4x10_crystal("O"),
    "P2S5": lambda: _p4x10_crystal("S"),
    "Li3PS4": lambda: _aflow("AB3C4_oP16_31_a_ab_2ab", {"As": "P", "Cu": "Li"}, 308.9),
    # Li4P2S6, the P4+ thiophosphate (P2S6 dimers; P-31m, a 6.077, c 6.599 A, Dietrich et al.,
    # Chem. Mater. 29 (2017) 1474, as the OBELiX CIF 0iv has it; coordinates rounded to two
    # digits, OBELiX's carry 0.01 of added noise): without it a P2S6 phase (the Li-Mg-P-S
    # OBELiX CIFs) "decomposed" partly to P + P2S5
    "Li4P2S6": lambda: _sg(
        162,
        Lattice.hexagonal(6.0774, 6.5988),
        ["Li", "Li", "P", "S"],
        [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.5], [0, 0, 0.17], [0.33, 0, 0.24]],
    ),
    # the thio-LISICON end members Li4GeS4 and Li4SnS4 (Pnma), the Li-Ge-S and Li-Sn-S
    # competitors of LGPS-type Li10MP2S12 and the Li4MS4-Li3PS4 solid solutions: without them
    # Li10GeP2S12 (OBELiX cell) came out 31 meV/atom below a Li3PS4 + Li2S + GeS2 hull flagged
    # complete. Cells and sites of the OBELiX CIFs e6b (Kanno et al., Solid State Ionics 130
    # (2000) 97) and kmv (Kaib et al., Chem. Mater. 24 (2012) 2211), rounded to three digits;
    # their partly occupied Li sites are ordered by Ewald energy (_thio_lisicon)
    "Li4GeS4": lambda: _thio_lisicon(
        Lattice.orthorhombic(14.066, 7.751, 6.150),
        ["Li", {"Li": 0.5}, "Li", "Ge", "S", "S", "S"],
        [
            [0.169, 0.519, 0.657],
            [0.177, 0.214, 0.999],
            [0.068, 0.25, 0.317],
            [0.104, 0.75, 0.164],
            [0.158, 0.515, 0.267],
            [0.061, 0.25, 0.739],
            [0.087, 0.75, 0.777],
        ],
    ),
    "Li4SnS4": lambda: _thio_lisicon(
        Lattice.orthorhombic(13.812, 7.962, 6.370),
        [{"Li": 0.25}, "Li", {"Li": 0.25}, "Li", "Sn", "S", "S", "S"],
        [
            [0.035, 0.017, 0.491],
            [0.160, 0.505, 0.654],
            [0.213, 0.206, 0.999],
            [0.070, 0.25, 0.338],
            [0.087, 0.75, 0.135],
            [0.167, 0.507, 0.267],
            [0.076, 0.25, 0.736],
            [0.091, 0.75, 0.763],
        ],
    ),
    # the selenide analogues, competitors of the Li4(Ge,Sn)(S,Se)4 solid solutions (without them
    # those OBELiX CIFs sat 13-89 meV/atom below a Li2Se + GeSe2/SnSe2 hull flagged complete):
    # the sulfide cells above with Se for S, lengths scaled by the Se2-/S2- radius ratio
    # (1.98/1.84, Shannon), relaxed with the MLIP. An approximant: Li4SnSe4 is reported in
    # Pna2_1 too, and a reference higher than the real phase only makes a hull less tight
    "Li4GeSe4": lambda: _selenide("Li4GeS4"),
    "Li4SnSe4": lambda: _selenide("Li4SnS4"),
    # MgPS3 (Mg2P2S6; C2/m, FePS3 type: P2S6 dimers between Mg layers), cell of Ouvrard, Brec
    # and Rouxel, Mater. Res. Bull. 20 (1985) 1181; sites the FePS3-type values of the MPS3
    # family (rounded; P-P 2.2 A, P-S 2.05-2.1 A, Mg-S 2.6 A), relaxed with the MLIP: without it
    # the Li-Mg-P-S OBELiX cells decomposed partly to elemental P (incomplete hulls)
    "MgPS3": lambda: _sg(
        12,
        Lattice.monoclinic(6.109, 10.576, 6.835, 107.3),
        ["Mg", "P", "S", "S"],
        [[0, 0.333, 0], [0.056, 0, 0.170], [0.748, 0, 0.247], [0.249, 0.165, 0.247]],
    ),
    # Ge2+ sulfide (B16, Pnma; AFLOW's GeS at the experimental cell): without it a Li-Ge-P-S
    # cell (OBELiX Li7Ge3PS12) decomposed partly to elemental Ge and its hull was incomplete
    "GeS": lambda: _aflow("AB_oP8_62_c_c/GeS"),
    # GeS2 with it: a built-in binary marks the Ge-S pair covered, so the prototype GeS2 cells
    # that Li-Ge-P-S systems had before are no longer generated; this is the lowest of them
    # after relaxation (CdI2 type, an approximant: GeS2 is a GeS4-tetrahedra network; AFLOW's
    # Fdd2 cell as pymatgen ships it has 1.28 A Ge-S contacts and relaxed 0.1 eV/atom higher)
    "GeS2": lambda: _prototype_binary("AB2_hP3_164_a_d", "Cd", "I", "Ge", 4, "S"),
    # BPO4 (I-4, AFLOW H0_7 at the experimental cell): the one B-P-O compound, a competitor of
    # Li borophosphates next to Li3PO4, P2O5 and B2O3
    "BPO4": lambda: _aflow("AB4C_tI12_82_c_g_a"),
    # NaNbO3: orthorhombic perovskite approximant (AFLOW's Pnma CaTiO3 with Na, Nb at the
    # experimental 59.5 A^3 per formula unit; the room-temperature phase is Pbcm, a longer
    # tilt sequence of the same perovskite): without it the Na-doped Li-La-Nb-O perovskites
    # decomposed to Na2O + Nb2O5 (or to elemental Na and Nb)
    "NaNbO3": lambda: _aflow("AB3C_oP20_62_c_cd_a", {"Ca": "Na", "Ti": "Nb"}, 4 * 59.5),
    # Li2MoO4, the Li molybdate the Li-M-Mo-O NASICON-type molybdates (Li3M(MoO4)3) split off:
    # without it they sat 0.15-0.20 eV/atom below a MoO3 + Li2O + LiMO2 hull flagged complete.
    # The ground state (phenakite type, R-3, 42 atoms per primitive cell, Li and Mo both in
    # tetrahedra) is in no structure source here; this is an approximant with the same
    # all-tetrahedral coordination: the defect-chalcopyrite Al2CdS4 type (AFLOW, I-4) with Mo
    # for Cd and Li for Al, at the phenakite volume per formula unit (a 14.33, c 9.58 A, Z 18:
    # 94.7 A^3). Relaxed with CHGNet it is 1 meV/atom below the spinel (Na2MoO4) type. A
    # reference higher than the real phase only leaves a hull less tight
    "Li2MoO4": lambda: _aflow("A2BC4_tI14_82_bc_a_g", {"Al": "Li", "Cd": "Mo", "S": "O"}, 94.7),
}


#: Built-ins read from ``datasets/reference_structures/phonondb_structures.json.gz``: Materials
#: Project structures (re-relaxed with PBEsol in A. Togo's phonondb, via WMD-group/phononDB;
#: CC BY 4.0, see that folder's SOURCE.md), competitors the oxide, phosphate, borate and
#: germanate systems lacked. TiP2O7 (only a computed polymorph there), LaNb3O9 (an ordering
#: made up by MP) and Li2MoO4 (absent) are not among them.
PHONONDB_REFERENCES: tuple[str, ...] = (
    "LaNbO4", "LaPO4", "AlPO4", "ZrP2O7", "Li4P2O7", "LiPO3", "LiBO2", "Li3BO3", "Sm2Si2O7",
    "La2Ti2O7", "Li3NbO4", "Li4GeO4", "Li2GeO3", "TaPO5",
    # Sr-Nb-O, Na-P-O, Na-B-O and Li-Ga-O competitors of the Sr-Li-Nb-O perovskites, Na-doped
    # Li borophosphates and Ga-doped Li germanates (added 2026-11-29)
    "SrNb2O6", "Sr2Nb2O7", "Na3PO4", "Na4P2O7", "NaPO3", "NaBO2", "Na3BO3", "LiGaO2",
    "Li5GaO4", "LiGa5O8",
    # alpha-quartz and the Li silicates (LISICON-type electrolytes; before, the Si-O pair had
    # only rutile/CdI2/fluorite prototype SiO2 cells, the lowest 0.20 eV/atom above quartz with
    # CHGNet), and beta-Ga2O3 (C2/m, the Ga2O3 ground state; the built-in corundum Ga2O3 is alpha)
    "SiO2", "Li2SiO3", "Li2Si2O5", "Li6Si2O7", "Ga2O3-beta",
    # binaries whose prototype cells were 0.02-0.13 eV/atom above these MP structures with CHGNet
    # (YF3 Pnma, ZrF4 P4_2/m, Ga2S3 Cc, hexagonal BN), and the Cs-Li-Cl ternaries of Cs-doped
    # chlorides
    "YF3", "ZrF4", "Ga2S3", "BN", "CsLiCl2", "CsLi2Cl3",
    # Ta2O5 (C2/c; the ReO3-type approximants were 0.09 eV/atom above it with CHGNet), the
    # antimony oxides (Sb2O5 C2/c, Sb2O3 valentinite Pccn, SbO2 cervantite Pna2_1: Sb-doped
    # garnets and Li antimonates; the prototypes were 0.21 and 0.06 eV/atom above the first two,
    # and no prototype has the mixed-valence SbO2), and P3N5 (the Li-P-N system of LiPON-type
    # nitrides had no P-N compound; all added 2026-11-29)
    "Ta2O5", "Sb2O5", "Sb2O3", "SbO2", "P3N5",
    # fluorides: PF5 (no MX5 prototype is made: LiPF6 split into LiF + F2 + P), quartz-type BeF2,
    # SbF3 and InF3 (the prototype cells were 0.28, 0.03 and 0.04 eV/atom above them with CHGNet)
    "PF5", "BeF2", "SbF3", "InF3",
    # farringtonite Mg3(PO4)2 (P2_1/c), the Mg orthophosphate of Mg-doped olivines, and the
    # template of the other M3(PO4)2 built-ins
    "Mg3(PO4)2",
)  # fmt: skip


@lru_cache(maxsize=1)
def _phonondb_structures() -> dict[str, dict]:
    from matscreen.core.paths import datasets_dir

    path = datasets_dir() / "reference_structures" / "phonondb_structures.json.gz"
    with gzip.open(path, "rt") as fh:
        return json.load(fh)["structures"]


def _phonondb(name: str) -> Structure:
    """Return a shipped Materials Project structure (see :data:`PHONONDB_REFERENCES`)."""
    return Structure.from_dict(_phonondb_structures()[name]["structure"])


def _isostructural(
    name: str, swap: dict[str, str], volume_per_formula: float | None = None
) -> Structure:
    """Return a shipped structure with elements replaced, at a volume per formula unit (A^3).

    ``name`` is a :data:`PHONONDB_REFERENCES` built-in or a known compound
    (``<formula>-mp-<id>``, see :func:`known_compound_structure`); without a
    volume the template's is kept (the MLIP relaxes the cell).
    """
    s = _phonondb(name) if name in _phonondb_structures() else known_compound_structure(name)
    s.replace_species(swap)
    if volume_per_formula is not None:
        s.scale_lattice(volume_per_formula * s.composition.get_reduced_composition_and_factor()[1])
    return s


for _name in PHONONDB_REFERENCES:
    BUILTIN_REFERENCES[_name] = partial(_phonondb, _name)

#: Built-ins made from a cell of the known-compound library, its elements replaced: the
#: pyrophosphates M2P2O7 of the olivine metals (MPO4 and LiMP2O7 lose O2 to them) on the
#: thortveitite Mg2P2O7 (C2/m: the type of Mn2P2O7, at its experimental 126.3 A^3 per formula
#: unit; an approximant of the lower-symmetry Fe, Co, Ni, Cu ones), and the Fe3+ phosphates
#: LiFeP2O7 (P2_1, the LiScP2O7 type; 127.6 A^3 per formula unit) and rhombohedral NASICON
#: Li3Fe2(PO4)3 (R-3, the Li3In2(PO4)3 type; 224.2 A^3), products of oxidising LiFePO4
#: beside FePO4, and LiMnP2O7 (isotypic with LiFeP2O7, at its volume: high-spin Mn3+ and
#: Fe3+ share a radius; without it the Li-Mn-P-O hull lay 65 meV/atom above the cell at
#: its composition with CHGNet, 49 with SevenNet). As templates of
#: :mod:`matscreen.physics.templates` they count as library cells
#: (:data:`LIBRARY_CELL_REFERENCES`): a formula of their stoichiometry takes them, a doped
#: one does not share their sites (Li3Fe2(PO4)3 would otherwise be the shared-site type of
#: every NASICON electrolyte, with Li on its sites instead of LATP's).
LIBRARY_CELL_BUILTINS: dict[str, Callable[[], Structure]] = {
    **{
        f"{m}2P2O7": (lambda m=m: _isostructural("Mg2P2O7-mp-5427", {"Mg": m}))
        for m in ("Fe", "Co", "Ni", "Cu")
    },
    "Mn2P2O7": lambda: _isostructural("Mg2P2O7-mp-5427", {"Mg": "Mn"}, 126.3),
    "LiFeP2O7": lambda: _isostructural("LiScP2O7-mp-10517", {"Sc": "Fe"}, 127.6),
    "LiMnP2O7": lambda: _isostructural("LiScP2O7-mp-10517", {"Sc": "Mn"}, 127.6),
    "Li3Fe2(PO4)3": lambda: _isostructural("Li3In2(PO4)3-mp-6425", {"In": "Fe"}, 224.2),
}
BUILTIN_REFERENCES.update(LIBRARY_CELL_BUILTINS)
LIBRARY_CELL_REFERENCES: frozenset[str] = frozenset(LIBRARY_CELL_BUILTINS)


#: The known-compound library: every Li compound with at least two other elements in A. Togo's
#: phonondb (Materials Project structures re-relaxed with PBEsol; CC BY 4.0, see
#: ``datasets/reference_structures/SOURCE.md``) whose primitive cell has at most 60 sites and
#: whose elements CHGNet and SevenNet both cover: 751 cells, named ``<formula>-mp-<id>``.
KNOWN_COMPOUNDS_FILE = "phonondb_li_compounds.json.gz"
#: Its non-Li part: the ternaries of the same archive (three elements, one an anion, at most 60
#: sites) whose elements lie in the system of an OBELiX composition or of a seed-space
#: candidate: the framework oxides, phosphates and halides a Li compound decomposes into
#: besides its Li phases (TiP2O7 for a NASICON, La2TiO5 for LLTO); no H. 446 cells; 11 of
#: their formulas are built-ins too (La2Zr2O7, LaNbO4, ...: the lower relaxation wins).
HOST_TERNARIES_FILE = "phonondb_host_ternaries.json.gz"


@cache
def _library_file(filename: str) -> dict[str, dict]:
    from matscreen.core.paths import datasets_dir

    with gzip.open(datasets_dir() / "reference_structures" / filename, "rt") as fh:
        return json.load(fh)["structures"]


def _li_compounds() -> dict[str, dict]:
    """Return the Li compounds of the library (:data:`KNOWN_COMPOUNDS_FILE`; also templates)."""
    return _library_file(KNOWN_COMPOUNDS_FILE)


@lru_cache(maxsize=1)
def _known_compounds() -> dict[str, dict]:
    """Return every library compound: the Li compounds and the non-Li ternaries."""
    return {**_li_compounds(), **_library_file(HOST_TERNARIES_FILE)}


@lru_cache(maxsize=1)
def _known_compound_elements() -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple(
        (name, frozenset(el.symbol for el in Composition(name.split("-")[0])))
        for name in _known_compounds()
    )


def known_compound_structure(name: str) -> Structure:
    """Return the unrelaxed cell of the known compound ``name`` (``<formula>-mp-<id>``)."""
    try:
        rec = _known_compounds()[name]
    except KeyError as exc:
        raise KeyError(
            f"no known compound {name!r} in {KNOWN_COMPOUNDS_FILE} or {HOST_TERNARIES_FILE}"
        ) from exc
    return Structure(rec["lattice"], rec["species"], rec["frac_coords"])


def known_compound_references(elements: Iterable[str]) -> dict[str, Structure]:
    """Known compounds (Materials Project structures) within a Li chemical system.

    The built-ins and prototype binaries give a hull its elements and binaries;
    the ternaries and quaternaries a real Li compound competes with are mostly
    absent from them (LiSbO3 came out 0.26 eV/atom below a Li2O + Sb2O5 hull,
    LiPN2 0.5 below Li3N + P3N5). These are the Li compounds of the phonondb
    archive (:data:`KNOWN_COMPOUNDS_FILE`) and its non-Li ternaries of the
    systems the datasets and seed spaces hold (:data:`HOST_TERNARIES_FILE`;
    a NASICON competes with TiP2O7, LiTa2PO8 with Ta9PO25, an LLTO with
    La2TiO5), relaxed with the same MLIP on first use and cached,
    like every reference. The archive holds non-magnetic compounds only (no
    Li-Mn/Fe/Co/Ni oxides, no MnTiO3). A candidate that is itself one of them
    sits on (or, relaxed into another minimum, near) its hull, as in the
    Materials Project's own hull.

    Parameters
    ----------
    elements
        Symbols of the chemical system.

    Returns
    -------
    dict[str, Structure]
        ``{"<formula>-mp-<id>": structure}`` for each library compound whose
        elements all lie in ``elements``.
    """
    return {name: known_compound_structure(name) for name, _ in _known_within(elements)}


def known_compound_element_sets(elements: Iterable[str]) -> list[frozenset[str]]:
    """Element sets of the known compounds within a system (no structure built)."""
    return [els for _, els in _known_within(elements)]


def _known_within(elements: Iterable[str]) -> list[tuple[str, frozenset[str]]]:
    """(name, elements) of the known compounds whose elements all lie in ``elements``."""
    symbols = frozenset(elements)
    if "Li" not in symbols:  # matscreen's hulls are of Li systems: the files are not even read
        return []
    return [(name, els) for name, els in _known_compound_elements() if els <= symbols]


#: Shannon radius ratio Se2- / S2- (six-coordinate, 1.98 / 1.84 A).
SE_S_RADIUS_RATIO = 1.98 / 1.84


def _selenide(sulfide: str) -> Structure:
    """Return a built-in sulfide with Se for S, its lattice scaled by :data:`SE_S_RADIUS_RATIO`."""
    s = _builtin(sulfide).copy()
    s.replace_species({"S": "Se"})
    s.scale_lattice(s.volume * SE_S_RADIUS_RATIO**3)
    return s


def _thio_lisicon(lattice: Lattice, species: list, coords: list) -> Structure:
    """Return a Pnma Li4MS4 cell, its partly occupied Li sites ordered (Ewald energy, seed 0)."""
    from matscreen.candidates.ordering import order_structure

    s = Structure.from_spacegroup(62, lattice, species, coords)
    return order_structure(s, seed=0).structure


_HALOGENS = ("Cl", "Br", "I")


def substituted_halide_references(elements: set[str]) -> dict[str, Structure]:
    """Scaled MX3 cells for the trivalent metals of ``elements`` whose halides lack a built-in.

    Parameters
    ----------
    elements
        Symbols of a chemical system.

    Returns
    -------
    dict[str, Structure]
        ``{"design-MX3-YCl3type": structure}`` for each trivalent metal M and
        halogen X of the system with no ``MX3`` in :data:`BUILTIN_REFERENCES`.
    """
    from matscreen.candidates.oxidation import nominal_oxidation_state

    out = {}
    for m in sorted(elements):
        if m in _HALOGENS or m == "Li":
            continue
        try:
            if nominal_oxidation_state(m) != 3:
                continue
        except ValueError:
            continue
        for x in _HALOGENS:
            name = f"{m}{x}3"
            if x in elements and name not in BUILTIN_REFERENCES:
                out[f"design-{name}-YCl3type"] = scaled_mx3(m, x)
    return out


#: Ionic binary prototypes from pymatgen's AFLOW library: (label, the prototype's cation, its
#: anion). "Anti" types list the prototype's anion as the cation (antifluorite Li2O from CaF2).
BINARY_PROTOTYPES: tuple[tuple[str, str, str], ...] = (
    ("AB_cF8_225_a_b", "Na", "Cl"),  # rocksalt
    ("AB_cF8_216_c_a", "Zn", "S"),  # zincblende
    ("AB_hP4_186_b_b", "Zn", "S"),  # wurtzite
    ("AB_hP4_194_c_a", "Ni", "As"),  # NiAs
    ("AB_cP2_221_b_a", "Cs", "Cl"),  # CsCl
    ("A2B_tP6_136_f_a", "Ti", "O"),  # rutile
    ("AB2_cF12_225_a_c", "Ca", "F"),  # fluorite
    ("AB2_hP3_164_a_d", "Cd", "I"),  # CdI2
    ("AB2_cF12_225_a_c", "F", "Ca"),  # antifluorite
    ("AB2_hP3_164_a_d", "I", "Cd"),  # anti-CdI2
    ("A2B_cP6_224_b_a", "Cu", "O"),  # cuprite
    ("AB3_mC16_12_g_ij", "Al", "Cl"),  # AlCl3
    ("AB3_hR8_148_c_f", "Bi", "I"),  # BiI3
    ("A3B_cP4_221_d_a", "Re", "O"),  # ReO3
    ("A3B_hP4_191_bc_a", "Li", "N"),  # Li3N
    ("AB3_hP8_194_c_bf", "Na", "As"),  # Na3As
    ("AB3_cF16_225_a_bc", "F", "Bi"),  # anti-BiF3 (Li3Bi)
    ("A2B3_hR10_167_c_e", "Al", "O"),  # corundum
    ("A2B3_hR5_166_c_ac", "Bi", "Te"),  # tetradymite
    ("A4B_cI10_217_c_a", "Si", "F"),  # SiF4 (molecular crystal)
)
#: Name prefix of the generated prototype references (``auto-<formula>-<label>``, the label
#: an AFLOW one or that of a cell built here: see :func:`binary_prototype_references`).
AUTO_PREFIX = "auto-"
#: Anions of the prototype binaries and their charges.
BINARY_ANIONS: dict[str, int] = {
    "O": -2, "S": -2, "Se": -2, "Te": -2, "F": -1, "Cl": -1, "Br": -1, "I": -1, "N": -3,
}  # fmt: skip
#: Reduced oxidation states made as prototype binaries besides the common ones: the
#: products of reducing a d0 cation that has no built-in reduced binary (NbO2 and WO2,
#: rutile type; without NbO2 LiNbO3 reduced straight to Nb metal, at 0.80 V).
REDUCED_BINARY_STATES: dict[str, tuple[int, ...]] = {"Nb": (4,), "W": (4,)}
#: Cations never paired with an anion here (non-metals that form molecular compounds).
_NOT_CATIONS = frozenset({"H", "He", "C", "N", "O", "F", "Ne", "S", "Cl", "Ar", "Se", "Br", "Kr",
                          "Te", "I", "Xe"})  # fmt: skip


def _prototype_binary(label: str, proto_cation: str, proto_anion: str, cation: str,
                      q: int, anion: str) -> Structure:  # fmt: skip
    """One prototype with its cation and anion substituted, scaled to Shannon bond lengths."""
    import numpy as np

    s = _aflow(label, {proto_cation: cation, proto_anion: anion})
    is_cation = np.array([site.specie.symbol == cation for site in s])
    dist = s.distance_matrix[np.ix_(is_cation, ~is_cation)]
    target = _radius(cation, q) + _radius(anion, BINARY_ANIONS[anion])
    s.scale_lattice(s.volume * (target / float(dist.min())) ** 3)
    return s


#: Halide anions whose MX3 binaries also get the Ga2Cl6-dimer cell (:func:`_dimer_mx3`).
DIMER_HALIDES: frozenset[str] = frozenset({"Cl", "Br", "I"})
#: Key of the dimer prototypes (``auto-<formula>-<this>``; mC16_12: GaCl3's Pearson symbol and
#: space group, in the style of the AFLOW labels, though it is no AFLOW prototype).
DIMER_LABEL = "M2X6-dimer_GaCl3_mC16_12"


def _dimer_mx3(cation: str, q: int, anion: str) -> Structure:
    """MX3 as a molecular crystal of M2X6 dimers: the GaCl3 cell, substituted and scaled.

    GaCl3, GaBr3, GaI3, AlBr3, AlI3 and InI3 crystallise as M2X6 dimers, which no
    AFLOW prototype here has: with CHGNet the layered AlCl3/BiI3 cells were 0.09-0.10
    eV/atom above this one for the gallium halides (LiGaBr4 and LiGaI4 came out 0.08-0.10
    eV/atom below their hulls), 0.02-0.03 for AlBr3 and AlI3. The template is the
    Materials Project GaCl3 cell (mp-30952, phonondb), its lattice scaled by the ratio of
    the Shannon M-X bond lengths to Ga-Cl.
    """
    s = Structure.from_dict(_phonondb_structures()["GaCl3"]["structure"])
    s.replace_species({"Ga": cation, "Cl": anion})
    ratio = (_radius(cation, q) + _radius(anion, -1)) / (_radius("Ga", 3) + _radius("Cl", -1))
    s.scale_lattice(s.volume * ratio**3)
    return s


#: ReO3 supercells of the M2X5 approximants (:func:`_m2x5_approximant`).
M2X5_SUPERCELLS: tuple[tuple[int, int, int], ...] = ((2, 2, 1), (3, 2, 1))


def _m2x5_approximant(cation: str, q: int, anion: str, cells: tuple[int, int, int]) -> Structure:
    """M2X5 as a ReO3-type MX3 supercell with one anion in six removed.

    The vacancies are placed by point-charge Ewald energy
    (:func:`~matscreen.candidates.ordering.order_structure`, seed 0). Nb2O5,
    Ta2O5 and V2O5 have no AFLOW prototype; the real Nb2O5 / Ta2O5 are block
    structures of ReO3-type octahedra joined by shear planes, which a vacancy-
    ordered ReO3 cell relaxed with the MLIP resembles. With CHGNet the lower of
    the 2x2x1 and 3x2x1 cells gives formation energies (MP2020 scale) of
    -2.99 (Nb2O5; experiment -2.82), -3.23 (Ta2O5; -3.03) and -2.18 eV/atom
    (V2O5, a layered structure in fact; -2.30).
    """
    from matscreen.candidates.ordering import order_structure

    s = _prototype_binary("A3B_cP4_221_d_a", "Re", "O", cation, q, anion)
    s.make_supercell(cells)
    s.replace_species({anion: {anion: 5 / 6}})
    return order_structure(s, seed=0).structure


def _m2x5_approximants(cation: str, q: int, anion: str) -> dict[str, Structure]:
    """Return the :func:`_m2x5_approximant` cells of one M2X5, by reference name.

    A cell that cannot be built is left out with a warning (the formula then
    has no competing phase).
    """
    out: dict[str, Structure] = {}
    for cells in M2X5_SUPERCELLS:
        label = "A5B2-ReO3-" + "x".join(map(str, cells))
        try:
            s = _m2x5_approximant(cation, q, anion, cells)
        except Exception as exc:  # noqa: BLE001 - a missing approximant is not fatal
            logger.warning("prototype %s%s %s not built: %s", cation, anion, label, exc)
            continue
        out[f"{AUTO_PREFIX}{s.composition.reduced_formula}-{label}"] = s
    return out


def binary_prototype_references(
    elements: set[str], covered: set[frozenset[str]]
) -> dict[str, Structure]:
    """Prototype binaries for the cation-anion pairs of a system that have no reference compound.

    For each anion X of :data:`BINARY_ANIONS` in ``elements`` and each other
    element M (metals and metalloids) whose pair ``{M, X}`` is not in
    ``covered``, every common positive oxidation state q <= 6 of M (and the
    reduced states of :data:`REDUCED_BINARY_STATES`) gives the neutral formula
    M_aX_b, and every :data:`BINARY_PROTOTYPES` entry of that
    stoichiometry is substituted and scaled so the shortest M-X distance is
    the sum of the Shannon radii. Relaxed with the MLIP (by the caller), the
    lowest of them is a competing phase of that formula: an upper bound on
    the true binary's energy, so a candidate's ``e_above_hull`` against it
    can still come out too low, but no longer by the whole binary formation
    energy. MX4 comes only as the SiF4-type molecular crystal (SnCl4, TiCl4,
    GeCl4); MX3 chlorides, bromides and iodides also as M2X6 dimers
    (:func:`_dimer_mx3`); M2O5 (Nb2O5, Ta2O5, V2O5, Sb2O5) as vacancy-ordered ReO3 cells
    (:func:`_m2x5_approximant`, one per :data:`M2X5_SUPERCELLS`); P2O5 and
    P2S5 are built-in references. Binaries with no prototype here (M2X5 of
    the other chalcogens, MX5, MX6, M3X2 such as Mg3N2) are not made.

    Parameters
    ----------
    elements
        Symbols of the chemical system.
    covered
        Element pairs that already have a binary reference compound.

    Returns
    -------
    dict[str, Structure]
        ``{"auto-<formula>-<label>": structure}``: the AFLOW label, or for the cells
        built here ``A5B2-ReO3-<supercell>`` (M2O5) and :data:`DIMER_LABEL` (MX3).
    """
    from math import gcd

    from matscreen.candidates.oxidation import common_oxidation_states

    out: dict[str, Structure] = {}
    for anion in sorted(elements & set(BINARY_ANIONS)):
        x = -BINARY_ANIONS[anion]
        for cation in sorted(elements - set(BINARY_ANIONS) - _NOT_CATIONS):
            if frozenset({cation, anion}) in covered:
                continue
            try:
                states = [q for q in common_oxidation_states(cation) if 0 < q <= 6]
            except ValueError:
                continue
            states += [q for q in REDUCED_BINARY_STATES.get(cation, ()) if q not in states]
            for q in states:
                g = gcd(q, x)
                ratio = (x // g, q // g)  # cations : anions
                if ratio == (2, 5) and anion == "O":  # M2O5: ReO3 cells with O vacancies
                    out |= _m2x5_approximants(cation, q, anion)
                if ratio == (1, 3) and anion in DIMER_HALIDES:  # GaCl3-type M2X6 dimers
                    s = _dimer_mx3(cation, q, anion)
                    out[f"{AUTO_PREFIX}{s.composition.reduced_formula}-{DIMER_LABEL}"] = s
                for label, pc, pa in BINARY_PROTOTYPES:
                    comp = _aflow(label).composition
                    if comp[pc] * ratio[1] != comp[pa] * ratio[0]:
                        continue
                    s = _prototype_binary(label, pc, pa, cation, q, anion)
                    out[f"{AUTO_PREFIX}{s.composition.reduced_formula}-{label}"] = s
    return out


def _lnmo(with_li: bool) -> Structure:
    """LiNi0.5Mn1.5O4 as Li2NiMn3O8: one of four Mn of the primitive spinel cell -> Ni."""
    s = _spinel(8.17, "Li" if with_li else None)
    mn = [i for i, site in enumerate(s) if site.specie.symbol == "Mn"]
    s.replace(mn[0], "Ni")
    return s


def _olivine(with_li: bool, metal: str = "Mn", volume: float | None = None) -> Structure:
    """LiMnPO4 olivine (Pnma, LiFePO4-type coordinates), or MnPO4 without Li.

    ``metal`` replaces Mn (the cell scaled to ``volume``, A^3, when given).
    """
    species = ["Li", "Mn", "P", "O", "O", "O"]
    coords = [
        [0, 0, 0],
        [0.282, 0.25, 0.972],
        [0.092, 0.25, 0.408],
        [0.097, 0.25, 0.742],
        [0.457, 0.25, 0.206],
        [0.165, 0.047, 0.285],
    ]
    if not with_li:
        species, coords = species[1:], coords[1:]
    species = [metal if sp == "Mn" else sp for sp in species]
    s = Structure.from_spacegroup(62, Lattice.orthorhombic(10.45, 6.10, 4.75), species, coords)
    if volume:
        s.scale_lattice(volume)
    return s


#: Cathode test structures (not hull references): name -> builder.
CATHODE_STRUCTURES: dict[str, Callable[[], Structure]] = {
    "LiMn2O4": lambda: _spinel(8.24, "Li"),
    "Mn2O4": lambda: _spinel(8.04, None),
    "LiNi0.5Mn1.5O4": lambda: _lnmo(True),
    "Ni0.5Mn1.5O4": lambda: _lnmo(False),
    "LiMnPO4": lambda: _olivine(True),
    "MnPO4": lambda: _olivine(False),
}

#: (discharged, charged, measured average voltage in V vs Li/Li+, note)
CATHODE_PAIRS: tuple[tuple[str, str, float, str], ...] = (
    ("LiMn2O4", "Mn2O4", 4.05, "spinel LMO, 4.0/4.15 V plateaus"),
    ("LiNi0.5Mn1.5O4", "Ni0.5Mn1.5O4", 4.70, "LNMO, Ni2+/Ni4+ at ~4.7 V"),
    ("LiMnPO4", "MnPO4", 4.10, "olivine LMP, 4.1 V plateau"),
)


def cathode_structure(name: str, relaxed_with: Any = None) -> Structure:
    """Return a cathode test structure (see :data:`CATHODE_STRUCTURES`).

    Parameters
    ----------
    name
        Key of :data:`CATHODE_STRUCTURES`.
    relaxed_with
        None for the unrelaxed literature structure, or a calculator (or
        registry name): the structure relaxed with it, cached under
        ``cathode:<name>`` (CHGNet results ship with the package).
    """
    if relaxed_with is None:
        return CATHODE_STRUCTURES[name]()
    rec = relaxed_reference(CATHODE_STRUCTURES[name](), relaxed_with, key=f"cathode:{name}")
    return Structure.from_dict(rec["structure"])


@cache
def _builtin(name: str) -> Structure:
    return BUILTIN_REFERENCES[name]()


@cache
def builtin_reference_formula(name: str) -> str:
    """Return the reduced formula of the built-in reference ``name``, without building it.

    Every name is a formula, with a suffix after ``-`` for a second
    polymorph (``MnO2-spinel``); a test checks each against its structure.
    """
    if name not in BUILTIN_REFERENCES:
        raise KeyError(f"no built-in reference {name!r}; known: {sorted(BUILTIN_REFERENCES)}")
    return Composition(name.split("-")[0]).reduced_formula


def builtin_reference_elements(name: str) -> frozenset[str]:
    """Return the element symbols of the built-in reference ``name``, without building it."""
    return frozenset(el.symbol for el in Composition(builtin_reference_formula(name)))


def builtin_reference_structure(name: str) -> Structure:
    """Return (a copy of) the unrelaxed built-in reference structure called ``name``."""
    try:
        return _builtin(name).copy()
    except KeyError as exc:
        raise KeyError(
            f"no built-in reference {name!r}; known: {sorted(BUILTIN_REFERENCES)}"
        ) from exc


def _shipped_cache_path(calc_name: str) -> Path:
    return DATA_DIR / f"reference_cache_{calc_name}.json"


@lru_cache(maxsize=4)
def _shipped_entries(calc_name: str, calc_version: str) -> dict[str, Any]:
    """Return the shipped relaxations of one calculator (~4 MB of JSON: read once per process)."""
    from matscreen.core.io import read_versioned_cache

    return read_versioned_cache(_shipped_cache_path(calc_name), calc_version, "entries")


class ReferenceCache:
    """Relaxed MLIP energies of reference structures, one JSON file per calculator.

    Reads the copy shipped with the package and the user cache
    (:func:`cache_dir`; its entries win, unless they were relaxed from
    another structure than the one asked for and the shipped one was not:
    after an upgrade that changed a builder, the shipped relaxation is used
    instead of relaxing again); new results go to the user cache.
    Several processes (Dask workers, array jobs) may add entries at once: each
    write re-reads the file under a lock and adds its entry, so none is lost,
    and the file is replaced atomically, so a reader never sees half of it.
    """

    def __init__(self, calc_name: str, calc_version: str, path: Path | None = None) -> None:
        self.calc_name = calc_name
        self.calc_version = calc_version
        self.path = path or cache_dir() / f"reference_cache_{calc_name}.json"
        from matscreen.core.io import read_versioned_cache

        self._shipped = _shipped_entries(calc_name, calc_version)
        self._data: dict[str, Any] = {
            **self._shipped,
            **read_versioned_cache(self.path, calc_version, "entries"),
        }

    def get(self, key: str, built_from: str | None = None) -> dict | None:
        """Return the cached record for ``key`` or None.

        With ``built_from`` (the hash of the structure to relax), a user entry
        relaxed from another structure gives way to a shipped entry relaxed
        from this one; otherwise the user entry is returned (the caller sees
        the mismatch and relaxes again).
        """
        hit = self._data.get(key)
        shipped = self._shipped.get(key)
        if (
            built_from is not None
            and hit is not None
            and hit.get("built_from", built_from) != built_from
            and shipped is not None
            and shipped.get("built_from") == built_from
        ):
            return shipped
        return hit

    def fresh(self, key: str, built_from: str) -> dict | None:
        """Return the record for ``key`` if it was relaxed from ``built_from``, else None.

        Records without a ``built_from`` (older caches) count as fresh.
        """
        hit = self.get(key, built_from)
        return hit if hit is not None and hit.get("built_from", built_from) == built_from else None

    def put(self, key: str, record: dict) -> None:
        """Store ``record`` under ``key`` and add it to the user cache file."""
        from matscreen.core.io import add_to_versioned_cache

        self._data[key] = record
        header = {"calculator": self.calc_name, "version": self.calc_version}
        add_to_versioned_cache(self.path, header, "entries", {key: record})

    def keys(self) -> list[str]:
        """Return the cached keys."""
        return list(self._data)


def relaxed_reference(
    name_or_structure: str | Structure,
    calculator: Any = None,
    *,
    key: str | None = None,
    fmax: float = 0.05,
    steps: int = 400,
    cache: ReferenceCache | None = None,
) -> dict[str, Any]:
    """Relax a reference structure with ``calculator`` once and cache the result.

    Parameters
    ----------
    name_or_structure
        A :data:`BUILTIN_REFERENCES` name or a structure (then ``key`` names it).
    calculator
        ASE calculator or registry name (None: the DEFAULT_CALCULATOR setting, CHGNet
        unless set).
    key
        Cache key for a structure given directly (default: formula + hash).
    fmax, steps
        Relaxation settings.
    cache
        An open :class:`ReferenceCache` of this calculator, read and added to
        (a caller relaxing many references reads the cache files once); None:
        opened here.

    Returns
    -------
    dict
        ``energy_per_atom`` (eV/atom, calculator scale), ``structure`` (dict),
        ``converged``, ``steps`` and ``built_from`` (hash of the structure that
        was relaxed: a cached entry with another one is relaxed again; entries
        without it, older caches, are used as they are).
    """
    from matscreen.physics.calculators import calculator_info, resolve_calculator
    from matscreen.physics.relax import relax_structure

    calc = resolve_calculator(calculator)
    info = calculator_info(calc)
    if isinstance(name_or_structure, str):
        key = key or name_or_structure
        structure = builtin_reference_structure(name_or_structure)
    else:
        structure = name_or_structure
        key = key or f"{structure.composition.reduced_formula}-{_structure_hash(structure)}"
    built_from = _structure_hash(structure)
    if cache is None:
        cache = ReferenceCache(info.name, info.version)
    hit = cache.fresh(key, built_from)
    if hit is not None:
        return hit
    if cache.get(key) is not None:  # the builder changed since the cached relaxation: relax again
        logger.warning("reference %s: built structure changed since it was cached; relaxing", key)
    logger.info("relaxing reference %s with %s", key, info.name)
    rec = relax_structure(structure, calc, fmax=fmax, steps=steps)
    if rec.energy_per_atom is None:
        raise RuntimeError(f"reference {key} could not be relaxed: {rec.error}")
    out = {
        "energy_per_atom": rec.energy_per_atom,
        "structure": rec.model_dump()["structure"],
        "converged": rec.converged,
        "steps": rec.steps,
        "built_from": built_from,
    }
    cache.put(key, out)
    return out


#: Added before rounding in :func:`_structure_hash`: literature coordinates often sit exactly on
#: a rounding edge (bixbyite Mn2O3: O at 0.2635 +- 1e-16 after the symmetry operations), where
#: the floating-point noise of another numpy / pymatgen release flipped the rounded digit.
_HASH_OFFSET = 1e-7


def _structure_hash(structure: Structure) -> str:
    """Return a short hash of a structure's lattice and sites (3 decimals, site order free)."""
    import hashlib

    def r(x: float) -> float:
        return round(float(x) + _HASH_OFFSET, 3) + 0.0

    payload = json.dumps([[r(x) for x in row] for row in structure.lattice.matrix])
    payload += json.dumps(  # rounded before the wrap, so -1e-9 and 1e-9 hash alike
        sorted((s.species_string, *(r(c) % 1.0 + 0.0 for c in s.frac_coords)) for s in structure)
    )
    return hashlib.sha1(payload.encode()).hexdigest()[:12]
