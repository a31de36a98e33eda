"""The canonical home of the course: one URL, from which every badge and install cell is made.

Change ``REPOSITORY`` (or ``BRANCH``) here, then run ``python -m course_utils sync`` to
regenerate the badges and Colab install cells of every notebook; a test checks they agree.
"""
from __future__ import annotations

REPOSITORY = "https://github.com/attention-measured/attention-measured"
BRANCH = "main"
DISTRIBUTION = "attention-measured"  # the pip name; the import name is course_utils

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _slug() -> str:
    prefix = "https://github.com/"
    if not REPOSITORY.startswith(prefix):
        raise ValueError(f"REPOSITORY must be a GitHub URL, got {REPOSITORY!r}")
    return REPOSITORY[len(prefix):].rstrip("/")


def colab_url(notebook_file: str) -> str:
    """Open-in-Colab URL of ``notebooks/<notebook_file>`` on the canonical branch."""
    return f"https://colab.research.google.com/github/{_slug()}/blob/{BRANCH}/notebooks/{notebook_file}"


def badge_markdown(notebook_file: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook_file)})"


def pip_requirement() -> str:
    """What the Colab install cell hands to pip: the package from the repository, no torch."""
    return f"{DISTRIBUTION} @ git+{REPOSITORY}@{BRANCH}"


def install_cell_source() -> str:
    """The code of every notebook's set-up cell that installs ``course_utils`` on Colab only."""
    return (
        "# On Colab: install course_utils from the course repository. Colab's own torch is\n"
        "# kept (the package asks only for torch>=2.1). Elsewhere this cell does nothing.\n"
        "import importlib.util, subprocess, sys\n"
        "if \"google.colab\" in sys.modules and importlib.util.find_spec(\"course_utils\") is None:\n"
        f"    subprocess.check_call([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"{pip_requirement()}\"])"
    )
