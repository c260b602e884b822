"""Benchmark (not a test): how long `nbgrader autograde` takes per assignment, with this course's
config (each notebook in the sandbox, judged outside it), over 1 and N copies of the solution.

    .venv/bin/python tools/bench_assignments.py [--n 8] [--repeat 3] [ASSIGNMENT ...]

Every assignment in solutions/ by default. For each: a fresh course folder, the assignment released,
1 and then N submissions of its solution (each with a comment of its own, so no two are alike),
graded by one `nbgrader autograde` run each; every submission must get the autograded points in
full. It prints the README's table: the points, both runs' seconds, and the cost of each extra
submission ((t_N - t_1) / (N - 1)), which leaves out the fixed cost of a run (nbgrader starting,
the sandbox's template importing torch). Each run is repeated and the fastest kept: on a shared
machine the slower ones measure the neighbours.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from nbgrader_runs import BIN, nbgrader, submissions, submit  # noqa: E402


def autograded_points(notebook):
    """The points of the test cells (a manually graded answer is not autograded)."""
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in notebook.cells
               if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")


def fastest(assignment, n, tmp, repeat):
    runs = [autograde_seconds(assignment, n, tmp / f"{assignment}-{n}-{r}") for r in range(repeat)]
    return min(seconds for seconds, _ in runs), runs[0][1]


def autograde_seconds(assignment, n, folder):
    folder.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "solutions" / assignment, folder / "solutions" / assignment)
    nbgrader(["generate_assignment", assignment, "--force"], folder)
    solution = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    submit(folder, assignment, solution, n)
    start = time.perf_counter()
    nbgrader(["autograde", assignment], folder)
    seconds = time.perf_counter() - start
    full = autograded_points(solution)
    scores = [(student, code_score) for student, code_score, _, _ in submissions(folder, assignment)]
    short = [(student, score) for student, score in scores if score != full]
    if len(scores) != n or short:
        raise SystemExit(f"{assignment}: the solution did not get {full:g} autograded points: {short or scores}")
    return seconds, full


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", help="default: every folder of solutions/")
    parser.add_argument("--n", type=int, default=8, help="submissions in the second run (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the fastest kept (default 3)")
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2")
    assignments = args.assignments or sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"  # nbgrader runs alembic and jupyter by name
    print(f"| assignment | autograded points | 1 submission | {args.n} submissions | per extra submission |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="bench_assignments_") as tmp:
        for assignment in assignments:
            one, points = fastest(assignment, 1, Path(tmp), args.repeat)
            many, _ = fastest(assignment, args.n, Path(tmp), args.repeat)
            print(f"| `{assignment}` | {points:g} | {one:.1f} s | {many:.1f} s | {(many - one) / (args.n - 1):.2f} s |",
                  flush=True)


if __name__ == "__main__":
    main()
