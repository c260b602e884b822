"""Grading as a hostile class would have it: every attack on the grader, graded end to end through
`nbgrader autograde` (the sandbox and the judge), beside right answers and unusual right answers.

None gets credit it did not earn, no other submission's grade changes, no file of the course
changes, no process is left, and the batch finishes.
"""
import hashlib
import json
import shutil
import subprocess
import uuid

import nbformat
import pytest

from conftest import ROOT
from conftest import fill as conftest_fill
from hostile_code import ATTACKS, EXTRA, UNUSUAL_BUT_RIGHT
from learner_code import GRU_CELL, GRU_CELL_GRAD, MY_GRU_WITH_CELL
from test_nbgrader import ASSIGNMENT, FULL, GRU_CELL_POINTS, nbgrader

MARKER = f"gru-ref-attack-{uuid.uuid4().hex[:8]}"
FLOODS = ("prints_flood", "memory_flood", "hanging_cell")  # a right my_gru beside them: full marks
# Short limits, so that the attacks that stall cost seconds.
LIMITS = "\nc.SandboxedExecute.limits = {'cell_timeout': 5, 'deadline_s': 60, 'memory_mb': 1024}\n"


# Graded after every attack (nbgrader goes in order of student id): what did they leave behind?
LOOKS_FOR_TRACES = """
import glob, os
left = [p for folder in ("/tmp", "/dev/shm", "/scratch", "/dev") for p in glob.glob(folder + "/**", recursive=True)
        if "gru-ref-attack" in p]
print("traces:", left, "work folder usable:", os.access(".", os.W_OK))
"""


def fill(released, answers, course):
    """An attack's notebook, with the course's path and the marker written into its added cells."""
    def resolve(text):
        return text and text.replace("{course}", str(course)).replace("{marker}", MARKER)
    return conftest_fill(released, answers, resolve(answers.get(EXTRA)), resolve(answers.get("markdown")))


def course_checksums(root):
    """Every file an attack could have reached for, and what it holds."""
    files = [root / "nbgrader_config.py", *sorted((root / "solutions").rglob("*")),
             *sorted((root / "submitted").rglob("*")), *sorted((root / "exercises").rglob("*"))]
    return {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


def processes_with(text):
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if text in line and "ps -eo" not in line]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    with open(root / "nbgrader_config.py", "a") as f:
        f.write(LIMITS)
    shutil.copytree(ROOT / "solutions", root / "solutions")
    assert nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root).returncode == 0
    released = root / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    right = {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": GRU_CELL_GRAD}
    students = {"right": right, **ATTACKS, **UNUSUAL_BUT_RIGHT, "zz_looks_for_traces": {**right, EXTRA: LOOKS_FOR_TRACES}}
    for student, answers in students.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(fill(released, answers, root), folder / f"{ASSIGNMENT}.ipynb")
    # A shadow package submitted beside the notebook, as a file upload would put it.
    beside = root / "submitted" / "shadow_beside" / ASSIGNMENT
    (beside / "gru_ref").mkdir(parents=True)
    (beside / "gru_ref" / "__init__.py").write_text("def check_my_gru(*a): pass\ncheck_gru_cell = check_my_gru\n")
    (beside / "torch.py").write_text("raise SystemExit('shadowed')\n")
    nbformat.write(fill(released, ATTACKS["forged_recorder"], root), beside / f"{ASSIGNMENT}.ipynb")
    before = course_checksums(root)
    autograde = nbgrader(["autograde", ASSIGNMENT], root, timeout=1200)
    after = course_checksums(root)
    feedback = nbgrader(["generate_feedback", ASSIGNMENT], root)
    export = nbgrader(["export"], root)
    assert export.returncode == 0, export.stderr
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submissions = {s.student.id: s for s in gradebook.assignment_submissions(ASSIGNMENT)}
        scores = {student: s.score for student, s in submissions.items()}
        manual = {student: [g.manual_score for n in s.notebooks for g in n.grades if g.manual_score is not None]
                  for student, s in submissions.items()}
        review = {student: s.needs_manual_grade for student, s in submissions.items()}
    return {"root": root, "log": autograde.stdout + autograde.stderr, "autograde": autograde,
            "feedback": feedback, "scores": scores, "manual": manual, "review": review,
            "before": before, "after": after, "students": set(students) | {"shadow_beside"}}


def autograded(hostile, student):
    return nbformat.read(hostile["root"] / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                         as_version=4)


def test_the_batch_finishes_and_grades_everyone(hostile):
    assert hostile["autograde"].returncode == 0, hostile["log"][-3000:]
    assert set(hostile["scores"]) == hostile["students"]


@pytest.mark.parametrize("student", sorted(set(ATTACKS) - set(FLOODS)) + ["shadow_beside"])
def test_no_attack_earns_credit_for_my_gru(hostile, student):
    assert hostile["scores"][student] == GRU_CELL_POINTS, hostile["log"][-2000:]


@pytest.mark.parametrize("student", ["right", *FLOODS, *UNUSUAL_BUT_RIGHT, "zz_looks_for_traces"])
def test_right_answers_get_full_marks_however_they_are_written(hostile, student):
    assert hostile["scores"][student] == FULL


def test_no_attack_changes_a_file_of_the_course_or_a_grade(hostile):
    assert hostile["after"] == hostile["before"]
    assert not any(hostile["manual"].values())
    assert not list(hostile["root"].glob("**/" + MARKER))


def test_nothing_escapes_to_the_host_or_outlives_the_batch(hostile, tmp_path):
    from pathlib import Path
    assert not Path("/tmp", MARKER).exists()
    assert not processes_with(MARKER)
    assert not processes_with("gru_ref.grading.template")


def test_nothing_of_one_submission_meets_the_next(hostile):
    outputs = json.dumps(autograded(hostile, "zz_looks_for_traces").cells[-1].outputs)
    assert "traces: []" in outputs and "work folder usable: True" in outputs
    assert "opened" not in json.dumps(autograded(hostile, "proc_pipes").cells[-1].outputs)
    assert "shmget refused: native code is not allowed in grading: ctypes" in \
        json.dumps(autograded(hostile, "leaves_traces").cells[-1].outputs)
    assert "interfered with the grader's channel" in json.dumps(autograded(hostile, "message_flood").cells[-1].outputs)


def test_the_instructors_cells_run_cleanly_in_the_box(hostile):
    locked = [c for c in autograded(hostile, "right").cells
              if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("locked")]
    assert locked and not [o for c in locked for o in c.outputs if o.output_type == "error"]


def test_the_reference_is_not_within_reach(hostile):
    cell = next(c for c in autograded(hostile, "reference_import").cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "my_gru")
    assert "neither the learners' gru_ref nor the grading sandbox holds" in json.dumps(cell.outputs)


def test_a_hanging_cell_gets_a_plain_message(hostile):
    output = autograded(hostile, "hanging_cell").cells[-1].outputs[-1]
    assert output.ename == "CellTimeout" and "did not finish in time" in output.evalue
    assert "Traceback" not in "".join(output.traceback) and "KeyboardInterrupt" not in json.dumps(output)


def test_prints_and_memory_floods_stay_small(hostile):
    path = hostile["root"] / "autograded" / "prints_flood" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert path.stat().st_size < 1 << 20
    assert "more characters of output not kept" in path.read_text()
    assert "the box said no" in json.dumps(autograded(hostile, "memory_flood").cells[-1].outputs)


def test_suspicious_code_is_flagged_for_manual_review(hostile):
    for student in ("undo_lockdown", "forged_recorder", "fresh_process", "spawn_worker", "kills_grader",
                    "shadow_package", "reference_import", "hidden_ctypes", "leaves_traces", "native_gru",
                    "native_gru_caught", "patched_recorder"):
        assert hostile["review"][student], student
    for student in ("right", *UNUSUAL_BUT_RIGHT):
        assert not hostile["review"][student], student


@pytest.mark.parametrize("student, check, reason", [
    ("native_gru", "test_my_gru_contract", "native code is not allowed in grading: ctypes (ctypes.dlopen)"),
    ("native_gru_caught", "test_my_gru_contract", "native code is not allowed in grading: ctypes (ctypes.dlopen)"),
    ("patched_recorder", "test_gru_cell_grad", "the grader's own code was changed before or during this check"),
])
def test_native_code_and_a_patched_grader_fail_the_check_with_the_reason(hostile, student, check, reason):
    cell = next(c for c in autograded(hostile, student).cells if c.metadata.get("nbgrader", {}).get("grade_id") == check)
    assert reason in json.dumps(cell.outputs), cell.outputs


def test_feedback_carries_no_learner_html_and_no_solution(hostile):
    assert hostile["feedback"].returncode == 0, hostile["feedback"].stderr
    feedback = hostile["root"] / "feedback"
    report = (feedback / "script_in_feedback" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert f"<script>alert('{MARKER}')" not in report and "<img src=x" not in report
    assert 'href="javascript:' not in report and "evil.example" not in report.split("&lt;")[0]
    assert '<img src="https://evil' not in report and 'src="https://evil' not in report
    assert "&lt;script&gt;" in report
    for student in ("reads_solutions", "right"):
        assert "BEGIN SOLUTION" not in (feedback / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()


def test_feedback_renders_math_with_no_network(hostile):
    page = hostile["root"] / "feedback" / "right" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    text = page.read_text()
    assert "<math" in text and "<script" not in text and "cdnjs" not in text and "https://cdn" not in text
    assert not (page.parent / "mathjax").exists()  # MathML in the page: nothing beside it


def test_a_sandbox_that_cannot_set_itself_up_is_the_graders_error_not_a_zero():
    from gru_ref.grading.box import Box
    from gru_ref.grading.submission import SandboxSetupError, grade_notebook
    released = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    box = Box()
    try:
        with pytest.raises(SandboxSetupError, match="the grader's problem"):
            grade_notebook(conftest_fill(released, {}), box, {"file_mb": "a lot"})  # a limit it cannot set
    finally:
        box.close()


def test_the_box_shows_nothing_beyond_the_python_environment(monkeypatch, tmp_path):
    """nbgrader puts the course root on sys.path: the box must not show it, nor any such folder."""
    import sys
    from gru_ref.grading import bwrap
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(ROOT), "", *sys.path])
    shown = bwrap.python_dirs()
    assert not [d for d in shown if d in (str(tmp_path), str(ROOT)) or not d.startswith((sys.prefix, sys.base_prefix))]


def test_autodiff_by_another_door_earns_nothing_by_hand_in_the_box():
    """Issue 13: forward mode and complex-step differentiation, graded in the sandbox like any
    notebook: the by-hand part fails with what was seen, the rest of the notebook keeps its points."""
    from gru_ref.grading.box import Box
    from gru_ref.grading.submission import grade_notebook
    from test_checker import AUTODIFF_ROUTES
    released = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    box = Box()
    try:
        for route in ("torch.func.jvp", "forward_ad dual numbers", "complex step"):
            source, named = AUTODIFF_ROUTES[route]
            answers = {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": source}
            tests = grade_notebook(conftest_fill(released, answers), box, {})["tests"]
            assert tests["test_my_gru_values"]["passed"], (route, tests)
            message = tests["test_gru_cell_grad"]["message"]
            assert not tests["test_gru_cell_grad"]["passed"] and all(w in message for w in named), (route, message)
    finally:
        box.close()
