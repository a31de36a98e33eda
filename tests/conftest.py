import os

import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _clean_course_env(monkeypatch):
    """Tests start from a known environment: no runner, no forced profile, no smoke run."""
    for key in ("COURSE_PROFILE", "COURSE_SEED", "COURSE_DEVICE", "COURSE_CLAIMS_FILE",
                "COURSE_SMOKE", "COURSE_THREADS"):
        monkeypatch.delenv(key, raising=False)
    import torch

    from course_utils.machinery import claims, machine

    threads = torch.get_num_threads()     # get_profile() sets them; give them back
    claims.reset()
    machine.reset_log()
    yield
    claims.reset()
    machine.reset_log()
    torch.set_num_threads(threads)


def dilated_layers(n, k):
    """A right answer to 04's exercise 2: the fewest dilated convolutions (kernel k, dilation k^l)
    whose receptive field covers n positions, counted without a floating-point log."""
    layers, reach = 0, 0
    while reach < n - 1:
        reach += (k - 1) * k ** layers
        layers += 1
    return layers


SETUP = "import course_utils\nP = course_utils.get_profile()\n"


@pytest.fixture
def write_notebook():
    """``write_notebook(path, *sources)``: a tiny notebook of code cells, with a Python 3 kernel."""
    def write(path, *sources):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
        nbformat.write(nb, path)
    return write
