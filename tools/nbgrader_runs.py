"""What the grading benchmarks share (tools/bench_assignments.py, tools/bench_grading.py): nbgrader run
from this environment, a class of submissions that are all the solution, and the grades nbgrader kept."""
import subprocess
import sys
from pathlib import Path

import nbformat

BIN = Path(sys.executable).parent


def nbgrader(args, cwd):
    """`nbgrader ARGS` in the course folder cwd; stops the benchmark with nbgrader's message if it fails."""
    done = subprocess.run([str(BIN / "nbgrader"), *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed in {cwd}:\n{done.stderr[-2000:]}")


def submit(folder, assignment, solution, n):
    """n students, each submitting the solution notebook with a comment of their own in its first answer
    cell, so that no two notebooks are the same (the class command would grade identical ones once)."""
    answer = next(c for c in solution.cells if c.metadata.get("nbgrader", {}).get("solution")
                  and c.cell_type == "code")
    original = answer.source
    try:
        for i in range(n):
            target = folder / "submitted" / f"student{i:03d}" / assignment
            target.mkdir(parents=True)
            answer.source = f"{original}\n# student {i:03d}"
            nbformat.write(solution, target / f"{assignment}.ipynb")
    finally:
        answer.source = original


def submissions(folder, assignment):
    """nbgrader's gradebook record of each submission of the assignment."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gradebook:
        return [(s.student_id, s.code_score, s.score, s.max_score)
                for s in gradebook.assignment_submissions(assignment)]
