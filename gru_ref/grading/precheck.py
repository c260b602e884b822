"""Before `nbgrader autograde`: find the submissions nbgrader cannot grade, and say why.

    python -m gru_ref.precheck gru            (run at the course root)

For each folder submitted/<student>/<assignment>/ it reports a missing or renamed notebook, a file
that is not a notebook, extra files, a missing or renamed answer cell, or a missing `def`, with what
to ask of the student. It changes nothing; `python -m gru_ref.grade` grades a renamed notebook.
"""
import argparse
import ast
import sys
from pathlib import Path

import nbformat

from gru_ref.grading.collect import collect, released_names
from gru_ref.grading.submission import LIMITS


def answer_cells(notebook):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def problems(submitted, release):
    """Plain-language problems of one submitted notebook, compared with the released one."""
    try:
        notebook = nbformat.read(submitted, as_version=4)
    except Exception as exc:
        first_line = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return [f"not a readable notebook ({first_line}). Ask the student to save it from Jupyter "
                f"(File > Save, then download the .ipynb) and submit it again."]
    found, found_problems = answer_cells(notebook), []
    for grade_id, cell in answer_cells(release).items():
        if grade_id not in found:
            found_problems.append(f"the answer cell '{grade_id}' is missing (deleted, or copied into a new "
                                  f"cell without its metadata): its tests will fail.")
            continue
        wanted = _defined(cell.source)
        missing = wanted - _defined(found[grade_id].source)
        if missing:
            found_problems.append(f"the answer cell '{grade_id}' no longer defines {', '.join(sorted(missing))}.")
    return found_problems


def _defined(source):
    if len(source) > LIMITS["cell_chars"]:  # grading refuses such a cell as too large
        return set()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment")
    parser.add_argument("--root", default=".", help="the course root (default: here)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    names = released_names(root, args.assignment)
    if not names:
        print(f"No released notebooks in {root / 'exercises' / args.assignment}: run "
              f"`nbgrader generate_assignment {args.assignment}` first.")
        return 2
    release = nbformat.read(root / "exercises" / args.assignment / names[0], as_version=4)
    submissions = collect(root, args.assignment)
    bad = 0
    for submission in submissions:
        found = list(submission.notes)
        if submission.status == "graded":  # found, readable, nothing refused
            found += problems(submission.notebook, release)
        bad += bool(found)
        where = (submission.notebook or submission.folder).relative_to(root)
        for problem in found:
            print(f"{where}: {problem}")
    print(f"{len(submissions)} submission folder(s) checked, {bad} with something to look at.")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
