"""The `gru_bptt` assignment end to end: right, untouched, slipped and autodiff answers autograded in one
batch by nbgrader, then the same class by the class command, on the same course folder."""
import csv
import subprocess
import sys

import course_e2e
from course_e2e import (graded, released, test_every_submission_is_graded,  # noqa: F401 (fixtures, shared tests)
                        test_generate_assignment_matches_the_committed_exercises,
                        test_released_notebook_has_no_solution_and_no_hidden_test)
from gru_ref.assignments.gru_bptt import BPTT_MISTAKES
from bptt_code import GRU_BPTT, SLIPS, WITH_AUTOGRAD

ASSIGNMENT = "gru_bptt"
FULL, CONTRACT_POINTS = 8.0, 2.0
LESSONS = {m.name: m.lesson for m in BPTT_MISTAKES}
HIDDEN = ("d_a_n * r", 'values\\", \\"devices')

SUBMISSIONS = {
    "right": {"gru_bptt": GRU_BPTT},
    "untouched": {},
    "not_carried": {"gru_bptt": SLIPS["bptt_state_grad_not_carried"]},
    "autograd": {"gru_bptt": WITH_AUTOGRAD},
}


def outputs(graded, student):
    return course_e2e.outputs(graded, ASSIGNMENT, student)


def test_right_answers_get_full_marks(graded):
    assert graded["scores"]["right"] == FULL
    assert graded["scores"]["instructor"] == FULL
    assert "matches autograd through torch.nn.GRU" in outputs(graded, "right")["test_gru_bptt_values"]


def test_the_untouched_notebook_gets_zero_with_a_hint(graded):
    assert graded["scores"]["untouched"] == 0
    assert "replace that line with your implementation" in outputs(graded, "untouched")["test_gru_bptt_contract"]


def test_a_slip_gets_the_contract_points_and_its_lesson(graded):
    assert graded["scores"]["not_carried"] == CONTRACT_POINTS
    assert LESSONS["bptt_state_grad_not_carried"] in outputs(graded, "not_carried")["test_gru_bptt_values"]


def test_autodiff_inside_gets_no_credit(graded):
    assert graded["scores"]["autograd"] == 0
    for grade_id, text in outputs(graded, "autograd").items():
        assert "ran autograd" in text and "by hand" in text, grade_id


def test_the_class_command_agrees_and_its_report_names_the_slip(graded):
    root = graded["root"]
    done = subprocess.run([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT], cwd=root, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(root / "reports" / ASSIGNMENT / "grades.csv") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert {s: float(rows[s]["score"]) for s in graded["scores"]} == graded["scores"]
    report = (root / "reports" / ASSIGNMENT / "report.html").read_text()
    assert "bptt state grad not carried" in report
