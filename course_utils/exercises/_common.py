"""Shared pieces of the exercise checks: verdict lines, "not attempted", and one guard.

The pattern every notebook follows (tested in ``tests/test_notebooks_structure.py``):

* a **value** exercise's cell reads ``answer = None   # …`` then ``check_…(answer)``;
* a **function** exercise's cell defines the function with the body
  ``raise NotImplementedError("your code here")``, then calls ``check_…(the_function)``;
* the hidden reference cell right after it holds the same code answered, ending with
  ``assert check_…(…)``.

Every ``check_…`` is wrapped in :func:`exercise_check`: it never raises. An answer left as
``None`` or a function that still raises ``NotImplementedError`` is reported as not attempted
(the check returns None, so the stub cell shows no stray value);
any other error raised by the learner's code is printed as a ✘ with the error, and the check
returns :data:`WRONG`, so a notebook always runs on. A check returns :data:`RIGHT` or
:data:`WRONG`, which are truthy and falsy like True and False (``assert check_…(…)`` works) but
show nothing as a cell's value: the ✔ or ✘ line already said it (a bare ``True`` or ``False``
under the cell would say it twice).
"""
from __future__ import annotations

import functools
import itertools
import traceback
from typing import Sequence

import torch


class Verdict:
    """A check's result: ``bool(RIGHT)`` is True, ``bool(WRONG)`` is False, and equal to those;
    displayed as a cell's value it shows nothing."""

    __slots__ = ("ok",)

    def __init__(self, ok: bool):
        self.ok = bool(ok)

    def __bool__(self) -> bool:
        return self.ok

    def __eq__(self, other) -> bool:
        return self.ok == (other.ok if isinstance(other, Verdict) else other)

    def __hash__(self) -> int:
        return hash(self.ok)

    def __repr__(self) -> str:
        return "RIGHT" if self.ok else "WRONG"

    def _ipython_display_(self) -> None:
        """Nothing: the check printed its ✔ or ✘ line."""


RIGHT, WRONG = Verdict(True), Verdict(False)


def _verdict(ok: bool, good: str, bad: str) -> Verdict:
    print(("✔ " + good) if ok else ("✘ " + bad))
    return RIGHT if ok else WRONG


# ---- comparing a learner's tensor with the truth ------------------------------------------------
# A learner may compute in float32 even where the check's inputs are float64: every tensor check
# accepts a gap up to FLOAT32_RTOL of the truth's scale (float32 work on these small inputs stays
# below about 1e-6), and calls a gap "rounding" only where it is the size of the answer's own
# dtype's rounding (float16, bfloat16) or far below any logic error.
FLOAT32_RTOL = 1e-5
_SMALL_GAP = 1e-3


def _as_tensor(value) -> torch.Tensor | None:
    """``value`` as a CPU tensor (tensors, NumPy arrays, nested lists), or None."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _shape_problem(got, truth: torch.Tensor, call: str) -> str | None:
    """Why ``got`` cannot be compared with ``truth`` (not a tensor, another shape), or None."""
    tensor = _as_tensor(got)
    if tensor is None or not (tensor.is_floating_point() or tensor.dtype == truth.dtype):
        kind = type(got).__name__ if tensor is None else f"a {tensor.dtype} tensor"
        return f"{call} returned {kind}: return a floating-point tensor of shape {tuple(truth.shape)}"
    if tuple(tensor.shape) != tuple(truth.shape):
        return f"{call} has shape {tuple(tensor.shape)}, expected {tuple(truth.shape)}"
    return None


def _gap(got, truth: torch.Tensor) -> float:
    """Largest ``|got − truth|`` relative to the truth's scale (its largest magnitude, at least 1)."""
    got, truth = _as_tensor(got).double(), truth.detach().cpu().double()
    return float((got - truth).abs().max() / truth.abs().max().clamp(min=1.0))


def _close(got, truth: torch.Tensor, rtol: float = FLOAT32_RTOL) -> bool:
    """``got`` has ``truth``'s shape and equals it to float32 rounding (or ``rtol``)."""
    tensor = _as_tensor(got)
    return (tensor is not None and tuple(tensor.shape) == tuple(truth.shape)
            and tensor.is_floating_point() and _gap(tensor, truth) <= rtol)


def _rounding_note(got, gap: float) -> str | None:
    """A message when a refused gap is rounding-sized: the answer's dtype is half precision and
    the gap is within its rounding, or the gap is far below what a logic error makes."""
    tensor = _as_tensor(got)
    dtype = tensor.dtype if tensor is not None else None
    if dtype in (torch.float16, torch.bfloat16) and gap <= 64 * torch.finfo(dtype).eps:
        return (f"the gap (relative {gap:.1e}) is the size of {str(dtype)[6:]} rounding, not of a "
                "logic error: compute in float32 or float64 and run the check again")
    if gap <= _SMALL_GAP:
        return (f"a small gap (relative {gap:.1e}): more than float32 rounding (about 1e-7 here), "
                "far less than a wrong formula usually makes. Is part of your code in half "
                "precision, or does a small term (an epsilon, a bias) differ?")
    return None


def _diagnosis(got, gap: float, mistakes, wrong_answer, rtol: float = FLOAT32_RTOL) -> str | None:
    """Why a refused tensor answer is wrong: the message of the first known mistake whose answer
    ``got`` equals (``mistakes``: ``[(keyword arguments of wrong_answer, message), ...]``, each
    compared to ``rtol``), else a rounding note (:func:`_rounding_note`), else None."""
    hint = next((say for wrong, say in mistakes
                 if _close(got, wrong_answer(**wrong), rtol=rtol)), None)
    return hint if hint is not None else _rounding_note(got, gap)


def _parts_explaining(diffs: Sequence[float], parts: dict[str, Sequence[float]],
                      max_parts: int = 3) -> list[tuple[str, ...]]:
    """The smallest sets of named parts whose values add up to ``diffs`` at every size tried
    (``diffs[i]`` = truth − answer at size ``i``; a part's value is what leaving it out removes,
    negative for something added that does not belong). Empty when no set of up to ``max_parts``
    explains every size."""
    names = list(parts)
    for r in range(1, max_parts + 1):
        found = [combo for combo in itertools.combinations(names, r)
                 if all(abs(sum(parts[n][i] for n in combo) - diff) < 1e-9 * max(1.0, abs(diff))
                        for i, diff in enumerate(diffs))]
        if found:
            return found
    return []


def _name_parts(found: list[tuple[str, ...]]) -> str:
    """"A and B" for one set of parts; "either A, or B" when several sets explain the gap."""
    said = [" and ".join(combo) for combo in found[:3]]
    return said[0] if len(said) == 1 else "either " + ", or ".join(said)


NOT_ATTEMPTED = "… not attempted yet:"


class _NotAttempted(Exception):
    """Raised by :func:`_not_attempted` after it printed its line; :func:`exercise_check` turns it
    into the return value None."""


def _not_attempted(answer, what: str) -> bool:
    """False when ``answer`` holds something to check; else print "not attempted" and end the
    check (its wrapper returns None)."""
    if answer is None:
        print(f"{NOT_ATTEMPTED} {what}, then run this cell again.")
        raise _NotAttempted
    return False


def exercise_check(check):
    """Wrap ``check(answer, ...) -> bool`` so that it never raises (see the module docstring).
    The wrapped check returns :data:`RIGHT` (✔), :data:`WRONG` (✘), or None when the exercise
    was not attempted; none of them shows as a value under the cell (a ``False`` there read as
    "wrong", a ``True`` repeated the ✔)."""
    @functools.wraps(check)
    def guarded(*args, **kwargs) -> Verdict | None:
        try:
            return RIGHT if check(*args, **kwargs) else WRONG
        except _NotAttempted:
            return None
        except NotImplementedError:
            print(f"{NOT_ATTEMPTED} replace `raise NotImplementedError` with your code, "
                  "then run this cell again.")
            return None
        except Exception as error:                      # the learner's code failed: say how
            where = traceback.extract_tb(error.__traceback__)[-1]
            print(f"✘ your answer raised {type(error).__name__}: {error} "
                  f"(line {where.lineno}: {where.line})")
            return WRONG
    return guarded
