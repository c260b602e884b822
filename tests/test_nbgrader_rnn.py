"""The `rnn` assignment end to end with nbgrader: right, untouched, wrong and built-in answers
autograded in one batch."""
import json

import pytest

import course_e2e
from course_e2e import (graded, released, test_every_submission_is_graded,  # noqa: F401 (fixtures, shared tests)
                        test_generate_assignment_matches_the_committed_exercises,
                        test_released_notebook_has_no_solution_and_no_hidden_test)
from gru_ref.assignments.rnn import RNN_MISTAKES
from hostile_code import through_libtorch
from rnn_code import CHEATS, MY_RNN, MY_RNN_BATCHED, WRONG

ASSIGNMENT = "rnn"
FULL, CONTRACT_POINTS = 9.0, 2.0
LESSONS = {m.name: m.lesson for m in RNN_MISTAKES}
HIDDEN = ("torch.tanh(input", '"gradients", \\"devices')
SHOWN = ('check_my_rnn(my_rnn, \\"contract\\")',)

# student id -> answers by grade_id
SUBMISSIONS = {
    "right": {"my_rnn": MY_RNN},
    "right_batched": {"my_rnn": MY_RNN_BATCHED},
    "untouched": {},
    "relu": {"my_rnn": WRONG["rnn_relu"]},
    "no_hidden_bias": {"my_rnn": WRONG["rnn_hidden_bias_missing"]},
    "state_not_carried": {"my_rnn": WRONG["rnn_state_not_carried"]},
    "cheat_nn_rnn": {"my_rnn": CHEATS["nn.RNN"]},
    "cheat_rnn_tanh": {"my_rnn": CHEATS["torch.rnn_tanh"]},
    # libtorch's C++ RNN through ctypes (9/9 before the box refused native code).
    "cheat_native": {"my_rnn": through_libtorch("_ZN2at6native8rnn_tanhERKNS_6TensorES3_N3c108ArrayRefIS1_EEbldbbb",
                                                MY_RNN, "my_rnn")},
    # A sanity check with nn.RNN at the top of the answer cell is refused; the def below it still counts.
    "sanity_check": {"my_rnn": "print(nn.RNN(3, 2)(torch.randn(1, 2, 3))[0].shape)\n" + MY_RNN},
}


def outputs(graded, student):
    return course_e2e.outputs(graded, ASSIGNMENT, student)


def test_right_answers_get_full_marks(graded):
    for student in ("right", "right_batched", "sanity_check", "instructor"):
        assert graded["scores"][student] == FULL, student
    result = outputs(graded, "right")
    assert "matches torch.nn.RNN: values and gradients" in result["test_my_rnn_gradients_devices"]
    assert "checked in the grading sandbox" in result["test_my_rnn_values"]


def test_the_untouched_notebook_gets_zero_with_a_hint(graded):
    assert graded["scores"]["untouched"] == 0
    assert "replace that line with your implementation" in outputs(graded, "untouched")["test_my_rnn_contract"]


@pytest.mark.parametrize("student, mistake", [("relu", "rnn_relu"), ("no_hidden_bias", "rnn_hidden_bias_missing"),
                                              ("state_not_carried", "rnn_state_not_carried")])
def test_wrong_answers_get_the_contract_points_and_their_lesson(graded, student, mistake):
    assert graded["scores"][student] == CONTRACT_POINTS
    assert "Passed:" in outputs(graded, student)["test_my_rnn_contract"]
    assert LESSONS[mistake] in outputs(graded, student)["test_my_rnn_values"]


@pytest.mark.parametrize("student", ["cheat_nn_rnn", "cheat_rnn_tanh"])
def test_builtin_rnns_get_no_credit(graded, student):
    assert graded["scores"][student] == 0
    for grade_id, text in outputs(graded, student).items():
        assert "built-in recurrent kernel" in text, grade_id


def test_native_code_gets_no_credit_and_says_why(graded):
    assert graded["scores"]["cheat_native"] == 0
    for grade_id, text in outputs(graded, "cheat_native").items():
        assert "native code is not allowed in grading: ctypes (ctypes.dlopen)" in text, grade_id


def test_the_class_grading_command_grades_the_rnn_assignment(tmp_path):
    rows = course_e2e.grade_class(tmp_path, ASSIGNMENT, {"right": {"my_rnn": MY_RNN},
                                                         "relu": {"my_rnn": WRONG["rnn_relu"]}})
    assert (rows["right"]["score"], rows["right"]["max_score"]) == ("9.0", "9.0")
    assert (rows["relu"]["score"], rows["relu"]["test_my_rnn_contract"]) == ("2.0", "2.0")


def test_a_sanity_check_with_nn_rnn_is_refused_and_the_cell_goes_on(graded):
    import nbformat
    path = graded["root"] / "autograded" / "sanity_check" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    cell = next(c for c in nbformat.read(path, as_version=4).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "my_rnn")
    assert "aten::rnn_tanh.input is disabled while grading" in json.dumps(cell.outputs)
    assert graded["scores"]["sanity_check"] == FULL
