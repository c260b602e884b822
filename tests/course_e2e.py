"""One assignment end to end with nbgrader in a temporary course directory: release it, autograde a
batch of submissions once, export the grades; or grade a class with `python -m gru_ref.grade`.

What every assignment's end-to-end file shares is here, once: the fixtures `released` and `graded` and
the tests every assignment passes (the release matches the committed exercises/, it shows no solution
or hidden test, every submission is graded). A file test_nbgrader*.py imports them and sets
    ASSIGNMENT    its id
    SUBMISSIONS   student id -> answers by grade_id, graded in one batch with the solution ("instructor")
    HIDDEN        what the released notebook must not show (beyond nbgrader's solution and hidden-test
                  markers), and SHOWN (optional) what it must
    GRADING       (optional) keyword arguments of grade() for that batch
and keeps only the tests that differ.
"""
import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from conftest import ROOT, VENV_BIN, fill  # noqa: F401 (fill: used by the tests too)


def nbgrader(args, cwd, timeout=1500):
    """The venv's nbgrader, by its path, as the README's instructors run it."""
    return subprocess.run([str(VENV_BIN / "nbgrader"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def release(root, assignment):
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / assignment, root / "solutions" / assignment)
    result = nbgrader(["generate_assignment", assignment, "--force"], root)
    assert result.returncode == 0, result.stderr
    return root / "exercises" / assignment / f"{assignment}.ipynb"


def submit(root, assignment, released, submissions, fill=fill):
    for student, answers in submissions.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(fill(released, answers), folder / f"{assignment}.ipynb")


def grade(root, assignment, released, submissions, fill=fill, malformed=False, feedback=False):
    """submissions: student id -> answers by grade_id; "instructor" submits the solution notebook, and
    with malformed=True "malformed" a file that is not JSON. Autograde, feedback if asked, export."""
    submit(root, assignment, released, submissions, fill)
    instructor = root / "submitted" / "instructor" / assignment
    instructor.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / assignment / f"{assignment}.ipynb", instructor)
    if malformed:
        (root / "submitted" / "malformed" / assignment).mkdir(parents=True)
        (root / "submitted" / "malformed" / assignment / f"{assignment}.ipynb").write_text(
            '{"cells": [ this is not json')
    autograde = nbgrader(["autograde", assignment], root)
    assert autograde.returncode == 0 or malformed, autograde.stderr[-3000:]  # nbgrader's exit code counts that one
    if feedback:
        done = nbgrader(["generate_feedback", assignment], root)
        assert done.returncode == 0, done.stderr
    export = nbgrader(["export"], root)
    assert export.returncode == 0, export.stderr
    with open(root / "grades.csv") as f:
        scores = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)
                  if row["assignment"] == assignment and row["raw_score"] != ""}  # blank: no submission recorded
    return {"scores": scores, "root": root, "log": autograde.stdout + autograde.stderr}


@contextlib.contextmanager
def dask_scheduler(folder, *options, env=None):
    """A Dask scheduler started apart, in folder (its own session, as an instructor starts one), on
    loopback; options: more of `dask scheduler`'s (TLS). Yields its address and the list of processes
    to stop at the end, to which the test adds the workers it starts."""
    scheduler_file = folder / "scheduler.json"
    started = [subprocess.Popen([str(VENV_BIN / "dask"), "scheduler", *options, "--port", "0", "--no-dashboard",
                                 "--scheduler-file", str(scheduler_file)], cwd=folder, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield json.loads(scheduler_file.read_text())["address"], started
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


def grade_class(root, assignment, submissions):
    """Release into root, submit, grade with `python -m gru_ref.grade`: its grades.csv rows by student."""
    released = release(root, assignment)
    submit(root, assignment, released, submissions)
    done = subprocess.run([sys.executable, "-m", "gru_ref.grade", assignment], cwd=root, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(root / "reports" / assignment / "grades.csv") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


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


# The fixtures and tests every assignment's file imports; each reads that file's settings.

@pytest.fixture(scope="module")
def released(request, tmp_path_factory):
    assignment = request.module.ASSIGNMENT
    return release(tmp_path_factory.mktemp(f"course_{assignment}"), assignment)


@pytest.fixture(scope="module")
def graded(request, released):
    module = request.module
    return grade(released.parents[2], module.ASSIGNMENT, released, module.SUBMISSIONS, **getattr(module, "GRADING", {}))


def test_generate_assignment_matches_the_committed_exercises(request, released):
    assignment = request.module.ASSIGNMENT
    assert matches_committed(released, assignment), \
        f"exercises/ is stale: run `nbgrader generate_assignment {assignment} --force` at the root and commit it"


def test_released_notebook_has_no_solution_and_no_hidden_test(request, released):
    text = released.read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", *request.module.HIDDEN):
        assert marker not in text, marker
    for shown in getattr(request.module, "SHOWN", ()):
        assert shown in text, shown


def test_every_submission_is_graded(request, graded):
    """Each submission, and the solution, has its grade (a notebook nbgrader cannot read aside)."""
    assert set(graded["scores"]) - {"malformed"} == set(request.module.SUBMISSIONS) | {"instructor"}
