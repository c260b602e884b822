"""The integrity scan's flag in nbgrader's gradebook: set by FlagForReview when the scan flags, taken
back by ForgetScanFlag on a regrade where it does not, never a flag or a comment a grader set by hand.
The steps run as nbgrader_config.py orders them (ForgetScanFlag, SaveAutoGrades, FlagForReview) on a
gradebook of one notebook, as autograde calls them: cheap, no sandbox."""
import os

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades

from conftest import VENV_BIN
from gru_ref.grading.nbgrader_steps import FLAG_HEADER, FlagForReview, ForgetScanFlag

FLAGS = [(3, 2, "import gc", "imports gc")]


def notebook():
    """A graded test cell (passed) and an answer cell, as the autograded notebook carries them."""
    test = nbformat.v4.new_code_cell("check(answer)", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "grade_id": "test_answer", "points": 3,
        "schema_version": 3}})
    answer = nbformat.v4.new_code_cell("def answer(): ...", metadata={"nbgrader": {
        "grade": False, "solution": True, "locked": False, "grade_id": "answer", "schema_version": 3}})
    return nbformat.v4.new_notebook(cells=[answer, test])


@pytest.fixture
def gradebook(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")  # nbgrader runs alembic by name
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("gru")
        gb.add_notebook("gru", "gru")
        gb.add_grade_cell("test_answer", "gru", "gru", max_score=3, cell_type="code")
        gb.add_solution_cell("answer", "gru", "gru")
        gb.add_source_cell("answer", "gru", "gru", cell_type="code")
        gb.add_source_cell("test_answer", "gru", "gru", cell_type="code")
        gb.add_student("ada")
        gb.add_submission("gru", "ada")
    return url


def autograde(url, flags):
    """One learner's steps after the sandbox, with what the scan found this time."""
    resources = {"nbgrader": {"notebook": "gru", "assignment": "gru", "student": "ada", "db_url": url},
                 "gru_ref": {"flags": flags}}
    nb = notebook()
    for step in (ForgetScanFlag(), SaveAutoGrades(), FlagForReview()):
        nb, resources = step.preprocess(nb, resources)


def state(url):
    """(the formgrader's flag, the scan's comments, the grader's comments, needs manual grade)."""
    with Gradebook(url) as gb:
        nb = gb.find_submission_notebook("gru", "gru", "ada")
        return (nb.flagged, [c.name for c in nb.comments if (c.auto_comment or "").startswith(FLAG_HEADER)],
                [c.manual_comment for c in nb.comments if c.manual_comment],
                gb.find_grade("test_answer", "gru", "gru", "ada").needs_manual_grade)


def test_a_regrade_that_the_scan_does_not_flag_takes_its_flag_and_comment_back(gradebook):
    autograde(gradebook, FLAGS)
    assert state(gradebook) == (True, ["answer"], [], True)
    autograde(gradebook, FLAGS)  # flagged again (--force): still flagged, one comment
    assert state(gradebook) == (True, ["answer"], [], True)
    autograde(gradebook, [])  # the learner's code changed, the scan finds nothing
    assert state(gradebook) == (False, [], [], False)


def test_a_flag_and_a_comment_a_grader_set_by_hand_stay(gradebook):
    autograde(gradebook, [])
    with Gradebook(gradebook) as gb:  # what the formgrader writes: the flag, a comment of theirs
        nb = gb.find_submission_notebook("gru", "gru", "ada")
        nb.flagged = True
        gb.find_comment("answer", "gru", "gru", "ada").manual_comment = "look at this again"
        gb.db.commit()
    autograde(gradebook, [])
    assert state(gradebook) == (True, [], ["look at this again"], False)
