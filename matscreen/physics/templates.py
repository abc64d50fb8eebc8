"""Trial structures for a formula given without one: known structure types, substituted.

``predict stability`` places a structure on the hull; a formula alone has
none. When the formula is no reference phase itself, the usual first step
of a computational study is to take the known structure types of its
stoichiometry, substitute its elements and relax each with the MLIP; the
lowest energy is kept. :func:`template_structures` gives those trial cells
from the seeds/ prototypes (Li3YCl6, Li3InCl6, Li2ZrCl6, LLZO, spinels,
olivines, ...), the built-in reference structures (rutile, corundum,
rock salt, layered LiMO2, pyrochlore, ...) and the known-compound library
(751 Materials Project Li compounds,
:func:`~matscreen.physics.references.known_compound_structure`: Li3ErBr6 for
Li3YBr6, Li3GaF6 for Li3InF6, the argyrodite Li6PS5I for Li6PS5Cl, ...).

Matching: the atomic fractions are the same (an ``A3BX6`` formula, or
Li1.5Sc0.5Cl3, takes every ``A3BX6`` type); Li keeps a Li site (the
conducting ion stays on its sublattice); the other elements go to the sites
of equal amount, paired to move the chemistry least (anions on anion sites,
Pb on Ca's site of CaTiO3). The volume is scaled by the
cube of the ratio of mean atomic radii. Types whose substituted elements are
chemically closest (electronegativity and radius) come first.

Doped formulas (:func:`_doped_assignment`), used when no template has the
exact stoichiometry: several elements may share one template site when their
amounts add up to the site's (Li6.5La3Zr1.5Nb0.5O12 on the LLZO garnet, Zr
and Nb on the Zr site), and the Li sites may be partly empty (Li below the
template's, as aliovalent doping leaves it). The substituted cell has partial
occupancies and is ordered by Ewald energy
(:func:`~matscreen.candidates.ordering.order_structure`) before the MLIP
relaxes it. Only the prototypes and built-ins take doped formulas: the known
compounds take their exact stoichiometries (their larger cells, up to 60 sites,
would be ordered in supercells of minutes each). When no prototype or built-in
matches exactly, the doped matches and the library's exact ones are ranked
together by the atomic fraction each substitution moves, and the closest doped
one is always among the trials: a solid solution (LiNi0.5Mn0.5O2) keeps its
own type (layered LiMnO2, Ni sharing the Mn site) next to library compounds of
more elements with the same atomic fractions (Li2ZnGeO4, Ge->Ni and Zn->Mn),
and the MLIP's lowest energy decides.

A hull from such a structure is an upper bound of the true one: the real
compound may take a structure type that is not among the templates.
"""

from __future__ import annotations

import itertools
import logging
from functools import cache
from typing import TYPE_CHECKING, Any

from pymatgen.core import Composition, Element

from matscreen.candidates.ordering import OrderingError, order_structure
from matscreen.candidates.ordering import atomic_radius as _radius
from matscreen.core.formula import display_formula, fraction_distance
from matscreen.core.predict import FORMULA_CIF_TOLERANCE
from matscreen.physics.references import BINARY_ANIONS

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Collection

    from pymatgen.core import Structure

logger = logging.getLogger(__name__)

#: Trial structures tried per formula, closest templates first.
MAX_TEMPLATES = 3
#: Elements of one amount paired by trying every permutation up to this many.
_MAX_PERMUTED = 5
#: Doped formulas: relative tolerance on the summed amount of the elements sharing a site.
DOPED_RTOL = 0.03
#: Doped formulas: most non-Li elements assigned to template sites (k^n assignments).
MAX_DOPED_ELEMENTS = 7
#: Anions: they share only anion sites, and cations only cation sites.
_ANIONS = frozenset(BINARY_ANIONS)
#: Doped formulas: an element takes another's site only within this atomic-radius ratio
#: and Pauling electronegativity difference (Nb or Ta for Zr, In for Y; not P for La).
DOPED_RADIUS_RATIO = (0.75, 1.33)
DOPED_MAX_DX = 0.8
#: Doped formulas: weight of the rescaled amounts against the chemistry in the ranking.
AMOUNT_WEIGHT = 100.0
#: Doped formulas: most of the Li sites one other cation may take (Ga or Al in LLZO).
DOPED_LI_SITE_SHARE = 0.15
#: Doped formulas: least filling of the Li sites when another cation shares them. LLZO with
#: Ga or Al keeps 93 %, an antifluorite with a cation on one Li site in eight and a quarter
#: empty (Li5FeO4-like; Li8TiO6 on Li2O) 75 %; Li3Fe2(PO4)3 with Fe on the Li sites of
#: Li5GaO4 would keep 33 % (a 214-atom trial cell), LiTb(PO3)4 with Tb on those of Li3BO3
#: 17 %. Li alone may leave more empty (a delithiated Li0.5CoO2 on LiCoO2).
DOPED_LI_SITE_FILL = 0.7
#: Doped formulas: most of one cation site that Li beyond the template's Li sites may take
#: (Li-rich layered oxides, Li[Li0.2Mn0.6Ni0.2]O2; Li-excess spinels, Li[Li0.05Mn1.95]O4).
DOPED_LI_EXCESS_SHARE = 0.35
#: Key of that excess Li among the elements assigned to sites.
_LI_EXCESS = "Li+"
#: Kind of the templates from the known-compound library (``library:LiNbO3-mp-3731``).
LIBRARY = "library"


def _similar_size(element: str, site: str) -> bool:
    """Return whether two atomic radii are within :data:`DOPED_RADIUS_RATIO`."""
    ratio = _radius(element) / _radius(site)
    return DOPED_RADIUS_RATIO[0] <= ratio <= DOPED_RADIUS_RATIO[1]


def _can_share_li_site(element: str, share: float) -> bool:
    """Return whether a minor cation may sit on the Li sites (``share``: of those sites)."""
    return element not in _ANIONS and share <= DOPED_LI_SITE_SHARE and _similar_size(element, "Li")


def _can_take_site(element: str, site: str) -> bool:
    """Return whether ``element`` may occupy the sites of ``site`` in a doped template."""
    if element == site:
        return True
    return (
        _same_role(element, site)
        and "H" not in (element, site)
        and _similar_size(element, site)
        and abs(_x(element) - _x(site)) <= DOPED_MAX_DX
    )


def _index_version() -> str:
    """Return a digest of everything the template index is built from.

    The seeds' prototype files, the known-compound library, the modules that
    read them and build the reference structures, this module and the pymatgen
    version (symmetry finding): a change to any of them builds the index again.
    """
    import hashlib
    from importlib.metadata import version
    from pathlib import Path

    import matscreen.candidates.prototypes as prototypes
    import matscreen.physics.references as references
    from matscreen.core.paths import datasets_dir, seeds_dir

    digest = hashlib.sha1(f"pymatgen {version('pymatgen')}".encode())
    seeds = seeds_dir()
    files = [seeds / "prototypes.yaml", *sorted((seeds / "prototypes").rglob("*.cif"))]
    files.append(datasets_dir() / "reference_structures" / references.KNOWN_COMPOUNDS_FILE)
    code = [Path(m.__file__) for m in (prototypes, references)] + [Path(__file__)]
    for path in [*files, *code]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


@cache
def _templates() -> tuple[tuple[str, Composition, int], ...]:
    """Return (name, reduced element composition, space group) of every template.

    Building it takes 10-30 s (the built-in reference structures are made
    from their space groups; the symmetry of every cell is found), so it is
    kept in ``<cache>/physics/template_index.json`` for the next process, keyed
    by :func:`_index_version`.
    """
    from matscreen.candidates.prototypes import list_prototypes, load_prototype
    from matscreen.core.io import atomic_write_json, read_versioned_cache
    from matscreen.physics.references import (
        BUILTIN_REFERENCES,
        _li_compounds,
        builtin_reference_structure,
        cache_dir,
        known_compound_structure,
    )

    path = cache_dir() / "template_index.json"
    key = _index_version()
    kept = read_versioned_cache(path, key, "templates").get("items")
    if isinstance(kept, list) and kept:
        try:
            return tuple((str(name), Composition(comp), int(sg)) for name, comp, sg in kept)
        except (TypeError, ValueError) as exc:  # an edited file: built again
            logger.warning("template index %s unreadable (%s); building it again", path, exc)
    structures = [(f"prototype:{n}", load_prototype(n)) for n in list_prototypes()]
    structures += [(f"reference:{n}", builtin_reference_structure(n)) for n in BUILTIN_REFERENCES]
    structures += [(f"{LIBRARY}:{n}", known_compound_structure(n)) for n in _li_compounds()]
    out: list[tuple[str, Composition, int]] = []
    for name, s in structures:
        if s.is_ordered:
            comp = s.composition.element_composition.reduced_composition
            out.append((name, comp, s.get_space_group_info(symprec=0.1)[1]))
    items = [[name, comp.as_dict(), sg] for name, comp, sg in out]
    try:
        atomic_write_json(path, {"version": key, "templates": {"items": items}})
    except OSError as exc:
        logger.warning("cannot write the template index %s (%s)", path, exc)
    return tuple(out)


def _load(name: str) -> Structure:
    from matscreen.candidates.prototypes import load_prototype
    from matscreen.physics.references import builtin_reference_structure, known_compound_structure

    kind, _, key = name.partition(":")
    if kind == LIBRARY:
        return known_compound_structure(key)
    return load_prototype(key) if kind == "prototype" else builtin_reference_structure(key)


def _assignment(target: Composition, template: Composition) -> dict[str, str] | None:
    """Return template element -> target element, or None when the stoichiometries differ.

    Amounts are compared as atomic fractions (a fractional formula such as
    Li1.5Sc0.5Cl3 matches Li3YCl6). Within a group of equal amounts every
    pairing that keeps anions on anion sites is tried and the closest
    (:func:`_distance`) kept, so PbTiO3 on CaTiO3 puts Pb on the Ca site,
    not on Ti's.
    """
    t_amounts = {el.symbol: round(template.get_atomic_fraction(el), 5) for el in template}
    g_amounts = {el.symbol: round(target.get_atomic_fraction(el), 5) for el in target}
    if sorted(t_amounts.values()) != sorted(g_amounts.values()):
        return None
    if ("Li" in g_amounts) != ("Li" in t_amounts) or (
        "Li" in g_amounts and g_amounts["Li"] != t_amounts["Li"]
    ):
        return None
    mapping: dict[str, str] = {"Li": "Li"} if "Li" in g_amounts else {}
    for amount in sorted(set(g_amounts.values())):
        want = sorted(s for s, a in g_amounts.items() if a == amount and s != "Li")
        have = sorted(s for s, a in t_amounts.items() if a == amount and s != "Li")
        if len(have) > _MAX_PERMUTED:  # anions with anions, each in electronegativity order
            for role in (True, False):
                h = sorted((e for e in have if (e in _ANIONS) == role), key=_x)
                w = sorted((e for e in want if (e in _ANIONS) == role), key=_x)
                if len(h) != len(w):
                    return None
                mapping.update(zip(h, w, strict=True))
            continue
        orders = [
            order
            for order in itertools.permutations(want)
            if all(_same_role(a, b) for a, b in zip(have, order, strict=True))
        ]
        if not orders:  # e.g. H2O on RuO2 would put O on Ru's site
            return None
        best = min(orders, key=lambda order: _distance(dict(zip(have, order, strict=True))))
        mapping.update(zip(have, best, strict=True))
    return mapping


def _doped_assignment(
    target: Composition, template: Composition
) -> tuple[dict[str, dict[str, float]], float] | None:
    """Return template element -> {target element: occupancy} and its distance, or None.

    The target is scaled so its anion amounts add up to the template's (the
    non-Li amounts when either has no anion). Each non-Li target element goes
    to one template site (anions to anion sites); an element takes a site
    only when it is chemically close to the site's element
    (:func:`_can_take_site`), and the amounts on a site must add up to the
    site's within :data:`DOPED_RTOL` and then fill it exactly; the elements
    sharing a site must be close to each other too. Li goes to the Li sites,
    and one minor cation may join it there (Ga or Al on the Li sites of LLZO;
    at most :data:`DOPED_LI_SITE_SHARE` of them, the rest left empty, and only
    on Li sites at least :data:`DOPED_LI_SITE_FILL` filled). Li
    beyond the Li sites joins one cation site of a similar atomic radius, at
    most :data:`DOPED_LI_EXCESS_SHARE` of it, whatever shares it (Li[Li0.2
    Mn0.6Ni0.2]O2 on a layered LiMO2, Li[Li0.05Mn1.95]O4 on the spinel).
    Among the assignments that fit, the one that rescales
    the formula's amounts least, then moves the chemistry least
    (:func:`_distance`, weighted by the atomic fraction moved), is returned.
    """
    t_li, g_li = float(template["Li"]), float(target["Li"])
    if (t_li > 0) != (g_li > 0):
        return None
    t_sites = {el.symbol: float(a) for el, a in template.items() if el.symbol != "Li"}
    g_items = {el.symbol: float(a) for el, a in target.items() if el.symbol != "Li"}
    if not t_sites or not g_items or len(g_items) > MAX_DOPED_ELEMENTS:
        return None
    t_anions = sum(a for e, a in t_sites.items() if e in _ANIONS)
    g_anions = sum(a for e, a in g_items.items() if e in _ANIONS)
    if t_anions and g_anions:
        factor = t_anions / g_anions
    else:
        factor = sum(t_sites.values()) / sum(g_items.values())
    g_items = {e: a * factor for e, a in g_items.items()}
    g_li *= factor
    if g_li > (1.0 + DOPED_RTOL) * t_li:  # Li-rich: the excess goes to a cation site
        g_items[_LI_EXCESS] = g_li - t_li
        g_li = t_li
    sites = sorted(t_sites)
    elements = sorted(g_items)
    symbol = {e: "Li" if e == _LI_EXCESS else e for e in elements}  # the element placed
    options = []
    for e in elements:
        if e == _LI_EXCESS:
            allowed = [
                t for t in sites
                if t not in _ANIONS and _similar_size("Li", t)
                and g_items[e] <= DOPED_LI_EXCESS_SHARE * t_sites[t]
            ]  # fmt: skip
            options.append(allowed)
            continue
        allowed = [t for t in sites if _can_take_site(e, t)]
        if t_li and _can_share_li_site(e, g_items[e] / t_li):
            allowed.append("Li")
        options.append(allowed)
    best: tuple[float, dict[str, dict[str, float]]] | None = None
    for choice in itertools.product(*options):
        if not set(sites) <= set(choice):
            continue
        sums = dict.fromkeys(sites, 0.0) | {"Li": g_li}
        for e, t in zip(elements, choice, strict=True):
            sums[t] += g_items[e]
        if any(abs(sums[t] - t_sites[t]) > DOPED_RTOL * t_sites[t] for t in sites):
            continue
        on_li = [e for e, t in zip(elements, choice, strict=True) if t == "Li"]
        if len(on_li) > 1 or (t_li and sums["Li"] > (1.0 + DOPED_RTOL) * t_li):
            continue  # one minor cation on the Li sites at most
        if on_li and sums["Li"] < DOPED_LI_SITE_FILL * t_li:
            continue  # a cation on Li sites that are mostly empty
        sharing = [
            [e for e, c in zip(elements, choice, strict=True) if c == t and e != _LI_EXCESS]
            for t in sites
        ]
        if not all(_can_take_site(a, b) for group in sharing for a in group for b in group):
            continue  # Fe, Mn and P on one site (excess Li joins any, as in Li-rich NMC)
        # a site is filled by what it holds; the Li sites may keep vacancies
        capacity = sums | {"Li": max(sums["Li"], t_li)}
        occupancy: dict[str, dict[str, float]] = {t: {} for t in sites}
        if t_li:
            occupancy["Li"] = {"Li": g_li / capacity["Li"]}
        for e, t in zip(elements, choice, strict=True):
            occupancy[t][symbol[e]] = g_items[e] / capacity[t]
        total = g_li + sum(g_items.values())  # weights: atomic fractions, scale-free
        # least change of the formula's amounts first (filling a site rescales them), then
        # least change of chemistry: Ga in Li6.85Ga0.05La3Zr2O12 joins Li, as Zr fills its site
        rescaled = sum(abs(sums[t] - t_sites[t]) for t in sites) / total
        distance = AMOUNT_WEIGHT * rescaled + sum(
            g_items[e] / total * _distance({t: symbol[e]})
            for e, t in zip(elements, choice, strict=True)
        )
        if best is None or distance < best[0]:
            best = (distance, occupancy)
    if best is None:
        return None
    return best[1], best[0]


def _as_element(new: str | dict[str, float]) -> str | dict[str, float]:
    """Return a full occupancy by one element (``{"Y": 1.0}``) as that element."""
    if isinstance(new, dict) and len(new) == 1 and abs(sum(new.values()) - 1.0) < 1e-9:
        return next(iter(new))
    return new


def _is_library(name: str) -> bool:
    """Return whether a template is a cell of the known-compound library.

    Built-ins made from one (:data:`~matscreen.physics.references.LIBRARY_CELL_REFERENCES`)
    count as library cells.
    """
    from matscreen.physics.references import LIBRARY_CELL_REFERENCES

    kind, _, key = name.partition(":")
    return kind == LIBRARY or (kind == "reference" and key in LIBRARY_CELL_REFERENCES)


def _same_role(a: str, b: str) -> bool:
    """Return whether two elements may swap sites: both anions or both cations (H either)."""
    return "H" in (a, b) or (a in _ANIONS) == (b in _ANIONS)


def _x(symbol: str) -> float:
    """Return the Pauling electronegativity (noble gases, which have none: 0)."""
    x = Element(symbol).X
    return 0.0 if x != x else float(x)


def _distance(mapping: dict[str, str]) -> float:
    """Return how far the substitution moves the chemistry (0 for the template's own formula)."""
    total = 0.0
    for old, new in mapping.items():
        total += abs(_x(old) - _x(new)) + abs(_radius(old) - _radius(new))
    return total


def template_structures(
    composition: Composition | str,
    max_templates: int = MAX_TEMPLATES,
    reasons: list[str] | None = None,
    leave_out: Collection[str] = (),
) -> list[tuple[str, Structure]]:
    """Return trial structures of a formula from the known structure types of its stoichiometry.

    Parameters
    ----------
    composition
        The formula (any amounts; compared as atomic fractions).
    max_templates
        Keep the closest this many (see :func:`_distance`).
    reasons
        If given, why matching templates were not used is appended to it
        (an ordered cell that cannot hold a dopant, ...).
    leave_out
        Template names not used (``library:Li2TiO3-mp-2931``): a benchmark placing a
        known compound as if it were new leaves out its own cells.

    Returns
    -------
    list of (str, Structure)
        ``(label, structure)``, closest first; the label names the template
        and the substitution (``prototype:Li3YCl6_P-3m1 Y->Sc``). Empty when no
        template has the formula's stoichiometry. A cell ordered from shared
        sites says how in ``structure.properties["ordering"]``.
    """
    target = Composition(composition).element_composition
    if any(not isinstance(el, Element) for el in target):
        return []
    matches: list[tuple[float, str, int, dict[str, Any]]] = []
    templates = [t for t in _templates() if t[0] not in leave_out]
    for name, template, space_group in templates:
        mapping = _assignment(target, template)
        if mapping is not None:
            matches.append((_distance(mapping), name, space_group, mapping))
    doped: list[tuple[float, str, int, dict[str, Any]]] = []
    if all(_is_library(m[1]) for m in matches):
        # no prototype or built-in of the exact stoichiometry: sites shared by dopants, then
        # ordered. A solid solution may match a library compound with more elements exactly
        # (LiNi0.5Mn0.5O2 the atomic fractions of Li2ZnGeO4), so both kinds are ranked
        # together by the atomic fraction each substitution moves (the doped distance)
        for name, template, space_group in templates:
            found = None if _is_library(name) else _doped_assignment(target, template)
            if found is not None:
                doped.append((found[1], name, space_group, found[0]))
        if doped:
            total = sum(target.values())
            matches = doped + [
                (sum(target[new] / total * _distance({old: new}) for old, new in m[3].items()),
                 *m[1:])
                for m in matches
            ]  # fmt: skip
    matches.sort(key=lambda m: (m[0], m[1]))
    if doped:  # the closest shared-site type is always tried
        first = next(k for k, m in enumerate(matches) if not _is_library(m[1]))
        if first >= max_templates:
            matches.insert(max_templates - 1, matches.pop(first))
    # one trial per structure type: built-ins of one type (LiNiO2, LiCrO2, LiFeO2) differ
    # only by the element, so the closest stands for them
    out: list[tuple[str, Structure]] = []
    chosen: list[str] = []
    for _, name, space_group, mapping in matches:
        if len(out) == max_templates:
            break
        if any(_same_type(name, other, space_group) for other in chosen):
            continue
        try:
            label, structure = _substituted(name, mapping)
            label += _realised(target, structure.composition)
        except (OrderingError, ValueError) as exc:
            logger.info("template %s not used for %s: %s", name, display_formula(target), exc)
            if reasons is not None:
                reasons.append(f"{name}: {exc}")
            continue
        out.append((label, structure))
        chosen.append(name)
    if not out:  # no structure type of the stoichiometry: the compound's own published cell
        out = known_structures(target, max_structures=max_templates, reasons=reasons)
    logger.debug("templates of %s: %s", display_formula(target), [label for label, _ in out])
    return out


#: Known structures: a shipped CIF whose composition is within this atomic-fraction L1 of the
#: formula is the formula's compound (the tolerance ``predict`` uses to say a formula and its
#: CIF agree).
KNOWN_STRUCTURE_TOLERANCE = FORMULA_CIF_TOLERANCE


def known_structures(
    composition: Composition | str,
    max_structures: int = MAX_TEMPLATES,
    reasons: list[str] | None = None,
) -> list[tuple[str, Structure]]:
    """Return the published cells of a formula's compound from the shipped OBELiX CIFs.

    The fallback of :func:`template_structures` for a compound whose
    stoichiometry no structure type here has (Li6PS5Cl, Li7P3S11): the
    321 experimental structures of ``datasets/obelix/all_cifs.tar.gz``
    (OBELiX, CC BY 4.0; positions with the authors' small added noise) whose
    composition matches the formula within :data:`KNOWN_STRUCTURE_TOLERANCE`,
    closest first, one per space group; a disordered one is ordered by Ewald
    energy (:func:`~matscreen.candidates.ordering.order_structure`).

    Parameters
    ----------
    composition
        The formula.
    max_structures
        Most cells returned.
    reasons
        If given, why a matching CIF was not used is appended to it.

    Returns
    -------
    list of (str, Structure)
        ``(label, structure)``; the label names the OBELiX entry and its paper
        (``known structure: OBELiX 122 (10.1021/jacs.7b06327)``).
    """
    from matscreen.datasets.obelix import load_obelix, obelix_structures

    target = Composition(composition).element_composition
    try:
        structures = obelix_structures()
    except (OSError, ValueError) as exc:  # a trimmed install without the tarball
        logger.info("no shipped OBELiX structures to fall back on: %s", exc)
        return []
    close = []
    for entry_id, s in structures.items():
        distance = fraction_distance(s.composition, target)
        if distance <= KNOWN_STRUCTURE_TOLERANCE:
            close.append((distance, not s.is_ordered, len(s), entry_id))
    if not close:
        return []
    table = load_obelix("all", structures=False).set_index("id")
    out: list[tuple[str, Structure]] = []
    groups: set[Any] = set()
    for _, _, _, entry_id in sorted(close):
        if len(out) == max_structures:
            break
        s = structures[entry_id].copy()
        # the space group the paper gives (spglib cannot read a cell with partial occupancies)
        group = table["space_group_number"].get(entry_id, entry_id)
        if group in groups:
            continue
        doi = table["doi"].get(entry_id)
        label = f"known structure: OBELiX {entry_id} ({doi if isinstance(doi, str) else 'no DOI'})"
        try:
            if not s.is_ordered:
                ordered = order_structure(s)
                s = ordered.structure
                s.properties["ordering"] = ordered.note
            label += _realised(target, s.composition)
        except (OrderingError, ValueError) as exc:
            logger.info("%s not used for %s: %s", label, display_formula(target), exc)
            if reasons is not None:
                reasons.append(f"{label}: {exc}")
            continue
        for site in s:
            site.label = site.specie.symbol
        out.append((label, s))
        groups.add(group)
    return out


#: A trial cell whose atomic fraction of an element differs from the formula's by more than
#: this (relative) says so in its label.
REALISED_RTOL = 0.01


def _realised(target: Composition, realised: Composition) -> str:
    """Return a label suffix when a trial cell's composition differs from the formula's.

    Raises
    ------
    ValueError
        If an element of the formula is missing from the cell (a dopant below
        what the ordered cell can hold).
    """
    realised = realised.element_composition
    missing = [el.symbol for el in target if realised[el] == 0]
    if missing:
        raise ValueError(
            f"{', '.join(missing)} too dilute for an ordered cell (came out "
            f"{realised.reduced_formula})"
        )
    off = max(
        abs(realised.get_atomic_fraction(el) / target.get_atomic_fraction(el) - 1.0)
        for el in target
    )
    if off <= REALISED_RTOL:
        return ""
    return f"; realised as {realised.reduced_formula} (amounts off by up to {100 * off:.0f} %)"


def _substituted(name: str, mapping: dict[str, Any]) -> tuple[str, Structure]:
    """Return a template with its elements replaced, and a label saying how.

    ``mapping`` maps a template element to one element (an exact match) or to
    ``{element: occupancy}`` (:func:`_doped_assignment`); a cell with partial
    occupancies is built on the primitive cell and ordered by Ewald energy
    (the ordering's note in ``structure.properties["ordering"]``). The volume
    is scaled by the cube of the ratio of mean atomic radii.

    Raises
    ------
    matscreen.candidates.ordering.OrderingError
        If no ordered cell of the allowed size holds the occupancies.
    """
    swap = {old: _as_element(new) for old, new in mapping.items()}
    swap = {old: new for old, new in swap.items() if new != old}
    s = _load(name)
    partial = any(isinstance(new, dict) for new in swap.values())
    if partial:
        primitive = s.get_primitive_structure()
        s = primitive if len(primitive) < len(s) else s
    label = name
    if swap:
        before = _mean_radius(s)
        s.replace_species(swap)
        s.scale_lattice(s.volume * (_mean_radius(s) / before) ** 3)
        label += " " + ",".join(
            f"{old}->" + (new if isinstance(new, str) else
                          "".join(f"{e}{w:.3g}" for e, w in sorted(new.items())))
            for old, new in swap.items()
        )  # fmt: skip
    if partial:
        ordered = order_structure(s)
        s = ordered.structure
        s.properties["ordering"] = ordered.note
    for site in s:
        site.label = site.specie.symbol
    return label, s


@cache
def _same_type(name: str, other: str, space_group: int) -> bool:
    """Return whether two templates are one structure type (same space group, matching cells)."""
    if space_group != next(sg for n, _, sg in _templates() if n == other):
        return False
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return bool(StructureMatcher(attempt_supercell=True).fit_anonymous(_load(name), _load(other)))


def _mean_radius(structure: Structure) -> float:
    """Return the mean atomic radius (A) of a structure's atoms (partial occupancies weighted)."""
    total = weight = 0.0
    for site in structure:
        for specie, occupancy in site.species.items():
            total += occupancy * _radius(specie)
            weight += occupancy
    return total / weight


__all__ = ["MAX_DOPED_ELEMENTS", "MAX_TEMPLATES", "known_structures", "template_structures"]
