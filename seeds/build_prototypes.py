#!/usr/bin/env python
"""Rebuild the prototype CIFs in ``seeds/prototypes/`` and ``seeds/prototypes.yaml``.

Every prototype is written down below as crystallographic facts: space group,
lattice constants, and the occupied Wyckoff sites with their coordinates, plus the
literature reference they come from. The script expands them with
``Structure.from_spacegroup``, orders the few partially occupied sites
(documented in each ``notes`` field), sanity-checks the result (composition,
charge balance, shortest distances, density) and writes one CIF per prototype
and the index ``prototypes.yaml`` that :mod:`matscreen.candidates.prototypes`
reads.

Conventions
-----------
* Space groups are given as pymatgen symbols. pymatgen uses ITA origin
  choice 1 for groups with two origins (``Fd-3m``, ``I4_1/acd``); coordinates
  published in origin choice 2 are listed as published and converted with
  ``origin_shift`` (added to every coordinate).
* "Idealised" coordinates are the positions of a perfect close-packed anion
  lattice (or perfect octahedra) in the published cell. They are used where
  the refined free parameters are not needed for screening (the structures are
  relaxed with an MLIP later in the pipeline) and are flagged as such.

Run ``python seeds/build_prototypes.py`` from the repository root; it needs
only pymatgen and PyYAML and takes a few seconds.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

LOG = logging.getLogger("build_prototypes")
HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------
REF = {
    "asano2018": {
        "authors": "T. Asano, A. Sakai, S. Ouchi, M. Sakaida, A. Miyazaki, S. Hasegawa",
        "title": "Solid halide electrolytes with high lithium-ion conductivity for "
        "application in 4 V class bulk-type all-solid-state batteries",
        "journal": "Advanced Materials 30, 1803075",
        "year": 2018,
        "doi": "10.1002/adma.201803075",
    },
    "li2019": {
        "authors": "X. Li, J. Liang, N. Chen, J. Luo, K. R. Adair, C. Wang, et al.",
        "title": "Water-mediated synthesis of a superionic halide solid electrolyte",
        "journal": "Angewandte Chemie International Edition 58, 16427",
        "year": 2019,
        "doi": "10.1002/anie.201909805",
    },
    "wang2021": {
        "authors": "K. Wang, Q. Ren, Z. Gu, C. Duan, J. Wang, F. Zhu, et al.",
        "title": "A cost-effective and humidity-tolerant chloride solid electrolyte "
        "for lithium batteries",
        "journal": "Nature Communications 12, 4410",
        "year": 2021,
        "doi": "10.1038/s41467-021-24697-2",
    },
    "awaka2009": {
        "authors": "J. Awaka, N. Kijima, H. Hayakawa, J. Akimoto",
        "title": "Synthesis and structure analysis of tetragonal Li7La3Zr2O12 with the "
        "garnet-related type structure",
        "journal": "Journal of Solid State Chemistry 182, 2046",
        "year": 2009,
        "doi": "10.1016/j.jssc.2009.05.020",
    },
    "aono1990": {
        "authors": "H. Aono, E. Sugimoto, Y. Sadaoka, N. Imanaka, G. Adachi",
        "title": "Ionic conductivity of solid electrolytes based on lithium titanium phosphate",
        "journal": "Journal of The Electrochemical Society 137, 1023",
        "year": 1990,
        "doi": "10.1149/1.2086597",
    },
    "inaguma1993": {
        "authors": "Y. Inaguma, L. Chen, M. Itoh, T. Nakamura, T. Uchida, H. Ikuta, M. Wakihara",
        "title": "High ionic conductivity in lithium lanthanum titanate",
        "journal": "Solid State Communications 86, 689",
        "year": 1993,
        "doi": "10.1016/0038-1098(93)90841-A",
    },
    "zhao2012": {
        "authors": "Y. Zhao, L. L. Daemen",
        "title": "Superionic conductivity in lithium-rich anti-perovskites",
        "journal": "Journal of the American Chemical Society 134, 15042",
        "year": 2012,
        "doi": "10.1021/ja305709z",
    },
    "thackeray1983": {
        "authors": "M. M. Thackeray, W. I. F. David, P. G. Bruce, J. B. Goodenough",
        "title": "Lithium insertion into manganese spinels",
        "journal": "Materials Research Bulletin 18, 461",
        "year": 1983,
        "doi": "10.1016/0025-5408(83)90138-1",
    },
    "kim2004": {
        "authors": "J.-H. Kim, S.-T. Myung, C. S. Yoon, S. G. Kang, Y.-K. Sun",
        "title": "Comparative study of LiNi0.5Mn1.5O4-delta and LiNi0.5Mn1.5O4 cathodes "
        "having two crystallographic structures: Fd-3m and P4332",
        "journal": "Chemistry of Materials 16, 906",
        "year": 2004,
        "doi": "10.1021/cm035050s",
    },
    "strobel1988": {
        "authors": "P. Strobel, B. Lambert-Andron",
        "title": "Crystallographic and magnetic structure of Li2MnO3",
        "journal": "Journal of Solid State Chemistry 75, 90",
        "year": 1988,
        "doi": "10.1016/0022-4596(88)90305-2",
    },
    "armstrong1996": {
        "authors": "A. R. Armstrong, P. G. Bruce",
        "title": "Synthesis of layered LiMnO2 as an electrode for rechargeable lithium batteries",
        "journal": "Nature 381, 499",
        "year": 1996,
        "doi": "10.1038/381499a0",
    },
    "padhi1997": {
        "authors": "A. K. Padhi, K. S. Nanjundaswamy, J. B. Goodenough",
        "title": "Phospho-olivines as positive-electrode materials for rechargeable "
        "lithium batteries",
        "journal": "Journal of The Electrochemical Society 144, 1188",
        "year": 1997,
        "doi": "10.1149/1.1837571",
    },
}

# ---------------------------------------------------------------------------
# Crystallographic facts
# Each site: (species, Wyckoff label, (x, y, z)) in the setting described.
# ---------------------------------------------------------------------------
THIRD = 1.0 / 3.0
PROTOTYPES: list[dict[str, Any]] = [
    {
        "name": "Li3YCl6_P-3m1",
        "formula": "Li3YCl6",
        "spacegroup": "P-3m1",
        "number": 164,
        "family": "halide_electrolyte",
        "lattice": {"a": 11.2055, "c": 6.0346},
        "sites": [
            ("Y", "1a", (0.0, 0.0, 0.0)),
            ("Y", "2d", (THIRD, 2 * THIRD, 0.4877)),
            ("Li", "6g", (THIRD, 0.0, 0.0)),
            ("Li", "6h", (THIRD, 0.0, 0.5)),  # half occupied, ordered below
            ("Cl", "6i", (1 / 9, -1 / 9, 0.25)),
            ("Cl", "6i", (4 / 9, -4 / 9, 0.25)),
            ("Cl", "6i", (7 / 9, -7 / 9, 0.25)),
        ],
        "order": {
            "Li_6h_keep": [(THIRD, 0.0, 0.5), (0.0, THIRD, 0.5), (2 * THIRD, 2 * THIRD, 0.5)]
        },
        "interstitials": {
            "Li": [(2 * THIRD, 0.0, 0.5), (0.0, 2 * THIRD, 0.5), (THIRD, THIRD, 0.5)]
        },
        "reference": "asano2018",
        "notes": (
            "Lattice constants, space group and cation Wyckoff sites from Asano et al. "
            "(Y1 1a, Y2 2d, Li1 6g full, Li2 6h half occupied; hcp Cl on three 6i sites). "
            "Ordered approximant of the partially occupied Li2 6h site: the three 6h "
            "positions related by the 3-fold axis are kept (P-3m1 -> P321-type "
            "subgroup). Cl coordinates idealised to the hcp positions (x = 1/9, 4/9, "
            "7/9; z = 1/4); Li at the ideal octahedral centres (x = 1/3). The three "
            "empty 6h positions are listed as Li interstitial sites (Li excess)."
        ),
    },
    {
        "name": "Li3InCl6_C2m",
        "formula": "Li3InCl6",
        "spacegroup": "C2/m",
        "number": 12,
        "family": "halide_electrolyte",
        "lattice": {"a": 6.41, "b": 11.08, "c": 6.40, "beta": 109.8},
        "sites": [
            ("In", "2a", (0.0, 0.0, 0.0)),
            ("Li", "4h", (0.0, 5 / 6, 0.5)),
            ("Li", "2d", (0.0, 0.5, 0.5)),
            ("Cl", "4i", (0.25, 0.0, 0.75)),
            ("Cl", "8j", (0.25, THIRD, 0.75)),
        ],
        "reference": "li2019",
        "notes": (
            "Li3InCl6 (Li3ScCl6-type, layered ccp Cl with an In layer and a Li layer). "
            "Cell (rounded) and site assignment after Li et al.: In1 2a, Li1 4h, Li2 2d. "
            "The minor In2 4g occupancy (a few %) and the small Li occupancy in the In "
            "layer are neglected (ordered approximant: In fully on 2a, 4g empty). Free "
            "coordinates idealised to regular octahedra in the published cell."
        ),
    },
    {
        "name": "Li2ZrCl6_P-3m1",
        "formula": "Li2ZrCl6",
        "spacegroup": "P-3m1",
        "number": 164,
        "family": "halide_electrolyte",
        "lattice": {"a": 10.95, "c": 5.93},
        "sites": [
            ("Zr", "1a", (0.0, 0.0, 0.0)),
            ("Zr", "2d", (THIRD, 2 * THIRD, 0.5)),
            ("Li", "6g", (THIRD, 0.0, 0.0)),
            ("Cl", "6i", (1 / 9, -1 / 9, 0.25)),
            ("Cl", "6i", (4 / 9, -4 / 9, 0.25)),
            ("Cl", "6i", (7 / 9, -7 / 9, 0.25)),
        ],
        "interstitials": {
            "Li": [
                (THIRD, 0.0, 0.5),
                (0.0, THIRD, 0.5),
                (2 * THIRD, 2 * THIRD, 0.5),
                (2 * THIRD, 0.0, 0.5),
                (0.0, 2 * THIRD, 0.5),
                (THIRD, THIRD, 0.5),
            ]
        },
        "reference": "wang2021",
        "notes": (
            "Trigonal (ball-milled) Li2ZrCl6, Li3YCl6-type hcp Cl framework. Lattice "
            "constants rounded to ~0.5% from Wang et al. Ordered approximant: Zr on 1a + "
            "2d, Li fully on 6g (the paper's Li distribution over the octahedral 6g/6h "
            "sites is disordered). Idealised hcp Cl coordinates. The empty 6h octahedral "
            "sites are listed as Li interstitial sites (Li2+xZr1-xMxCl6)."
        ),
    },
    {
        "name": "Li7La3Zr2O12_I41acd",
        "formula": "Li7La3Zr2O12",
        "spacegroup": "I4_1/acd",
        "number": 142,
        "family": "oxide_electrolyte",
        "lattice": {"a": 13.134, "c": 12.663},
        "origin_shift": (0.0, -0.25, 0.125),
        "sites": [
            ("La", "8b", (0.0, 0.25, 0.125)),
            ("La", "16e", (0.1253, 0.0, 0.25)),
            ("Zr", "16c", (0.0, 0.0, 0.0)),
            ("Li", "8a", (0.0, 0.25, 0.375)),
            ("Li", "16f", (0.1834, 0.4334, 0.125)),
            ("Li", "32g", (0.1437, 0.1734, 0.4422)),
            ("O", "32g", (0.2817, 0.1034, 0.1965)),
            ("O", "32g", (0.1915, 0.2833, 0.0966)),
            ("O", "32g", (0.0994, 0.1954, 0.2834)),
        ],
        "reference": "awaka2009",
        "notes": (
            "Tetragonal garnet, fully ordered Li (8a tetrahedral, 16f and 32g "
            "octahedral), coordinates in origin choice 2 as published by Awaka et al. "
            "(shifted by (0, -1/4, 1/8) to pymatgen's origin choice 1). The Li(3) 32g "
            "position is the octahedral centre derived from the cubic 48g site, moved "
            "0.3 A away from the occupied 8a tetrahedron (the displacement Awaka et al. "
            "describe); treat it as approximate. 192 atoms conventional, 96 primitive."
        ),
    },
    {
        "name": "LiTi2(PO4)3_R-3c",
        "formula": "LiTi2(PO4)3",
        "spacegroup": "R-3c",
        "number": 167,
        "family": "oxide_electrolyte",
        "lattice": {"a": 8.511, "c": 20.843},
        "sites": [
            ("Li", "6b", (0.0, 0.0, 0.0)),
            ("Ti", "12c", (0.0, 0.0, 0.1418)),
            ("P", "18e", (0.2887, 0.0, 0.25)),
            ("O", "36f", (0.1828, -0.0113, 0.1929)),
            ("O", "36f", (0.1907, 0.1684, 0.0847)),
        ],
        "interstitials": {"Li": [("18e", (0.66, 0.0, 0.25))]},
        "reference": "aono1990",
        "notes": (
            "NASICON LiTi2(PO4)3 (hexagonal setting): Li on M1 6b, TiO6 12c, PO4 18e. "
            "Lattice constants of LiTi2(PO4)3 as reported for the LATP parent phase; "
            "framework coordinates are typical refined NASICON values (check against "
            "the ICSD entry before quoting them). The M2 18e cavity (x ~ 0.66, the Na2 "
            "site of Na-NASICON) is listed as the Li interstitial site used for "
            "Li1+xAlxTi2-x(PO4)3-type compensation; in LATP the extra Li sits on "
            "M3 36f near it."
        ),
    },
    {
        "name": "Li0.5La0.5TiO3_P4mmm",
        "formula": "Li0.5La0.5TiO3",
        "spacegroup": "P4/mmm",
        "number": 123,
        "family": "oxide_electrolyte",
        "lattice": {"a": 3.87, "c": 7.74},
        "sites": [
            ("La", "1a", (0.0, 0.0, 0.0)),
            ("Li", "1b", (0.0, 0.0, 0.5)),
            ("Ti", "2h", (0.5, 0.5, 0.25)),
            ("O", "1c", (0.5, 0.5, 0.0)),
            ("O", "1d", (0.5, 0.5, 0.5)),
            ("O", "4i", (0.0, 0.5, 0.25)),
        ],
        "reference": "inaguma1993",
        "notes": (
            "Ordered approximant of perovskite LLTO Li3xLa2/3-xTiO3 at x = 1/6, i.e. "
            "Li0.5La0.5TiO3 (LiLaTi2O6): a 1x1x2 perovskite cell with alternating "
            "La and Li A-site layers along c (the La-rich/La-poor layering of real "
            "LLTO taken to its limit). Li sits at the A-site centre (in the real "
            "material it is displaced towards the O4 windows). Pseudo-cubic a = 3.87 A."
        ),
    },
    {
        "name": "Li3OCl_Pm-3m",
        "formula": "Li3OCl",
        "spacegroup": "Pm-3m",
        "number": 221,
        "family": "oxide_electrolyte",
        "lattice": {"a": 3.91},
        "sites": [
            ("O", "1b", (0.5, 0.5, 0.5)),
            ("Cl", "1a", (0.0, 0.0, 0.0)),
            ("Li", "3c", (0.0, 0.5, 0.5)),
        ],
        "reference": "zhao2012",
        "notes": "Cubic anti-perovskite (Li6O octahedra, Cl on the A site); a = 3.91 A.",
    },
    {
        "name": "LiMn2O4_Fd-3m",
        "formula": "LiMn2O4",
        "spacegroup": "Fd-3m:2",
        "number": 227,
        "family": "mn_cathode",
        "lattice": {"a": 8.245},
        "sites": [
            ("Li", "8a", (0.125, 0.125, 0.125)),
            ("Mn", "16d", (0.5, 0.5, 0.5)),
            ("O", "32e", (0.2630, 0.2630, 0.2630)),
        ],
        "reference": "thackeray1983",
        "notes": (
            "Cubic spinel in origin choice 2 (Li 8a at 1/8, Mn 16d at 1/2, O 32e x = 0.263). "
            "Mn3+/Mn4+ mixed valence (average +3.5)."
        ),
    },
    {
        "name": "LiNi0.5Mn1.5O4_P4332",
        "formula": "LiNi0.5Mn1.5O4",
        "spacegroup": "P4_332",
        "number": 212,
        "family": "mn_cathode",
        "lattice": {"a": 8.17},
        "sites": [
            ("Li", "8c", (0.5, 0.0, 0.5)),
            ("Ni", "4b", (0.625, 0.625, 0.625)),
            ("Mn", "12d", (0.875, 0.625, 0.875)),
            ("O", "8c", (0.862, 0.862, 0.862)),
            ("O", "24e", (0.112, 0.388, 0.112)),
        ],
        "reference": "kim2004",
        "notes": (
            "Ni/Mn-ordered spinel (P4_332, a = 8.17 A): Ni on 4b, Mn on 12d, Li 8c, O 8c + 24e "
            "(Ni2+/Mn4+). Coordinates are the ideal positions inherited from the Fd-3m "
            "parent (origin choice 1: Li 8a at 0, Mn/Ni 16d at 5/8, O 32e x = 0.388); "
            "the refined P4_332 free parameters of Kim et al. differ from them by < 0.01."
        ),
    },
    {
        "name": "Li2MnO3_C2m",
        "formula": "Li2MnO3",
        "spacegroup": "C2/m",
        "number": 12,
        "family": "mn_cathode",
        "lattice": {"a": 4.937, "b": 8.532, "c": 5.030, "beta": 109.46},
        "sites": [
            ("Li", "2b", (0.0, 0.5, 0.0)),
            ("Li", "2c", (0.0, 0.0, 0.5)),
            ("Li", "4h", (0.0, 0.660, 0.5)),
            ("Mn", "4g", (0.0, 0.1667, 0.0)),
            ("O", "4i", (0.2189, 0.0, 0.2273)),
            ("O", "8j", (0.2540, 0.3212, 0.2233)),
        ],
        "reference": "strobel1988",
        "notes": "Li-rich layered end member (honeycomb LiMn2 layers). Mn4+.",
    },
    {
        "name": "LiMnO2_C2m",
        "formula": "LiMnO2",
        "spacegroup": "C2/m",
        "number": 12,
        "family": "mn_cathode",
        "lattice": {"a": 5.4387, "b": 2.80857, "c": 5.3878, "beta": 116.006},
        "sites": [
            ("Li", "2d", (0.0, 0.5, 0.5)),
            ("Mn", "2a", (0.0, 0.0, 0.0)),
            ("O", "4i", (0.2723, 0.0, 0.7706)),
        ],
        "reference": "armstrong1996",
        "notes": (
            "Monoclinic layered LiMnO2 (alpha-NaFeO2-derived, Jahn-Teller distorted "
            "Mn3+), the C2/m polymorph of Armstrong & Bruce (not orthorhombic Pmmn)."
        ),
    },
    {
        "name": "LiMnPO4_Pnma",
        "formula": "LiMnPO4",
        "spacegroup": "Pnma",
        "number": 62,
        "family": "mn_cathode",
        "lattice": {"a": 10.446, "b": 6.103, "c": 4.744},
        "sites": [
            ("Li", "4a", (0.0, 0.0, 0.0)),
            ("Mn", "4c", (0.2822, 0.25, 0.9720)),
            ("P", "4c", (0.0921, 0.25, 0.4083)),
            ("O", "4c", (0.0968, 0.25, 0.7428)),
            ("O", "4c", (0.4571, 0.25, 0.2060)),
            ("O", "8d", (0.1636, 0.0472, 0.2832)),
        ],
        "reference": "padhi1997",
        "notes": (
            "Olivine (LiFePO4-type). Lattice constants of LiMnPO4; free coordinates "
            "typical refined olivine values for LiMnPO4."
        ),
    },
]

COMMON_OXI = {
    "Li": 1,
    "Y": 3,
    "In": 3,
    "Zr": 4,
    "Cl": -1,
    "La": 3,
    "O": -2,
    "Ti": 4,
    "P": 5,
    "Ni": 2,
    "Co": 3,
    "Fe": 2,
}


def _lattice(spec: dict[str, float], number: int) -> Lattice:
    """Return the lattice for the cell constants in ``spec``."""
    a = spec["a"]
    if number >= 195:
        return Lattice.cubic(a)
    if number >= 143:
        return Lattice.hexagonal(a, spec["c"])
    if number >= 75:
        return Lattice.tetragonal(a, spec["c"])
    if number >= 16:
        return Lattice.orthorhombic(a, spec["b"], spec["c"])
    return Lattice.monoclinic(a, spec["b"], spec["c"], spec["beta"])


def _close(f1: np.ndarray, f2: np.ndarray, tol: float = 1e-3) -> bool:
    d = np.asarray(f1) - np.asarray(f2)
    d -= np.round(d)
    return bool(np.all(np.abs(d) < tol))


def build(proto: dict[str, Any]) -> tuple[Structure, list[list[float]]]:
    """Expand the facts of one prototype into an ordered structure.

    Returns
    -------
    structure, interstitials
        The ordered structure and the Li interstitial positions (fractional, in
        the same cell).
    """
    lattice = _lattice(proto["lattice"], proto["number"])
    shift = np.asarray(proto.get("origin_shift", (0.0, 0.0, 0.0)))
    species = [s[0] for s in proto["sites"]]
    coords = [np.mod(np.asarray(s[2], float) + shift, 1.0) for s in proto["sites"]]
    structure = Structure.from_spacegroup(proto["spacegroup"], lattice, species, coords)
    order = proto.get("order", {})
    if "Li_6h_keep" in order:
        keep = [np.asarray(c) for c in order["Li_6h_keep"]]
        drop = [
            i
            for i, site in enumerate(structure)
            if site.specie.symbol == "Li"
            and abs(site.frac_coords[2] - 0.5) < 1e-3
            and not any(_close(site.frac_coords, k) for k in keep)
        ]
        structure.remove_sites(drop)
    inter: list[list[float]] = []
    for _el, positions in proto.get("interstitials", {}).items():
        for pos in positions:
            if isinstance(pos[0], str):  # a Wyckoff orbit to expand
                orbit = Structure.from_spacegroup(
                    proto["spacegroup"], lattice, ["Li"], [np.mod(np.asarray(pos[1]) + shift, 1)]
                )
                inter.extend([list(map(float, s.frac_coords)) for s in orbit])
            else:
                inter.append([float(x) for x in np.mod(np.asarray(pos) + shift, 1.0)])
    return structure, inter


def check(structure: Structure, interstitials: list[list[float]]) -> dict[str, Any]:
    """Sanity checks: charge, shortest distances, density. Raises on failure."""
    comp = structure.composition
    oxi = {"Mn": None}
    charge = 0.0
    mn_like = 0.0
    for el, amt in comp.items():
        sym = el.symbol
        if sym in ("Mn",):
            mn_like += amt
            continue
        charge += COMMON_OXI[sym] * amt
    if mn_like:
        avg = -charge / mn_like
        if not 2.0 <= avg <= 4.0:
            raise ValueError(f"{comp.reduced_formula}: Mn valence {avg:.2f} outside 2..4")
        oxi["Mn"] = round(avg, 3)
    elif abs(charge) > 1e-6:
        raise ValueError(f"{comp.reduced_formula} is not charge balanced ({charge})")
    dm = structure.distance_matrix.copy()
    np.fill_diagonal(dm, np.inf)
    dmin = float(dm.min())
    symbols = [site.specie.symbol for site in structure]
    for i, j in zip(*np.where(dm < 1.6), strict=True):
        if {symbols[i], symbols[j]} not in ({"P", "O"}, {"Si", "O"}) or dm[i, j] < 1.4:
            raise ValueError(
                f"{comp.reduced_formula}: {symbols[i]}-{symbols[j]} at {dm[i, j]:.2f} A < 1.6 A"
            )
    for frac in interstitials:
        d = min(site.distance_and_image_from_frac_coords(frac)[0] for site in structure)
        if d < 1.7:
            raise ValueError(f"{comp.reduced_formula}: interstitial {frac} at {d:.2f} A")
    return {
        "min_distance_A": round(dmin, 3),
        "density_g_cm3": round(float(structure.density), 3),
        "mn_valence": oxi["Mn"],
    }


def main() -> int:
    """Rebuild every CIF and ``prototypes.yaml``."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    outdir = HERE / "prototypes"
    outdir.mkdir(exist_ok=True)
    index = []
    for proto in PROTOTYPES:
        structure, inter = build(proto)
        checks = check(structure, inter)
        fname = proto["name"].replace("/", "") + ".cif"
        CifWriter(structure, symprec=1e-3).write_file(outdir / fname)
        LOG.info(
            "%-24s %-20s %4d atoms  %s",
            proto["name"],
            structure.composition.reduced_formula,
            len(structure),
            checks,
        )
        sites = [
            {"species": s[0], "wyckoff": s[1], "coords": [round(float(x), 6) for x in s[2]]}
            for s in proto["sites"]
        ]
        index.append(
            {
                "name": proto["name"],
                "formula": proto["formula"],
                "spacegroup": proto["spacegroup"],
                "spacegroup_number": proto["number"],
                "family": proto["family"],
                "cif": f"prototypes/{fname}",
                "lattice": proto["lattice"],
                "origin_shift": list(proto.get("origin_shift", (0.0, 0.0, 0.0))),
                "sites": sites,
                "n_atoms": len(structure),
                "li_interstitials": [[round(x, 6) for x in f] for f in inter],
                "reference": REF[proto["reference"]],
                "notes": proto["notes"],
                "checks": checks,
            }
        )
    header = (
        "# Generated by seeds/build_prototypes.py -- edit the facts there, not here.\n"
        "# Coordinates of 'sites' are as published (before origin_shift);\n"
        "# li_interstitials are fractional coordinates in the CIF cell.\n"
    )
    text = yaml.safe_dump(
        {"prototypes": index}, sort_keys=False, width=100, default_flow_style=None
    )
    (HERE / "prototypes.yaml").write_text(header + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
