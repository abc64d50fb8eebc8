"""Registry of named machine-learned interatomic potentials (MLIPs).

Every physics function in :mod:`matscreen.physics` accepts any ASE
``Calculator``; this module only gives the shipped ones a name, loads them
lazily from the weights inside their wheels (never from the network) and
records what produced a number (:class:`CalculatorInfo`).

Energy scales
-------------
The two shipped potentials were trained on the same Materials Project
trajectories (MPtrj) but on different energy labels, which matters as soon as
their energies meet MP reference energies on one convex hull:

- ``chgnet`` (CHGNet 0.3.0) predicts energies that already include the MP2020
  anion and GGA/GGA+U corrections (checked here: Co3O4 -7.085 eV/atom for MP's
  corrected -7.085 and raw -5.990);
- ``sevenn`` (SevenNet-0) predicts raw GGA/GGA+U energies (Co3O4 -6.002
  eV/atom), so :func:`matscreen.physics.hull.to_mp2020_entry` applies the
  MP2020 corrections to them.

:attr:`CalculatorInfo.energy_scale` carries that difference.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

logger = logging.getLogger(__name__)

EnergyScale = Literal["mp2020_corrected", "mp_raw", "unknown"]


class MLIP(StrEnum):
    """Named MLIPs whose weights ship inside their wheels."""

    CHGNET = "chgnet"
    SEVENN = "sevenn"


DEFAULT_CALCULATOR = MLIP.CHGNET


@dataclass(frozen=True)
class CalculatorInfo:
    """Provenance of a calculator: what to stamp on every result.

    Attributes
    ----------
    name
        Registry name (``chgnet``, ``sevenn``) or the class name of a foreign
        ASE calculator (e.g. ``EMT``).
    version
        Model version (``0.3.0``, ``SevenNet-0 (11Jul2024), sevenn 0.13.0``) or
        package version for foreign calculators.
    energy_scale
        ``mp2020_corrected`` when energies already carry MP2020 corrections,
        ``mp_raw`` for raw MP-compatible GGA/GGA+U energies, ``unknown``
        otherwise (such energies are not put on an MP hull).
    elements
        Chemical symbols the model covers, or ``None`` when unrestricted.
    """

    name: str
    version: str
    energy_scale: EnergyScale
    elements: frozenset[str] | None = None


def _quiet() -> contextlib.AbstractContextManager:
    """Swallow stdout printed by third-party model loaders."""
    return contextlib.redirect_stdout(io.StringIO())


@lru_cache(maxsize=4)
def load_chgnet(model_name: str = "0.3.0"):  # noqa: ANN201 - lazy torch type
    """Load a CHGNet model from the weights in the ``chgnet`` wheel, quietly.

    Parameters
    ----------
    model_name
        ``0.3.0`` (default), ``0.2.0`` or ``r2scan``.

    Returns
    -------
    chgnet.model.CHGNet
        The model on CPU, in eval mode. It is cached and shared: copy it
        (``copy.deepcopy(model).to(device)``) rather than move it, or every
        holder moves with it.
    """
    with _quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from chgnet.model import CHGNet

        model = CHGNet.load(model_name=model_name, use_device="cpu", verbose=False)
    model.eval()
    return model


def _chgnet_calculator(device: str) -> Calculator:
    from matscreen.physics.chgnet_batch import chgnet_calculator

    model = load_chgnet("0.3.0")  # cached and shared: never moved in place
    if device != "cpu":
        import copy

        model = copy.deepcopy(model).to(device)
    calc = chgnet_calculator(model)
    from pymatgen.core import Element

    calc.matscreen_info = CalculatorInfo(
        name=MLIP.CHGNET.value,
        version=str(getattr(model, "version", None) or "0.3.0"),
        energy_scale="mp2020_corrected",
        elements=frozenset(Element.from_Z(z).symbol for z in range(1, 95)),
    )
    return calc


def _sevenn_calculator(device: str) -> Calculator:
    with _quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sevenn
        from sevenn.calculator import SevenNetCalculator

        # '7net-0' resolves to the checkpoint inside the wheel
        # (sevenn/pretrained_potentials/SevenNet_0__11Jul2024); no download.
        calc = SevenNetCalculator(model="7net-0", device=device)
    from pymatgen.core import Element

    type_map = getattr(calc, "type_map", None) or {}
    elements = frozenset(Element.from_Z(int(z)).symbol for z in type_map) or None
    calc.matscreen_info = CalculatorInfo(
        name=MLIP.SEVENN.value,
        version=f"SevenNet-0 (11Jul2024), sevenn {sevenn.__version__}",
        energy_scale="mp_raw",
        elements=elements,
    )
    return calc


@lru_cache(maxsize=8)
def _cached_calculator(name: MLIP, device: str) -> Calculator:
    logger.info("loading MLIP %s on %s", name.value, device)
    if name is MLIP.CHGNET:
        return _chgnet_calculator(device)
    if name is MLIP.SEVENN:
        return _sevenn_calculator(device)
    raise ValueError(f"unknown calculator {name!r}")  # pragma: no cover


def get_calculator(name: str | MLIP = DEFAULT_CALCULATOR, device: str = "cpu") -> Calculator:
    """Return a named MLIP as an ASE calculator (cached per name and device).

    Parameters
    ----------
    name
        ``"chgnet"`` (default) or ``"sevenn"`` (alias ``"sevennet"``; case
        ignored), or an :class:`MLIP` member.
    device
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    ase.calculators.calculator.Calculator
        The calculator, with a ``matscreen_info`` attribute
        (:class:`CalculatorInfo`).

    Raises
    ------
    ValueError
        If ``name`` is not a registered MLIP.

    Examples
    --------
    >>> calc = get_calculator("chgnet")  # doctest: +SKIP
    >>> calculator_info(calc).name  # doctest: +SKIP
    'chgnet'
    """
    from matscreen.core.config import CALCULATOR_ALIASES, canonical_calculator_name

    try:
        key = MLIP(canonical_calculator_name(name))
    except ValueError as exc:
        known = ", ".join(m.value for m in MLIP)
        aliases = ", ".join(f"{a} = {n}" for a, n in CALCULATOR_ALIASES.items())
        raise ValueError(f"unknown calculator {name!r}; known: {known} ({aliases})") from exc
    return _cached_calculator(key, device)


def default_calculator_name() -> str:
    """Return the registry name of the MLIP used where none is named.

    That is the ``DEFAULT_CALCULATOR`` setting (environment variable
    ``MATSCREEN_DEFAULT_CALCULATOR`` or ``~/.matscreen.yaml``; ``chgnet``
    unless set).
    """
    from matscreen.core.settings import get_settings

    return str(get_settings().DEFAULT_CALCULATOR)


def resolve_calculator(
    calculator: Calculator | str | MLIP | None, device: str = "cpu"
) -> Calculator:
    """Return ``calculator`` itself, or the named/default registry calculator on ``device``.

    ``None`` means :func:`default_calculator_name` (the ``DEFAULT_CALCULATOR`` setting).
    """
    if calculator is None:
        return get_calculator(default_calculator_name(), device=device)
    if isinstance(calculator, str | MLIP):
        return get_calculator(calculator, device=device)
    return calculator


def calculator_info(calculator: Calculator) -> CalculatorInfo:
    """Return the provenance record of any ASE calculator.

    Registry calculators carry their own :class:`CalculatorInfo`; for any
    other calculator the class name, its package version and an ``unknown``
    energy scale are returned.
    """
    info = getattr(calculator, "matscreen_info", None)
    if isinstance(info, CalculatorInfo):
        return info
    cls = type(calculator)
    package = cls.__module__.split(".")[0]
    try:
        from importlib.metadata import version

        pkg_version = version(package)
    except Exception:  # noqa: BLE001 - any metadata problem means "unknown"
        pkg_version = "unknown"
    elements = None
    if cls.__name__ == "EMT":
        from ase.calculators.emt import parameters

        elements = frozenset(parameters)
    return CalculatorInfo(
        name=cls.__name__,
        version=f"{package} {pkg_version}",
        energy_scale="unknown",
        elements=elements,
    )


def unsupported_elements(calculator: Calculator, symbols: list[str] | set[str]) -> list[str]:
    """Return the chemical symbols in ``symbols`` that ``calculator`` does not cover."""
    covered = calculator_info(calculator).elements
    if covered is None:
        return []
    return sorted({s for s in symbols if s not in covered})
