"""``python -m course_utils run|sync|student``: see ``python -m course_utils --help``."""
import sys

from .machinery.cli import main

if __name__ == "__main__":
    sys.exit(main())
