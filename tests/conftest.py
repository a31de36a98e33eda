import os

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _clean_course_env(monkeypatch):
    """Tests start from a known environment: no runner, no forced profile, claims raise."""
    for key in ("COURSE_PROFILE", "COURSE_SEED", "COURSE_DEVICE", "COURSE_CLAIMS_FILE",
                "COURSE_CLAIMS_DEFER"):
        monkeypatch.delenv(key, raising=False)
    from course_utils import claims

    claims.reset()
    yield
    claims.reset()
