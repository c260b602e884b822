"""The `shapes` assignment end to end with nbgrader: right, untouched, wrong, shortcut and hostile answers
autograded in one batch, in the grading sandbox; and the class command on the same assignment."""
import json

import nbformat
import pytest

import course_e2e
from course_e2e import (graded, released, test_every_submission_is_graded,  # noqa: F401 (fixtures, shared tests)
                        test_generate_assignment_matches_the_committed_exercises,
                        test_released_notebook_has_no_solution_and_no_hidden_test)
from gru_ref.reference.shapes_mistakes import SHAPE_MISTAKES
from shapes_code import CHEATS, CONV, HOSTILE, MLP, MLP_TUPLES, RNN, UNUSUAL_RIGHT, WRONG

ASSIGNMENT = "shapes"
FULL, PER_FUNCTION, CONTRACT_POINTS = 9.0, 3.0, 1.0
LESSONS = {m.name: m.lesson for m in SHAPE_MISTAKES}
HIDDEN = ("dilation * (kernel_size - 1)",)
RIGHT = {"mlp_shapes": MLP, "conv2d_shapes": CONV, "rnn_shapes": RNN}


def with_answer(function, source):
    return {**RIGHT, function: source}


# student id -> answers by grade_id
SUBMISSIONS = {
    "right": RIGHT,
    "right_unusual": {**RIGHT, **UNUSUAL_RIGHT},
    "right_tuples": with_answer("mlp_shapes", MLP_TUPLES),  # input_shape is a tuple in the box too
    "untouched": {},
    "mlp_bias_missing": with_answer(*WRONG["mlp_bias_missing"]),
    "conv_dilation_ignored": with_answer(*WRONG["conv_dilation_ignored"]),
    "rnn_upper_layers_read_the_input": with_answer(*WRONG["rnn_upper_layers_read_the_input"]),
    "rnn_h_n_batch_first": with_answer(*WRONG["rnn_h_n_batch_first"]),
    "shortcut": dict(CHEATS),
    "conv_shortcut": with_answer("conv2d_shapes", CHEATS["conv2d_shapes"]),
    "infinite_generator": with_answer("conv2d_shapes", HOSTILE["an infinite generator as a shape"]),
    "lying_int": with_answer("conv2d_shapes", HOSTILE["a count whose __index__ and __int__ lie"]),
    # A sanity check with the real module at the top of the answer cell runs; the def below it counts.
    "sanity_check": {**RIGHT, "rnn_shapes": "print(nn.GRU(3, 2).weight_ih_l0.shape)\n" + RNN},
}


def outputs(graded, student):
    return course_e2e.outputs(graded, ASSIGNMENT, student)


def test_the_released_tests_check_the_contract_and_the_quick_cases_only(released):
    tests = "\n".join(c.source for c in nbformat.read(released, as_version=4).cells
                      if c.metadata.get("nbgrader", {}).get("grade"))
    assert '"values"' not in tests
    assert 'check_mlp_shapes(mlp_shapes, "contract")' in tests and 'check_rnn_shapes(rnn_shapes, "quick")' in tests


def test_right_answers_get_full_marks(graded):
    for student in ("right", "right_unusual", "right_tuples", "sanity_check", "instructor"):
        assert graded["scores"][student] == FULL, (student, outputs(graded, student))
    result = outputs(graded, "right")
    assert "matches torch.nn.Conv2d: output shape, parameter shapes and parameter count" in \
        result["test_conv2d_shapes_values"]
    assert "checked in the grading sandbox" in result["test_rnn_shapes_values"]


def test_the_untouched_notebook_gets_zero_with_a_hint(graded):
    assert graded["scores"]["untouched"] == 0
    assert "replace that line with your implementation" in outputs(graded, "untouched")["test_mlp_shapes_contract"]


@pytest.mark.parametrize("student", ["mlp_bias_missing", "conv_dilation_ignored", "rnn_upper_layers_read_the_input",
                                     "rnn_h_n_batch_first"])
def test_wrong_answers_get_partial_marks_and_their_lesson(graded, student):
    function = WRONG[student][0]
    assert graded["scores"][student] == FULL - PER_FUNCTION + CONTRACT_POINTS
    result = outputs(graded, student)
    assert "Passed:" in result[f"test_{function}_contract"]
    assert LESSONS[student] in result[f"test_{function}_values"]


def test_reading_the_answers_off_the_modules_gets_no_credit(graded):
    assert graded["scores"]["shortcut"] == 0
    for grade_id, text in outputs(graded, "shortcut").items():
        assert "ran torch operators" in text and "earns no credit" in text, grade_id
    assert graded["scores"]["conv_shortcut"] == FULL - PER_FUNCTION


def test_hostile_return_values_fail_alone_with_a_reason(graded):
    assert graded["scores"]["infinite_generator"] == FULL - PER_FUNCTION
    assert "output_shape is an itertools.count, not a tuple of ints" in \
        outputs(graded, "infinite_generator")["test_conv2d_shapes_contract"]
    assert graded["scores"]["lying_int"] == FULL - PER_FUNCTION + CONTRACT_POINTS
    assert "num_params is 1; nn.Conv2d has 448 parameters" in outputs(graded, "lying_int")["test_conv2d_shapes_values"]


def test_the_sanity_check_with_the_real_module_runs_in_the_box(graded):
    path = graded["root"] / "autograded" / "sanity_check" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    cell = next(c for c in nbformat.read(path, as_version=4).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "rnn_shapes")
    assert "torch.Size([6, 3])" in json.dumps(cell.outputs)


def test_the_class_grading_command_grades_the_shapes_assignment(tmp_path):
    rows = course_e2e.grade_class(tmp_path, ASSIGNMENT, {"right": RIGHT,
                                                         "groups_ignored": with_answer(*WRONG["conv_groups_ignored"])})
    assert (rows["right"]["score"], rows["right"]["max_score"]) == ("9.0", "9.0")
    assert (rows["groups_ignored"]["score"], rows["groups_ignored"]["test_conv2d_shapes_contract"],
            rows["groups_ignored"]["test_conv2d_shapes_values"]) == ("7.0", "1.0", "0.0")
