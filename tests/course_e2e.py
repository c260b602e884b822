"""One assignment end to end with nbgrader in a temporary course directory: release it, autograde a
batch of submissions once, export the grades. Shared by the per-assignment end-to-end tests."""
import csv
import json
import shutil

import nbformat

from conftest import ROOT, fill  # noqa: F401 (fill: used by the tests too)
from test_nbgrader import nbgrader


def release(root, assignment):
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / assignment, root / "solutions" / assignment)
    result = nbgrader(["generate_assignment", assignment, "--force"], root)
    assert result.returncode == 0, result.stderr
    return root / "exercises" / assignment / f"{assignment}.ipynb"


def grade(root, assignment, released, submissions):
    """submissions: student id -> answers by grade_id; "instructor" submits the solution notebook."""
    for student, answers in submissions.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(fill(released, answers), folder / f"{assignment}.ipynb")
    instructor = root / "submitted" / "instructor" / assignment
    instructor.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / assignment / f"{assignment}.ipynb", instructor)
    autograde = nbgrader(["autograde", assignment], root)
    assert autograde.returncode == 0, autograde.stderr[-3000:]
    export = nbgrader(["export"], root)
    assert export.returncode == 0, export.stderr
    with open(root / "grades.csv") as f:
        scores = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)
                  if row["assignment"] == assignment}
    return {"scores": scores, "root": root}


def outputs(graded, assignment, student):
    """Each test cell's output text, by grade_id, in a student's autograded notebook."""
    path = graded["root"] / "autograded" / student / assignment / f"{assignment}.ipynb"
    return {cell.metadata.nbgrader.grade_id: "\n".join(o.get("text", "") + o.get("evalue", "")
                                                        for o in cell.get("outputs", ()))  # a written answer has none
            for cell in nbformat.read(path, as_version=4).cells
            if cell.metadata.get("nbgrader", {}).get("grade")}


def matches_committed(released, assignment):
    committed = ROOT / "exercises" / assignment / f"{assignment}.ipynb"
    return json.loads(released.read_text()) == json.loads(committed.read_text())
