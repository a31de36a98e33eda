"""Shared pieces of the exercise checks: verdict lines, "not attempted", and one guard.

The pattern every notebook follows (tested in ``tests/test_notebooks_structure.py``):

* a **value** exercise's cell reads ``answer = None   # …`` then ``check_…(answer)``;
* a **function** exercise's cell defines the function with the body
  ``raise NotImplementedError("your code here")``, then calls ``check_…(the_function)``;
* the hidden reference cell right after it holds the same code answered, ending with
  ``assert check_…(…)``.

Every ``check_…`` is wrapped in :func:`exercise_check`: it never raises. An answer left as
``None`` or a function that still raises ``NotImplementedError`` is reported as not attempted;
any other error raised by the learner's code is printed as a ✘ with the error, and the check
returns False, so a notebook always runs on.
"""
from __future__ import annotations

import functools
import traceback


def _verdict(ok: bool, good: str, bad: str) -> bool:
    print(("✔ " + good) if ok else ("✘ " + bad))
    return ok


NOT_ATTEMPTED = "… not attempted yet:"


def _not_attempted(answer, what: str) -> bool:
    if answer is None:
        print(f"{NOT_ATTEMPTED} {what}, then run this cell again.")
        return True
    return False


def exercise_check(check):
    """Wrap ``check(answer, ...) -> bool`` so that it never raises (see the module docstring)."""
    @functools.wraps(check)
    def guarded(*args, **kwargs) -> bool:
        try:
            return bool(check(*args, **kwargs))
        except NotImplementedError:
            print(f"{NOT_ATTEMPTED} replace `raise NotImplementedError` with your code, "
                  "then run this cell again.")
            return False
        except Exception as error:                      # the learner's code failed: say how
            where = traceback.extract_tb(error.__traceback__)[-1]
            print(f"✘ your answer raised {type(error).__name__}: {error} "
                  f"(line {where.lineno}: {where.line})")
            return False
    return guarded
