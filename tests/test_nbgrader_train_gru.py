"""The `train_gru` assignment end to end with nbgrader: right, untouched, wrong and built-in answers
autograded in one batch (each check retrains the learner's model in the sandbox), the written
answer left for manual grading, and the class command's report."""
import pytest

import course_e2e
from course_e2e import (graded, released, test_every_submission_is_graded,  # noqa: F401 (fixtures, shared tests)
                        test_generate_assignment_matches_the_committed_exercises,
                        test_released_notebook_has_no_solution_and_no_hidden_test)
from learner_code import CHEATS as GRU_CHEATS
from train_code import CHEATS, WRONG, answer

ASSIGNMENT = "train_gru"
AUTOGRADED, WRITTEN = 10.0, 3.0  # test cells; the written answer, graded by hand
MY_GRU_POINTS, CONTRACT_POINTS = 2.0, 1.0
WRITTEN_ANSWER = "My GRU reached 100 % on all seeds; both RNNs stayed near 25 % on every seed, because ..."
HIDDEN = ("my_gru(x, h0, self.w_ih", "optimizer.step()", "clip_grad_norm_(model", "train_x[:500], train_y[:500]",
          'check_train_gru(train_and_predict, \\"seeds\\")\\n', "gate can stay near 1")
SHOWN = ('check_train_gru(train_and_predict, \\"quick\\")',)

# student id -> answers by grade_id
SUBMISSIONS = {
    "right": answer(written_answer=WRITTEN_ANSWER),
    "untouched": {},
    "untrained": answer(**WRONG["untrained"]),
    "fixed_rule": answer(**CHEATS["fixed_rule"]),
    # my_gru on nn.GRU: the pasted GRU and every retrain are refused
    "cheat_nn_gru": answer(my_gru=GRU_CHEATS["nn.GRU"]),
}


def outputs(graded, student):
    return course_e2e.outputs(graded, ASSIGNMENT, student)


def test_right_answers_get_every_autograded_point(graded):
    for student in ("right", "instructor"):
        assert graded["scores"][student] == AUTOGRADED, student
    result = outputs(graded, "right")
    assert "held-out accuracy on 2 fresh draw(s)" in result["test_train_and_predict_seeds"]
    assert "checked in the grading sandbox" in result["test_train_and_predict_learns"]


def test_the_written_answer_waits_for_a_person(graded):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{graded['root'] / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade("written_answer", ASSIGNMENT, ASSIGNMENT, "right")
        assert grade.needs_manual_grade and grade.auto_score is None and grade.max_score == WRITTEN
        assert gradebook.find_submission(ASSIGNMENT, "right").max_score == AUTOGRADED + WRITTEN
        assert not gradebook.find_grade("test_train_and_predict_learns", ASSIGNMENT, ASSIGNMENT,
                                        "right").needs_manual_grade


def test_the_untouched_notebook_gets_zero_with_a_hint(graded):
    assert graded["scores"]["untouched"] == 0
    assert "replace that line with your implementation" in outputs(graded, "untouched")[
        "test_train_and_predict_contract"]


@pytest.mark.parametrize("student, expected", [
    ("untrained", "optimizer.step() run every step"),  # the hint of a model that guesses
    ("fixed_rule", "far below guessing"),
])
def test_models_that_do_not_learn_keep_the_gru_and_contract_points_with_their_hint(graded, student, expected):
    assert graded["scores"][student] == MY_GRU_POINTS + CONTRACT_POINTS
    result = outputs(graded, student)
    assert "Passed:" in result["test_my_gru"] and "Passed:" in result["test_train_and_predict_contract"]
    assert expected in result["test_train_and_predict_learns"]
    assert "needs 90%" in result["test_train_and_predict_seeds"] or expected in result["test_train_and_predict_seeds"]


def test_a_model_on_the_builtin_gru_gets_no_credit(graded):
    assert graded["scores"]["cheat_nn_gru"] == 0
    for grade_id, text in outputs(graded, "cheat_nn_gru").items():
        if grade_id != "written_answer":
            assert "built-in recurrent kernel" in text, grade_id


def test_the_class_command_grades_it_and_reports_the_written_answer_as_ungraded(tmp_path):
    rows = course_e2e.grade_class(tmp_path, ASSIGNMENT, {"right": answer(written_answer=WRITTEN_ANSWER),
                                                         "untrained": answer(**WRONG["untrained"])})
    assert (rows["right"]["score"], rows["right"]["max_score"]) == ("10.0", "13.0")
    assert rows["right"]["written_answer"] == ""  # not graded yet: blank, never a 0
    assert (rows["untrained"]["score"], rows["untrained"]["test_train_and_predict_learns"]) == ("3.0", "0.0")
    report = (tmp_path / "reports" / ASSIGNMENT / "report.html").read_text()
    assert "written_answer" in report and "graded by hand: 2 of 2 waiting" in report
