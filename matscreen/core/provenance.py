"""What a run records about where it ran: package versions, host, time."""

from __future__ import annotations

import platform
import socket
import time

#: Packages whose versions a run records (those not installed are left out).
RECORDED_PACKAGES = (
    "matscreen", "pymatgen", "matminer", "numpy", "pandas", "dask", "distributed", "pyarrow",
    "scikit-learn", "bvlain", "smact", "chgnet", "sevenn", "torch", "gpytorch",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    """Return the Python version and those of :data:`RECORDED_PACKAGES` that are installed."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in RECORDED_PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def host_record() -> dict[str, str]:
    """Return the host name and platform of this process."""
    return {"host": socket.gethostname(), "platform": platform.platform()}


def timestamp() -> str:
    """Return the local time as ISO 8601 with its UTC offset."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
