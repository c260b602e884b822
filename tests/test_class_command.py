"""`python -m gru_ref.grade`, the class command's options and memory: --student, --force, what a
change to a submission, the source notebook or the checker grades again (gru_ref.grading.fingerprint),
the line per folder at the start; and Dask workers that share no folder with the grader."""
import csv
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT, VENV_BIN
from course_e2e import dask_scheduler
from gru_ref.grading import fingerprint
from gru_ref.judge import secret
from learner_code import GRU_CELL, GRU_CELL_GRAD, MY_GRU_WITH_CELL, WRONG
from test_grading import fill
from test_nbgrader import ASSIGNMENT, FULL, nbgrader

CLASS = {"ada": {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": GRU_CELL_GRAD},
         "cai": {"gru_cell": GRU_CELL, "my_gru": WRONG["z_swapped"]}}
EMPTY = "ivy"  # a folder with no notebook


def grade(root, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT, "--workers", "1", *args], cwd=root,
                          capture_output=True, text=True, timeout=900, **kwargs)


def read_csv(root):
    with open(root / "reports" / ASSIGNMENT / "grades.csv") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def notebook_of(root, student):
    return root / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def autograded(root, student):
    return (root / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()


def edit_answer(root, student, comment):
    """The learner hands in again: a comment added to their first answer cell."""
    nb = nbformat.read(notebook_of(root, student), as_version=4)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    answer.source += f"\n# {comment}"
    nbformat.write(nb, notebook_of(root, student))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A small class graded once: (course root, the command's stderr)."""
    root = tmp_path_factory.mktemp("class_command")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    assert nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root).returncode == 0
    released = root / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    for student, answers in CLASS.items():
        notebook_of(root, student).parent.mkdir(parents=True)
        nbformat.write(fill(released, answers, root), notebook_of(root, student))
    (root / "submitted" / EMPTY / ASSIGNMENT).mkdir(parents=True)
    done = grade(root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done.stderr


@pytest.fixture
def course(graded, tmp_path):
    """A copy of the graded class, for a test to change."""
    return shutil.copytree(graded[0], tmp_path / "course", symlinks=True)


def test_the_start_names_each_folder_that_needs_a_look_in_one_line(graded):
    root, stderr = graded
    lines = stderr.splitlines()
    running = next(i for i, line in enumerate(lines) if line.startswith("Running "))
    named = [line for line in lines[:running] if line.startswith("  ")]
    assert named == [f"  {EMPTY} (missing): no notebook in the folder; ask the student to submit '{ASSIGNMENT}.ipynb'"]
    assert read_csv(root)["ada"]["score"] == str(FULL)


def test_student_grades_only_that_learner(course):
    before = {s: autograded(course, s) for s in CLASS}
    for student in CLASS:
        edit_answer(course, student, "handed in again")
    done = grade(course, "--student", "cai")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "grading 1 of them (--student)" in done.stderr
    assert "Running 1 notebook(s)" in done.stderr and "Recording 1 grade(s)" in done.stderr
    assert autograded(course, "ada") == before["ada"]  # not touched
    assert b"# handed in again" in autograded(course, "cai") and b"# handed in again" not in before["cai"]
    rows = read_csv(course)
    assert "not graded in this run (--student)" in rows["ada"]["notes"]
    assert "not graded in this run" not in rows["cai"]["notes"]
    again = grade(course)  # the class: ada's new notebook now, cai's is done
    assert "Running 1 notebook(s)" in again.stderr and "Recording 1 grade(s)" in again.stderr, again.stderr
    assert b"# handed in again" in autograded(course, "ada")


def test_force_grades_again_what_is_unchanged(course):
    unchanged = grade(course, "--student", "ada")
    assert "Running 0 notebook(s)" in unchanged.stderr and "Recording 0 grade(s)" in unchanged.stderr
    forced = grade(course, "--student", "ada", "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "Running 1 notebook(s) in the sandbox on 1 local worker(s) (0 already done)" in forced.stderr
    assert "Recording 1 grade(s)" in forced.stderr
    assert read_csv(course)["ada"]["score"] == str(FULL)


def test_a_changed_source_notebook_grades_the_class_again(course):
    source = course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("A note added by the instructor after grading."))
    nbformat.write(nb, source)
    done = grade(course)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Running {len(CLASS)} notebook(s)" in done.stderr and f"Recording {len(CLASS)} grade(s)" in done.stderr


def test_an_unknown_student_is_one_clear_line(course):
    done = grade(course, "--student", "nobody")
    assert done.returncode == 2
    assert done.stderr.strip() == (f"Cannot grade: no submission folder submitted/nobody/{ASSIGNMENT}/ for --student "
                                   f"nobody: check the id (the folder's name).")


def test_the_checker_hash_covers_the_checker_and_not_the_report(tmp_path):
    copy = shutil.copytree(fingerprint.PACKAGE, tmp_path / "gru_ref", ignore=shutil.ignore_patterns("__pycache__"))
    first = fingerprint.checker.__wrapped__(copy)
    with open(copy / "grading" / "report.py", "a") as f:
        f.write("\n# a change to the class report\n")
    assert fingerprint.checker.__wrapped__(copy) == first
    for checker_file in ("judge/judge.py", "assignments/gru.py", "grading/runner.py", "learner/check.py"):
        with open(copy / checker_file, "a") as f:
            f.write("\n# a change to the checker\n")
        changed = fingerprint.checker.__wrapped__(copy)
        assert changed != first, checker_file
        first = changed


def test_a_result_is_kept_under_its_learner_and_its_context(graded):
    root = graded[0]
    nb = nbformat.reads(autograded(root, "ada").decode(), as_version=4)  # as graded: the hidden tests in
    context = fingerprint.context(root / "solutions" / ASSIGNMENT)
    cases = secret.keys(root, ASSIGNMENT, "ada")  # the learner's hidden cases (gru_ref.judge.secret)
    key = fingerprint.key("ada", nb, context, cases)
    assert key != fingerprint.key("cai", nb, context, cases)  # per learner: hidden cases are theirs
    assert key != fingerprint.key("ada", nb, context)  # a new course secret: new hidden cases
    assert key != fingerprint.key("ada", nb, fingerprint.context(root / "solutions" / ASSIGNMENT, {"deadline_s": 60}),
                                  cases)
    recorded = json.loads((root / ".gru_ref" / ASSIGNMENT / "recorded.json").read_text())
    assert recorded["ada"] == key and (root / ".gru_ref" / ASSIGNMENT / "results" / f"{key}.json").exists()


def test_plain_nbgrader_finds_the_class_commands_result(course):
    """SandboxedExecute (plain `nbgrader autograde`, and the class command's record) finds a result
    under the key the class command gave it: a result planted there is what it records."""
    key = json.loads((course / ".gru_ref" / ASSIGNMENT / "recorded.json").read_text())["cai"]
    path = course / ".gru_ref" / ASSIGNMENT / "results" / f"{key}.json"
    result = json.loads(path.read_text())
    result["tests"]["test_my_gru_values"]["message"] = "PLANTED in the result"
    path.write_text(json.dumps(result))
    env = {**os.environ, "GRU_REF_RESULTS": str(path.parent)}
    done = subprocess.run([str(VENV_BIN / "nbgrader"), "autograde", ASSIGNMENT, "--student", "cai", "--force"],
                          cwd=course, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert b"PLANTED in the result" in autograded(course, "cai")


WATCH = '''"""A Dask worker preload: every file, folder or command of the course that this worker touches is
written to $WATCH_LOG (an audit hook sees open, listdir, scandir, chdir, ... and subprocesses)."""
import os
import sys
import threading

COURSE = os.path.realpath(os.environ["WATCH_COURSE"])
LOG = os.environ["WATCH_LOG"]
EVENTS = {"open", "os.listdir", "os.scandir", "os.chdir", "os.mkdir", "os.remove", "os.rename", "os.rmdir",
          "os.symlink", "os.utime", "os.chmod", "shutil.copyfile", "shutil.rmtree", "subprocess.Popen",
          "os.posix_spawn", "os.exec"}
_busy = threading.local()


def _paths(value):
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _paths(item)
    elif isinstance(value, (str, bytes, os.PathLike)):
        yield os.fsdecode(value)


def _watch(event, args):
    if event not in EVENTS or getattr(_busy, "on", False):
        return
    _busy.on = True
    try:
        touched = [p for p in _paths(args) if COURSE in p or os.path.realpath(p).startswith(COURSE)]
        if touched:
            with open(LOG, "a") as f:
                f.write(f"{event}: {touched}\\n")
    finally:
        _busy.on = False


sys.addaudithook(_watch)
'''


def test_dask_workers_grade_without_seeing_the_course(course, tmp_path):
    """Notebooks and results travel through Dask: a worker started in another folder, with another
    temporary folder, grades the class without ever opening, listing or running anything under the
    course's folder (an audit hook in the worker watches), and its grades are the class's."""
    elsewhere = tmp_path / "worker"
    (elsewhere / "tmp").mkdir(parents=True)
    (elsewhere / "watch_course.py").write_text(WATCH)
    log = elsewhere / "touched.log"
    before = {s: r["score"] for s, r in read_csv(course).items()}
    shutil.rmtree(course / ".gru_ref" / ASSIGNMENT / "results")  # every notebook runs again, on that worker
    env = {**os.environ, "WATCH_COURSE": str(course), "WATCH_LOG": str(log), "TMPDIR": str(elsewhere / "tmp")}
    with dask_scheduler(elsewhere, "--host", "127.0.0.1", env=env) as (address, started):
        started.append(subprocess.Popen([str(VENV_BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard",
                                         "--memory-limit", "0", "--local-directory", str(elsewhere / "tmp"),
                                         "--preload", str(elsewhere / "watch_course.py")], cwd=elsewhere, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        done = grade(course, "--scheduler", address)
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"Running {len(CLASS)} notebook(s) in the sandbox on {address}" in done.stderr
        assert {s: r["score"] for s, r in read_csv(course).items()} == before
        assert not log.exists(), log.read_text()
        # The watch works: the worker reading one file of the course is seen.
        from distributed import Client
        with Client(address, timeout=30) as client:
            client.run(lambda path: open(path).close(), str(course / "nbgrader_config.py"))
        assert "nbgrader_config.py" in log.read_text()
