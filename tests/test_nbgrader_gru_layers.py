"""The `gru_layers` assignment end to end with nbgrader: right, untouched, wrong and built-in answers
autograded in one batch."""
import pytest

import course_e2e
from course_e2e import (graded, released, test_every_submission_is_graded,  # noqa: F401 (fixtures, shared tests)
                        test_generate_assignment_matches_the_committed_exercises,
                        test_released_notebook_has_no_solution_and_no_hidden_test)
from gru_ref.assignments.gru_layers import LAYERS_MISTAKES
from hostile_code import through_libtorch
from layers_code import CHEATS, MY_GRU_LAYERS, WRONG

ASSIGNMENT = "gru_layers"
FULL, CONTRACT_POINTS = 10.0, 2.0
LESSONS = {m.name: m.lesson for m in LAYERS_MISTAKES}
HIDDEN = ("x.flip(1) if direction", '"gradients", \\"devices')

SUBMISSIONS = {
    "right": {"my_gru_layers": MY_GRU_LAYERS},
    "untouched": {},
    "not_rereversed": {"my_gru_layers": WRONG["reverse_not_rereversed"]},
    "h_n_order": {"my_gru_layers": WRONG["h_n_direction_major"]},
    "fed_the_input": {"my_gru_layers": WRONG["layers_fed_the_input"]},
    "cheat_nn_gru": {"my_gru_layers": CHEATS["nn.GRU"]},
    # libtorch's C++ multi-layer GRU through ctypes (10/10 before the box refused native code).
    "cheat_native": {"my_gru_layers": through_libtorch(
        "_ZN2at6native3gruERKNS_6TensorES3_N3c108ArrayRefIS1_EEbldbbb", MY_GRU_LAYERS, "my_gru_layers")},
}


def outputs(graded, student):
    return course_e2e.outputs(graded, ASSIGNMENT, student)


def test_right_answers_get_full_marks(graded):
    assert graded["scores"]["right"] == FULL
    assert graded["scores"]["instructor"] == FULL
    assert "matches torch.nn.GRU: values and gradients" in \
        outputs(graded, "right")["test_my_gru_layers_gradients_devices"]


def test_the_untouched_notebook_gets_zero_with_a_hint(graded):
    assert graded["scores"]["untouched"] == 0
    assert "replace that line with your implementation" in \
        outputs(graded, "untouched")["test_my_gru_layers_contract"]


# Feeding every layer the input fails on shapes in the contract's cases (F != num_directions * H): no
# points, but the values test, whose first case has F == num_directions * H, names the mistake.
@pytest.mark.parametrize("student, mistake, score", [("not_rereversed", "reverse_not_rereversed", CONTRACT_POINTS),
                                                     ("h_n_order", "h_n_direction_major", CONTRACT_POINTS),
                                                     ("fed_the_input", "layers_fed_the_input", 0)])
def test_wrong_answers_get_partial_credit_and_their_lesson(graded, student, mistake, score):
    assert graded["scores"][student] == score
    assert LESSONS[mistake] in outputs(graded, student)["test_my_gru_layers_values"]


def test_builtin_gru_gets_no_credit(graded):
    assert graded["scores"]["cheat_nn_gru"] == 0
    for grade_id, text in outputs(graded, "cheat_nn_gru").items():
        assert "built-in recurrent kernel" in text, grade_id


def test_native_code_gets_no_credit_and_says_why(graded):
    assert graded["scores"]["cheat_native"] == 0
    for grade_id, text in outputs(graded, "cheat_native").items():
        assert "native code is not allowed in grading: ctypes (ctypes.dlopen)" in text, grade_id
