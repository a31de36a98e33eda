import os

import matplotlib
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
