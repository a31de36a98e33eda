"""Editions of a notebook: as committed (reference solutions hidden under each exercise), the
**student** edition (reference cells removed) and the **answered** edition (each exercise cell
holds its reference code, as a learner who solved it would have written it, and the reference
cell is removed).

The exercise pattern these rely on (checked by :func:`exercise_problems`):

* a code cell tagged ``exercise`` (the stub) ends with one ``check_…(…)`` line and calls
  ``check_`` nowhere else; a value exercise reads ``answer = None``, a function exercise's body is
  ``raise NotImplementedError(...)``;
* the next cell is a code cell tagged ``solution``, collapsed (``jupyter.source_hidden``, Colab's
  ``cellView: form``), whose first line starts with ``# @title Reference solution`` and whose last
  line is ``assert`` + the stub's last line.

Reference cells are recognised by their **content** as well as their tag (:func:`is_reference`: the
title line, or an ``assert check_…(…)`` line), and exercise stubs by their last line (a
``check_…(…)`` call): the student edition removes every reference cell whatever its tags, and
:func:`exercise_problems` names an untagged one, so a forgotten tag can no longer ship a solution.

``python -m course_utils student --out DIR`` writes the student edition;
``python -m course_utils run --edition answered`` runs the answered one and fails unless every
answered exercise printed a ✔ and no ✘ or "not attempted".
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat


__all__ = ["SOLUTION_TITLE", "EDITIONS", "is_reference", "is_exercise", "exercise_pairs",
           "exercise_problems", "student_edition", "answered_edition", "write_edition",
           "answered_failures"]

SOLUTION_TITLE = "# @title Reference solution"
EDITIONS = ("reference", "student", "answered")
_NOT_ATTEMPTED = "not attempted"


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _lines(source: str) -> list[str]:
    return [line for line in source.splitlines() if line.strip()]


_REFERENCE_CHECK = re.compile(r"^\s*assert\s+check_\w+\s*\(", flags=re.M)


def is_reference(cell) -> bool:
    """True for a reference-solution cell, by its tag or by its content: a line starting with
    ``# @title Reference solution``, or a reference check ``assert check_…(…)``."""
    if cell.cell_type != "code":
        return False
    if "solution" in _tags(cell):
        return True
    source = cell.source
    return (any(line.lstrip().startswith(SOLUTION_TITLE) for line in source.splitlines())
            or bool(_REFERENCE_CHECK.search(source)))


def is_exercise(cell) -> bool:
    """True for an exercise stub, by its tag or by its content: a code cell (not a reference)
    whose last non-empty line calls a ``check_…(…)``."""
    if cell.cell_type != "code" or is_reference(cell):
        return False
    if "exercise" in _tags(cell):
        return True
    lines = _lines(cell.source)
    return bool(lines) and re.match(r"check_\w+\s*\(", lines[-1]) is not None


def exercise_pairs(nb) -> list[tuple[int, int | None]]:
    """(stub index, reference index or None) for every exercise stub (:func:`is_exercise`, tagged
    or not); the reference is the next cell if :func:`is_reference` (tagged or not)."""
    pairs = []
    for i, cell in enumerate(nb.cells):
        if is_exercise(cell):
            nxt = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
            ok = nxt is not None and is_reference(nxt)
            pairs.append((i, i + 1 if ok else None))
    return pairs


def exercise_problems(nb) -> list[str]:
    """Where the notebook's exercises break the pattern (empty list: none)."""
    problems = []
    pairs = exercise_pairs(nb)
    solutions = [i for i, c in enumerate(nb.cells) if is_reference(c)]
    paired = {s for _, s in pairs if s is not None}
    for i in solutions:
        if i not in paired:
            problems.append(f"cell {i}: a reference solution with no exercise cell right before it")
        cell = nb.cells[i]
        if "solution" not in _tags(cell):
            problems.append(f"cell {i}: holds a reference solution (its title line or an `assert "
                            "check_…`) but is not tagged 'solution' (tag it, and collapse it)")
        meta = cell.get("metadata", {})
        if not (meta.get("jupyter", {}).get("source_hidden") and meta.get("cellView") == "form"):
            problems.append(f"cell {i}: a reference cell must be collapsed (metadata "
                            "jupyter.source_hidden = true and cellView = 'form')")
    for stub_i, _ in pairs:
        if "exercise" not in _tags(nb.cells[stub_i]):
            problems.append(f"cell {stub_i}: ends with a check_…(…) call but is not tagged "
                            "'exercise'")
    for stub_i, sol_i in pairs:
        stub = _lines(nb.cells[stub_i].source)
        if not stub or not stub[-1].startswith("check_"):
            problems.append(f"cell {stub_i}: an exercise cell must end with its check_…(…) line")
            continue
        if any("check_" in line for line in stub[:-1]):
            problems.append(f"cell {stub_i}: only the last line may call check_ (no guards)")
        defined = re.findall(r"^def (\w+)|^(\w+)\s*=", nb.cells[stub_i].source, flags=re.M)
        args = stub[-1].split("(", 1)[1] if "(" in stub[-1] else ""
        if " if " in args or any(re.search(rf"\b{name}\s*\(", args)
                                 for pair in defined for name in pair if name):
            problems.append(f"cell {stub_i}: the check line calls the answer itself (a guard); "
                            "pass the answer and let the check call it")
        body = nb.cells[stub_i].source
        if "= None" not in body and "raise NotImplementedError" not in body:
            problems.append(f"cell {stub_i}: the stub must read `answer = None` or "
                            "`raise NotImplementedError(...)`")
        if sol_i is None:
            problems.append(f"cell {stub_i}: no reference solution cell right after the exercise")
            continue
        sol = _lines(nb.cells[sol_i].source)
        if not sol or not sol[0].startswith(SOLUTION_TITLE):
            problems.append(f"cell {sol_i}: a reference cell starts with '{SOLUTION_TITLE} …'")
        if not sol or sol[-1] != "assert " + stub[-1]:
            problems.append(f"cell {sol_i}: a reference cell ends with `assert {stub[-1]}`")
    return problems


def student_edition(nb):
    """A copy with every reference-solution cell removed, tagged or not (:func:`is_reference`),
    and outputs cleared."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if not is_reference(c)]
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return out


def answered_edition(nb):
    """A copy where each exercise cell holds its reference code (title line dropped, final
    ``assert check_…`` back to ``check_…``) and the reference cell is gone. Answered cells are
    tagged ``answered``. Raises ValueError if an exercise has no reference cell."""
    out = copy.deepcopy(nb)
    drop = set()
    for stub_i, sol_i in exercise_pairs(out):
        if sol_i is None:
            raise ValueError(f"exercise cell {stub_i} has no reference solution after it")
        lines = out.cells[sol_i].source.splitlines()
        lines = [line for line in lines if not line.startswith(SOLUTION_TITLE)]
        lines = [re.sub(r"^assert (check_)", r"\1", line) for line in lines]
        stub = out.cells[stub_i]
        stub.source = "\n".join(lines).strip("\n")
        stub.metadata["tags"] = [t for t in _tags(stub) if t != "exercise"] + ["answered"]
        drop.add(sol_i)
    out.cells = [c for i, c in enumerate(out.cells) if i not in drop]
    return out


def answered_failures(executed_nb) -> list[str]:
    """For an executed answered edition: the answered cells whose check did not print a ✔, or
    printed a ✘ or "not attempted"."""
    failures = []
    for i, cell in enumerate(executed_nb.cells):
        if cell.cell_type != "code" or "answered" not in _tags(cell):
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stdout")
        if "✔" not in text or "✘" in text or _NOT_ATTEMPTED in text:
            first = _lines(cell.source)[-1] if _lines(cell.source) else ""
            failures.append(f"cell {i} ({first[:60]}): {text.strip()[:200] or 'no output'}")
    return failures


def write_edition(edition: str, out_dir: str | Path, paths: list[Path]) -> list[Path]:
    """Write the chosen edition of the notebooks at ``paths`` to ``out_dir`` (same file names);
    return the written paths. (Callers find the notebooks with
    :func:`course_utils.machinery.notebooks.find_notebooks`: this module sits below that one.)"""
    if edition not in EDITIONS:
        raise ValueError(f"edition must be one of {EDITIONS}, not {edition!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    transform = {"reference": copy.deepcopy, "student": student_edition,
                 "answered": answered_edition}[edition]
    written = []
    for path in paths:
        nb = transform(nbformat.read(path, as_version=4))
        target = out / path.name
        nbformat.write(nb, target)
        written.append(target)
    return written
