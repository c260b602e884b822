"""`python -m gru_ref.grade`: a class graded in parallel, on a local Dask cluster or on a scheduler
and workers started apart, interrupted and resumed, with its report; the same grades as plain
`nbgrader autograde` gives one notebook at a time."""
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

from conftest import ROOT, VENV_BIN
from hostile_code import ATTACKS
from learner_code import GRU_CELL, GRU_CELL_GRAD, MY_GRU_BATCHED, MY_GRU_WITH_CELL, WRONG
from test_grading import fill
from test_nbgrader import ASSIGNMENT, FULL, nbgrader

CLASS = {
    "ada": {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": GRU_CELL_GRAD},
    "ben": {"gru_cell": GRU_CELL, "my_gru": MY_GRU_BATCHED},
    "cai": {"gru_cell": GRU_CELL, "my_gru": WRONG["z_swapped"]},
    "dee": {"gru_cell": GRU_CELL.replace("r * h_n", "h_n"), "my_gru": MY_GRU_WITH_CELL},
    "eve": ATTACKS["undo_lockdown"],
    "fay": {},
}
RENAMED, UNREADABLE, EMPTY = "gus", "hal", "ivy"


def make_course(root):
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions", root / "solutions")
    assert nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root).returncode == 0
    released = root / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    for student, answers in CLASS.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(fill(released, answers, root), folder / f"{ASSIGNMENT}.ipynb")
    renamed = root / "submitted" / RENAMED / ASSIGNMENT
    renamed.mkdir(parents=True)
    nbformat.write(fill(released, CLASS["ada"], root), renamed / f"{ASSIGNMENT} (1).ipynb")
    (renamed / "scratch.py").write_text("print('never run')\n")
    broken = root / "submitted" / UNREADABLE / ASSIGNMENT
    broken.mkdir(parents=True)
    (broken / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [ not json')
    (root / "submitted" / EMPTY / ASSIGNMENT).mkdir(parents=True)
    return root


def grade(root, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT, *args], cwd=root,
                          capture_output=True, text=True, timeout=900, **kwargs)


def read_csv(root):
    with open(root / "reports" / ASSIGNMENT / "grades.csv") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def scores(rows):
    return {student: row["score"] for student, row in rows.items()}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("class"))
    done = grade(root, "--workers", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The same class through plain `nbgrader autograde`, one notebook at a time."""
    root = make_course(tmp_path_factory.mktemp("sequential"))
    (root / "submitted" / RENAMED / ASSIGNMENT / f"{ASSIGNMENT} (1).ipynb").rename(
        root / "submitted" / RENAMED / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    nbgrader(["autograde", ASSIGNMENT], root)  # exits 1: it could not read one notebook
    assert nbgrader(["export"], root).returncode == 0
    with open(root / "grades.csv") as f:
        return {row["student_id"]: row["raw_score"] for row in csv.DictReader(f)}


def test_statuses_say_what_happened_to_each_submission(graded_class):
    rows = read_csv(graded_class[0])
    assert {s: r["status"] for s, r in rows.items()} == {
        "ada": "graded", "ben": "graded", "cai": "graded", "dee": "graded", "eve": "flagged",
        "fay": "graded", RENAMED: "graded", UNREADABLE: "unreadable", EMPTY: "missing"}
    assert "renamed notebook 'gru (1).ipynb' graded as 'gru.ipynb'" in rows[RENAMED]["notes"]
    assert "extra files never executed: scratch.py" in rows[RENAMED]["notes"]
    assert "not a readable notebook" in rows[UNREADABLE]["notes"]
    assert rows[EMPTY]["score"] == "" and rows[UNREADABLE]["test_gru_cell"] == ""  # not a 0
    assert rows["ada"]["score"] == rows[RENAMED]["score"] == str(FULL)


def test_parallel_grades_equal_plain_sequential_nbgrader(graded_class, sequential):
    parallel = {s: float(r["score"]) for s, r in read_csv(graded_class[0]).items() if r["score"]}
    assert parallel == {s: float(v) for s, v in sequential.items() if s not in (UNREADABLE, EMPTY)}


def test_nbgrader_sees_the_grades_export_and_feedback_work(graded_class):
    root = graded_class[0]
    assert nbgrader(["export"], root).returncode == 0
    with open(root / "grades.csv") as f:
        exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)}
    assert exported["ada"] == FULL and exported["ben"] == 12.0 and exported["cai"] == 5.0
    feedback = nbgrader(["generate_feedback", ASSIGNMENT], root)
    assert feedback.returncode == 0, feedback.stderr
    report = (root / "feedback" / "dee" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "Your my_gru calls gru_cell, which failed its own test above" in report


def test_the_report_is_offline_and_names_mistakes_flags_and_ungraded(graded_class):
    report = (graded_class[0] / "reports" / ASSIGNMENT / "report.html").read_text()
    for section in ("Scores", "Pass rate per test cell", "Diagnosed mistakes", "Flagged for manual review",
                    "Not graded"):
        assert section in report
    assert "z swapped" in report and "reset gate missing" in report
    assert "imports gc" in report and "not a readable notebook" in report
    assert "http://" not in report and "https://" not in report and "<script" not in report


def test_a_second_run_grades_nothing_again(graded_class):
    root = graded_class[0]
    before = read_csv(root)
    again = grade(root, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert "Running 0 notebook(s) in the sandbox" in again.stderr
    assert "Recording 0 grade(s)" in again.stderr
    assert scores(read_csv(root)) == scores(before)


def test_an_interrupted_run_resumes_and_loses_nothing(tmp_path, graded_class):
    root = make_course(tmp_path)
    results = root / ".gru_ref" / ASSIGNMENT / "results"
    run = subprocess.Popen([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT, "--workers", "1"], cwd=root,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while not (results.exists() and list(results.glob("*.json"))) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGINT)  # Ctrl-C, as the terminal sends it to the whole group
    _, stderr = run.communicate(timeout=120)
    kept = len(list(results.glob("*.json")))
    assert 1 <= kept < len(CLASS) + 1, stderr
    resumed = grade(root, "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"({kept} already done)" in resumed.stderr
    assert scores(read_csv(root)) == scores(read_csv(graded_class[0]))


def test_grading_through_a_dask_scheduler_and_workers_started_apart(tmp_path, graded_class):
    root = make_course(tmp_path / "course")
    scheduler_file = tmp_path / "scheduler.json"
    dask = str(VENV_BIN / "dask")
    started = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                 "--scheduler-file", str(scheduler_file), "--no-dashboard"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            started.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                             "--no-dashboard", "--memory-limit", "0"], cwd=tmp_path,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True))
        done = grade(root, "--scheduler", address)
        assert done.returncode == 0, done.stderr[-3000:]
        assert scores(read_csv(root)) == scores(read_csv(graded_class[0]))
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


def test_without_a_sandbox_grading_refuses_and_says_what_to_do(tmp_path):
    root = make_course(tmp_path)
    env = {**os.environ, "PATH": "/nonexistent"}
    refused = grade(root, env=env)
    assert refused.returncode == 2
    assert "apt-get install bubblewrap" in refused.stderr and "Traceback" not in refused.stderr


def test_trusted_grading_without_the_sandbox_says_so_loudly(tmp_path):
    root = tmp_path / "course"
    make_course(root)
    for student in list(CLASS)[1:] + [RENAMED, UNREADABLE, EMPTY]:
        shutil.rmtree(root / "submitted" / student)
    done = grade(root, "--workers", "1", env={**os.environ, "GRU_REF_NO_SANDBOX": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "grading WITHOUT the bubblewrap sandbox" in done.stderr
    assert read_csv(root)["ada"]["score"] == str(FULL)
