"""End to end with nbgrader, in a temporary course directory: release, autograde a batch of
submissions (right, wrong, cheating, crashing, hanging, tampering, malformed), export the grades."""
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

import course_e2e
from conftest import fill as conftest_fill
from course_e2e import (graded, nbgrader, released, test_every_submission_is_graded,  # noqa: F401 (fixtures,
                        test_generate_assignment_matches_the_committed_exercises,  # shared tests, and nbgrader
                        test_released_notebook_has_no_solution_and_no_hidden_test)  # for test_grading.py)
from learner_code import CHEATS, GRU_CELL, GRU_CELL_GRAD, MISBEHAVING, MY_GRU_WITH_CELL, TAMPERING, TAMPERING_CHEAT, WRONG
from gru_ref.assignments.gru import MISTAKES

ASSIGNMENT = "gru"
APPENDED = "new cell at the end"
FULL = 15.0  # 3 for gru_cell, 9 for my_gru, 3 for the stretch (gru_cell_grad)
GRU_CELL_POINTS = 3.0
WRONG_GRU_CELL = GRU_CELL.replace("n = torch.tanh(i_n + r * h_n)", "n = torch.tanh(i_n + h_n)")
HIDDEN = ("gi.chunk(3", "values\", \"gradients")

# student id -> answers by grade_id (None: submit the file as it is)
SUBMISSIONS = {
    "right": {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": GRU_CELL_GRAD},
    "untouched": {},
    "blog_bug": {"gru_cell": WRONG_GRU_CELL, "my_gru": WRONG["reset_gate_missing"]},
    "z_swapped": {"gru_cell": GRU_CELL, "my_gru": WRONG["z_swapped"]},
    "cheat": {"gru_cell": GRU_CELL, "my_gru": CHEATS["nn.GRU"]},
    "hang": {"gru_cell": GRU_CELL, "my_gru": MISBEHAVING["hangs"]},
    "crash": {"gru_cell": GRU_CELL, "my_gru": MISBEHAVING["exits the process"]},
    "tamper": {"gru_cell": GRU_CELL, "my_gru": TAMPERING},
    "tamper_cheat": {"gru_cell": GRU_CELL, "my_gru": TAMPERING_CHEAT},
    "cheat_thread": {"gru_cell": GRU_CELL, "my_gru": CHEATS["nn.GRU in a thread"]},
    "kills_kernel": {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL + "\nimport os\nos._exit(0)"},
    # Cells added after the last test: each test is judged on the notebook's state where it stands.
    "late_cells": {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": GRU_CELL_GRAD,
                   APPENDED: "def my_gru(*args):\n    raise RuntimeError('scratch')\n\nimport os\nos._exit(1)"},
}


def fill(released_path, answers):
    return conftest_fill(released_path, answers, answers.get(APPENDED))


GRADING = {"fill": fill, "malformed": True, "feedback": True}


def outputs(graded, student):
    return course_e2e.outputs(graded, ASSIGNMENT, student)


def test_right_answers_get_full_marks(graded):
    assert graded["scores"]["right"] == FULL
    assert graded["scores"]["late_cells"] == FULL
    assert graded["scores"]["instructor"] == FULL
    assert "Passed:" in outputs(graded, "right")["test_my_gru_values"]


def test_the_untouched_notebook_gets_zero_with_a_hint(graded):
    assert graded["scores"]["untouched"] == 0
    assert "replace that line with your implementation" in outputs(graded, "untouched")["test_my_gru_values"]


def test_wrong_answers_get_partial_or_no_credit_and_their_lesson(graded):
    lessons = {m.name: m.lesson for m in MISTAKES}
    contract_points = 2.0  # the return contract holds in both; the values do not
    assert graded["scores"]["blog_bug"] == contract_points
    assert lessons["reset_gate_missing"] in outputs(graded, "blog_bug")["test_gru_cell"]
    assert lessons["reset_gate_missing"] in outputs(graded, "blog_bug")["test_my_gru_values"]
    assert graded["scores"]["z_swapped"] == GRU_CELL_POINTS + contract_points
    assert lessons["z_swapped"] in outputs(graded, "z_swapped")["test_my_gru_values"]


@pytest.mark.parametrize("student, message", [
    ("cheat", "built-in recurrent kernel"),
    ("hang", "did not return within"),
    ("crash", "ended abruptly (exit code 3)"),
    ("tamper", "output has shape"),
    ("tamper_cheat", "the grader's own code was changed before or during this check"),
    ("cheat_thread", "built-in recurrent kernel"),
    ("kills_kernel", "a cell ended the Python process"),
])
def test_cheating_crashing_hanging_and_tampering_get_no_credit_for_my_gru(graded, student, message):
    assert graded["scores"][student] == GRU_CELL_POINTS  # gru_cell was right in each of them
    assert message in outputs(graded, student)["test_my_gru_contract"]


def test_tampering_changes_nothing_the_judge_outside_the_sandbox_sees(graded):
    assert "checked in the grading sandbox" in outputs(graded, "tamper")["test_my_gru_values"]
    # The switch-off rebound in the learner's process: the box holds its own, and says what changed.
    assert "gru_ref.learner.sandbox.BUILTIN_RNN_OP" in outputs(graded, "tamper_cheat")["test_my_gru_values"]
    assert "built-in recurrent kernel" not in outputs(graded, "tamper_cheat")["test_my_gru_values"]


def test_a_malformed_notebook_is_reported_and_does_not_stop_the_batch(graded):
    assert graded["scores"].get("malformed", 0) == 0
    assert "malformed" in graded["log"]


def test_validate_gives_immediate_feedback(released, tmp_path):
    course = released.parents[2]
    right, untouched = tmp_path / "right.ipynb", tmp_path / "untouched.ipynb"
    nbformat.write(fill(released, SUBMISSIONS["right"]), right)
    shutil.copy(released, untouched)
    passed = nbgrader(["validate", str(right)], course, timeout=300)
    assert "Success! Your notebook passes all the tests." in passed.stdout, passed.stdout + passed.stderr
    failed = nbgrader(["validate", str(untouched)], course, timeout=300)
    assert "The function still raises NotImplementedError" in failed.stdout
    reports = [block.split("=" * 20)[0] for block in failed.stdout.split("The error was:")[1:]]
    assert reports and not any("..." in report for report in reports), "messages must fit, uncut"


def test_feedback_reports_carry_the_messages(graded):
    report = (graded["root"] / "feedback" / "z_swapped" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "z and 1 - z are swapped" in report
    assert "BEGIN SOLUTION" not in report


def test_precheck_names_the_submissions_nbgrader_cannot_grade(graded):
    result = subprocess.run([sys.executable, "-m", "gru_ref.precheck", ASSIGNMENT], cwd=graded["root"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "submitted/malformed/gru/gru.ipynb: not a readable notebook" in result.stdout
    assert "ask the student to save it from Jupyter" in result.stdout
    assert "submitted/right/" not in result.stdout
    assert f"{len(SUBMISSIONS) + 2} submission folder(s) checked, 1 with something to look at." in result.stdout


FEEDBACK_MAX_BYTES = 300_000


def feedback_page(graded, student):
    return graded["root"] / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"


def test_feedback_is_one_page_that_opens_anywhere_with_its_maths(graded):
    page = feedback_page(graded, "right")
    text = page.read_text()
    assert page.stat().st_size < FEEDBACK_MAX_BYTES, page.stat().st_size
    assert sorted(p.name for p in page.parent.iterdir()) == [page.name]  # no mathjax/ or any file beside it
    assert not re.search(r"<(script|link|iframe|img|object|embed)\b", text, re.I)  # nothing to load or run
    assert not re.findall(r"""\b(?:src|href)\s*=\s*(?:"(?!#)|'(?!#)|(?!["'#]))""", text), "a reference out of the page"
    assert not re.search(r"url\(\s*['\"]?(?:https?:|//)", text), "a stylesheet that fetches"
    assert text.count("<math") >= 10 and "<mtable" in text  # the GRU's equations, as MathML
    assert "\\odot" not in text and "\\sigma" not in text  # no TeX left for a script to render


def test_integrity_flags_are_the_instructors_never_in_the_learners_feedback(graded):
    from nbgrader.api import Gradebook
    from gru_ref.grading.nbgrader_steps import FLAG_HEADER
    with Gradebook(f"sqlite:///{graded['root'] / 'gradebook.db'}") as gradebook:
        flagged = {s.student.id for s in gradebook.assignment_submissions(ASSIGNMENT)
                   for nb in s.notebooks for c in nb.comments if (c.auto_comment or "").startswith(FLAG_HEADER)}
        review = {s.student.id for s in gradebook.assignment_submissions(ASSIGNMENT) if s.needs_manual_grade}
        marked = {s.student.id for s in gradebook.assignment_submissions(ASSIGNMENT) for nb in s.notebooks if nb.flagged}
    assert "cheat_thread" in flagged and "untouched" not in flagged | review  # a blank notebook is not flagged
    assert marked == flagged  # the formgrader's flag, on every flagged submission and no other
    for student in flagged:
        text = feedback_page(graded, student).read_text()
        assert FLAG_HEADER not in text and "manual review" not in text, student
