"""Torch device names: one validation for every stage that can use a GPU."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def resolve_device(device: str, *, fallback: bool = False) -> str:
    """Return a usable torch device name.

    Parameters
    ----------
    device
        ``"cpu"``, ``"cuda"`` / ``"cuda:N"``, or ``"auto"`` (``"cuda"`` when torch
        sees a GPU, else ``"cpu"``).
    fallback
        CUDA asked for where torch sees none: ``"cpu"`` with a logged warning
        instead of an error.

    Returns
    -------
    str
        ``"cpu"`` or the CUDA device asked for.

    Raises
    ------
    ValueError
        For an unknown name, or CUDA asked for where torch sees none.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda[:N]' or 'auto', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        if fallback:
            logger.warning("device=%r requested but CUDA is not available; using cpu", device)
            return "cpu"
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device
