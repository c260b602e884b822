"""Before `nbgrader autograde`: find the submissions nbgrader cannot grade, and say why.

    python -m gru_ref.precheck gru            (run at the course root)

For each submitted/<student>/<assignment>/*.ipynb it reports a file that is not a notebook, a
missing or renamed answer cell, or a missing `def`, with what to ask of the student. It changes
nothing; nbgrader still grades every readable notebook (an unreadable one is skipped, the batch goes
on).
"""
import argparse
import ast
import sys
from pathlib import Path

import nbformat


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
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment")
    parser.add_argument("--root", default=".", help="the course root (default: here)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    releases = sorted((root / "exercises" / args.assignment).glob("*.ipynb"))
    if not releases:
        print(f"No released notebooks in {root / 'exercises' / args.assignment}: run "
              f"`nbgrader generate_assignment {args.assignment}` first.")
        return 2
    count, bad = 0, 0
    for release_path in releases:
        release = nbformat.read(release_path, as_version=4)
        for submitted in sorted((root / "submitted").glob(f"*/{args.assignment}/{release_path.name}")):
            count += 1
            found = problems(submitted, release)
            bad += bool(found)
            for problem in found:
                print(f"{submitted.relative_to(root)}: {problem}")
    print(f"{count} submission(s) checked, {bad} with problems.")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
