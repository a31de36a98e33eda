"""The student and answered editions, and the one exercise pattern they rely on."""
from course_utils.exercises._common import RIGHT, WRONG
import nbformat
import pytest

from course_utils.exercises import exercise_check
from course_utils.machinery import links
from course_utils.machinery.cli import main
from course_utils.machinery.editions import (SOLUTION_TITLE, answered_edition, answered_failures,
                                             exercise_problems, student_edition)
from course_utils.machinery.notebooks import find_notebooks


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source, tags in cells:
        cell = (nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell)(source)
        cell.metadata["tags"] = list(tags)
        if "solution" in tags:                                   # collapsed, as the pattern asks
            cell.metadata["jupyter"] = {"source_hidden": True}
            cell.metadata["cellView"] = "form"
        nb.cells.append(cell)
    return nb


def _leaks(nb) -> list[str]:
    """The cells of ``nb`` whose content is a reference solution (read, not their tags)."""
    return [c.source for c in nb.cells
            if SOLUTION_TITLE in c.source or "assert check_" in c.source]


STUB = 'def f(x):\n    raise NotImplementedError("your code here")\n\ncheck_f(f)'
SOLUTION = "# @title Reference solution (expand to read)\ndef f(x):\n    return 2 * x\n\nassert check_f(f)"


def test_answered_edition_puts_the_reference_code_in_the_exercise_cell():
    nb = _nb(("markdown", "**Exercise.**", []), ("code", STUB, ["exercise"]),
             ("code", SOLUTION, ["solution"]), ("code", "claims_table()", []))
    assert exercise_problems(nb) == []
    answered = answered_edition(nb)
    assert len(answered.cells) == 3
    cell = answered.cells[1]
    assert cell.source == "def f(x):\n    return 2 * x\n\ncheck_f(f)"
    assert cell.metadata["tags"] == ["answered"]
    student = student_edition(nb)
    assert [c.source for c in student.cells] == ["**Exercise.**", STUB, "claims_table()"]


@pytest.mark.parametrize("reference", [
    SOLUTION,                                                   # the title line, untagged
    "def f(x):\n    return 2 * x\n\nassert check_f(f)",        # no title: the reference check
])
def test_an_untagged_reference_cell_is_removed_and_reported(reference):
    # 01's exercise 3 shipped its reference solution: neither cell was tagged
    nb = _nb(("markdown", "**Exercise 3.**", []), ("code", STUB, []), ("code", reference, []),
             ("code", "claims_table()", []))
    student = student_edition(nb)
    assert _leaks(student) == [] and [c.source for c in student.cells] == [
        "**Exercise 3.**", STUB, "claims_table()"]
    problems = exercise_problems(nb)
    assert any("cell 2" in p and "not tagged 'solution'" in p for p in problems), problems
    assert any("cell 2" in p and "collapsed" in p for p in problems), problems
    assert any("cell 1" in p and "not tagged 'exercise'" in p for p in problems), problems
    answered = answered_edition(nb)                     # still answered in the stub's place
    assert _leaks(answered) == [] and "answered" in answered.cells[1].metadata["tags"]


def test_a_tagged_but_expanded_reference_cell_is_a_problem():
    nb = _nb(("code", STUB, ["exercise"]), ("code", SOLUTION, ["solution"]))
    del nb.cells[1].metadata["cellView"]
    assert any("collapsed" in p for p in exercise_problems(nb))


def test_answered_failures_reads_what_the_check_printed():
    nb = _nb(("code", "check_f(f)", ["answered"]), ("code", "check_g(g)", ["answered"]))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="✔ right\n")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="✘ wrong: a hint\n")]
    failures = answered_failures(nb)
    assert len(failures) == 1 and "cell 1" in failures[0] and "hint" in failures[0]


@pytest.mark.parametrize("stub, solution, problem", [
    ("answer = None\ncheck_f(f if f(None) is not None else None)",
     "# @title Reference solution\nanswer = 1\nassert check_f(f if f(None) is not None else None)",
     None),
    ("f = None\nif check_f(f): pass\ncheck_f(f)", "# @title Reference solution\nf = 1\nassert check_f(f)",
     "only the last line"),
    ("def f(x):\n    return None\ncheck_f(f)", "# @title Reference solution\nassert check_f(f)",
     "the stub must read"),
    (STUB, "# @title Reference solution\ndef f(x):\n    return x\ncheck_f(f)", "ends with `assert"),
    (STUB, "def f(x):\n    return x\nassert check_f(f)", "starts with '# @title"),
])
def test_exercise_problems_name_the_broken_rule(stub, solution, problem):
    problems = exercise_problems(_nb(("code", stub, ["exercise"]), ("code", solution, ["solution"])))
    assert problems and (problem is None or any(problem in p for p in problems)), problems


def test_a_check_never_raises_on_an_unanswered_or_broken_answer(capsys):
    @exercise_check
    def check_double(fn):
        return fn(2) == 4

    def stub(x):
        raise NotImplementedError("your code here")

    assert check_double(stub) is None                        # not attempted: no stray False shown
    assert "not attempted" in capsys.readouterr().out
    assert check_double(lambda x: x.shape) is WRONG          # AttributeError from the answer
    out = capsys.readouterr().out
    assert out.startswith("✘ your answer raised AttributeError")
    assert check_double(lambda x: 2 * x) is RIGHT


def test_student_command_writes_every_notebook_without_solutions(tmp_path):
    assert main(["student", "--out", str(tmp_path)]) == 0
    originals = find_notebooks()
    written = sorted(tmp_path.glob("*.ipynb"))
    assert [p.name for p in written] == [p.name for p in originals]
    for path in written:
        nb = nbformat.read(path, as_version=4)
        tags = [t for c in nb.cells for t in c.metadata.get("tags", [])]
        assert "solution" not in tags and tags.count("exercise") >= 2
        assert _leaks(nb) == [], (path.name, _leaks(nb))       # by content, whatever the tags
        assert nb.cells[0].source.split("\n")[0] == links.badge_markdown(path.name)
        installs = [c for c in nb.cells if "colab-install" in c.metadata.get("tags", [])]
        assert len(installs) == 1 and installs[0].source == links.install_cell_source()
