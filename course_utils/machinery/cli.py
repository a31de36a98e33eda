"""``python -m course_utils run|sweep|book|sync|student``: see ``python -m course_utils --help``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils",
                                     description="Attention, Measured: run and maintain the course")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute the notebooks and write build/report.html")
    run.add_argument("--profile", choices=["quick", "full"], default=None,
                     help="run profile (default: quick, on a GPU too, until full has passed there)")
    run.add_argument("--smoke", action="store_true",
                     help="the full profile's sizes, loops cut to a step or two, claims reported "
                          "but not judged; records each notebook's peak memory")
    run.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers, e.g. 02 03")
    run.add_argument("--seed", type=int, default=None, help="COURSE_SEED for every notebook")
    run.add_argument("--out", default="build", help="output folder (default: build)")
    run.add_argument("--notebooks", default=None, help="folder of notebooks (default: ./notebooks)")
    run.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    run.add_argument("--edition", choices=["reference", "student", "answered"], default="reference",
                     help="reference: as committed; student: reference solutions removed; "
                          "answered: each exercise answered in its own cell, every check must pass")
    sweep = sub.add_parser("sweep", help="run the notebooks at several seeds and write every "
                                         "claim's values, spread and worst margin to build/sweep/")
    sweep.add_argument("--seeds", type=int, required=True, help="how many seeds")
    sweep.add_argument("--start", type=int, default=0, help="the first seed (default 0)")
    sweep.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers, e.g. 01 07")
    sweep.add_argument("--out", default="build/sweep", help="output folder (default: build/sweep)")
    sweep.add_argument("--jobs", type=int, default=1,
                       help="notebooks run at a time (default 1: timing claims are judged only "
                            "on a quiet machine)")
    sweep.add_argument("--profile", choices=["quick", "full"], default=None)
    sweep.add_argument("--edition", choices=["reference", "student", "answered"],
                       default="reference")
    sweep.add_argument("--notebooks", default=None, help="folder of notebooks (default: ./notebooks)")
    sweep.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell")
    student = sub.add_parser("student", help="write the student edition (reference solutions "
                                             "removed) for handing out")
    student.add_argument("--out", required=True, help="folder to write the notebooks to")
    student.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers, e.g. 02 03")
    book = sub.add_parser("book", help="build the offline site of the executed notebooks and "
                                       "the derivations' PDF into build/book/ (no execution; "
                                       "needs requirements-book.txt)")
    book.add_argument("--executed", default="build/executed",
                      help="folder of executed notebooks (default: build/executed)")
    book.add_argument("--out", default="build/book", help="output folder (default: build/book)")
    book.add_argument("--no-pdf", action="store_true", help="build the site only")
    sync = sub.add_parser("sync", help="rewrite badges and Colab install cells from links.py")
    sync.add_argument("--check", action="store_true", help="only report; exit 1 if out of date")
    args = parser.parse_args(argv)

    if args.command == "run":
        from .runner import run_course

        return run_course(profile=args.profile, only=args.only, seed=args.seed, out=args.out,
                          notebooks=args.notebooks, timeout=args.timeout, smoke=args.smoke,
                          edition=args.edition)
    if args.command == "sweep":
        from .sweep import sweep_course

        return sweep_course(seeds=args.seeds, start=args.start, only=args.only, out=args.out,
                            jobs=args.jobs, profile=args.profile, edition=args.edition,
                            notebooks=args.notebooks, timeout=args.timeout)
    if args.command == "book":
        from .book import build_book

        return build_book(executed=args.executed, out=args.out, pdf=not args.no_pdf)
    if args.command == "student":
        from .editions import write_edition
        from .notebooks import find_notebooks

        written = write_edition("student", args.out, find_notebooks(only=args.only))
        for path in written:
            print(f"wrote {path}")
        return 0 if written else 1
    from .notebooks import (README_END, README_START, find_notebooks, notebook_problems,
                            notebooks_dir, readme_table, sync_notebook, sync_readme)

    stale = []
    for path in find_notebooks():
        if args.check:
            if notebook_problems(path):
                stale.append(path.name)
        elif sync_notebook(path):
            print(f"updated {path.name}")
    readme = notebooks_dir().parent / "README.md"
    if readme.exists():
        if args.check:
            if f"{README_START}\n{readme_table()}\n{README_END}" not in readme.read_text():
                stale.append("README.md")
        elif sync_readme(readme):
            print("updated README.md")
    if stale:
        print(f"out of date or off-template: {stale}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
