"""What the environment asks of a run, read in one place at the bottom of the package: a smoke
run (``COURSE_SMOKE=1``) and a forced device (``COURSE_DEVICE``). Both :mod:`course_utils.profile`
and :mod:`course_utils.machinery.claims` read them from here, so neither imports the other to
learn them (the profile imports the claims, never the reverse)."""
from __future__ import annotations

import os

__all__ = ["smoke_run", "default_device"]


def smoke_run() -> bool:
    """True in a smoke run (``COURSE_SMOKE=1``): full sizes, loops cut, nothing judged."""
    return os.environ.get("COURSE_SMOKE", "0") == "1"


def default_device():
    """``COURSE_DEVICE`` if set (``cpu``, ``cuda``, ``cuda:1``), else CUDA where available, else
    the CPU, as a ``torch.device``."""
    import torch

    forced = os.environ.get("COURSE_DEVICE")
    if forced:
        if forced.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"COURSE_DEVICE={forced!r} but CUDA is not available here")
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
