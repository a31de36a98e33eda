"""One check for the sizes that course_utils' public functions take (a window, a block, a number
of heads, steps, a batch size …), so that a bad one is refused with its name, its value and the
rule it breaks, before torch fails somewhere inside with a message about something else.

>>> check_size("window", 2.5, minimum=0)
Traceback (most recent call last):
    ...
TypeError: window must be an integer (a count), got 2.5 (float)

Functions declare theirs with :func:`sizes` (the names given plainly must be at least 1, those
given as ``name=minimum`` at least that; ``None`` is let through for optional sizes)::

    @sizes("d_model", "num_heads")
    def __init__(self, d_model, num_heads): ...

    @sizes(window=0, chunk=1)
    def sliding_window_attention(q, k, v, window, chunk=None): ...
"""
from __future__ import annotations

import functools
import inspect
import operator

__all__ = ["check_size", "check_sizes", "sizes"]


def check_size(name: str, value, *, minimum: int = 1, what: str = "a count",
               where: str = "") -> int:
    """``value`` as an ``int`` if it is an integer (Python, NumPy or a 0-dim integer tensor; not a
    bool) of at least ``minimum``; otherwise a ``TypeError`` (not an integer) or ``ValueError``
    (too small) that names ``where`` (the function), ``name``, the value and the rule."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, bool):
        raise TypeError(f"{prefix}{name} must be an integer ({what}), got the bool {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{prefix}{name} must be an integer ({what}), got {value!r} "
                        f"({type(value).__name__})") from None
    if number < minimum:
        rule = f"at least {minimum}" + (" (non-negative)" if minimum == 0 else "")
        raise ValueError(f"{prefix}{name} must be {rule}, got {name}={number}")
    return number


def check_sizes(minimum: int = 1, **named) -> None:
    """:func:`check_size` for each ``name=value``, with the same ``minimum``."""
    for name, value in named.items():
        check_size(name, value, minimum=minimum)


def sizes(*names: str, **minimums: int):
    """Decorator: before the call, :func:`check_size` each named argument that is not ``None``
    (``names``: at least 1; ``name=m``: at least ``m``). Valid calls run unchanged."""
    wanted = {**{name: 1 for name in names}, **minimums}

    def decorate(fn):
        signature = inspect.signature(fn)
        unknown = set(wanted) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{fn.__qualname__} has no argument(s) {sorted(unknown)}")
        where = fn.__qualname__.replace(".__init__", "")

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return fn(*args, **kwargs)             # let Python say what the call got wrong
            for name, minimum in wanted.items():
                value = bound.arguments.get(name)
                if value is not None:
                    check_size(name, value, minimum=minimum, where=where)
            return fn(*args, **kwargs)
        return checked
    return decorate
