"""One check for the sizes that course_utils' public functions take (a window, a block, a number
of heads, steps, a batch size …), so that a bad one is refused with its name, its value and the
rule it breaks, before torch fails somewhere inside with a message about something else.

>>> check_size("window", 2.5, minimum=0)
Traceback (most recent call last):
    ...
TypeError: window must be an integer (a count), got 2.5 (float)
"""
from __future__ import annotations

import operator

__all__ = ["check_size", "check_sizes"]


def check_size(name: str, value, *, minimum: int = 1, what: str = "a count") -> int:
    """``value`` as an ``int`` if it is an integer (Python, NumPy or a 0-dim integer tensor; not a
    bool) of at least ``minimum``; otherwise a ``TypeError`` (not an integer) or ``ValueError``
    (too small) that names ``name``, the value and the rule."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer ({what}), got the bool {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer ({what}), got {value!r} "
                        f"({type(value).__name__})") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum} ({what}), got {number}")
    return number


def check_sizes(minimum: int = 1, **sizes) -> None:
    """:func:`check_size` for each ``name=value``, with the same ``minimum``."""
    for name, value in sizes.items():
        check_size(name, value, minimum=minimum)
