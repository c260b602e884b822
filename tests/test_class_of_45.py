"""Issue 16's "Done means": the class of 45 kinds of submission (tests/class_of_45.py) graded end to
end as an instructor does it: the class command, then `nbgrader generate_feedback` and `nbgrader
export` through the course's nbgrader_config.py. Every learner's grade is the one a careful person
gives, every point not given has a reason in the class report, every graded learner has a feedback
page with their score and no integrity flag, the export agrees with the gradebook and the report,
and nothing in submitted/ was written. One class run, shared by every test (about 2 minutes in the
sandbox on the 2-core machine, with --workers 2).
"""
import csv
import json
import re
import sys
import time
from pathlib import Path

import pytest

from class_of_45 import ASSIGNMENT, FULL, KIND, KINDS, POINTS, grade, make_course
from course_e2e import nbgrader
from gru_ref.grading.nbgrader_steps import FLAG_HEADER
from test_collect import tree_digest


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("class_of_45"), nbgrader)
    before = tree_digest(root / "submitted")
    started = time.monotonic()
    done = grade(root, "--workers", "2", python=sys.executable)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert tree_digest(root / "submitted") == before, "the class command wrote in submitted/"
    feedback = nbgrader(["generate_feedback", ASSIGNMENT], root)
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    export = nbgrader(["export"], root)
    assert export.returncode == 0, export.stderr[-3000:]
    assert tree_digest(root / "submitted") == before, "feedback or export wrote in submitted/"
    print(f"\nclass of 45: the class command took {took:.1f} s", file=sys.stderr)
    with open(root / "reports" / ASSIGNMENT / "grades.csv") as f:
        report = {row["student_id"]: row for row in csv.DictReader(f)}
    with open(root / "grades.csv") as f:
        exported = {row["student_id"]: row for row in csv.DictReader(f) if row["assignment"] == ASSIGNMENT}
    groups = json.loads((root / "reports" / ASSIGNMENT / "mistake_groups.json").read_text())["groups"]
    return {"root": root, "report": report, "exported": exported, "groups": groups}


def number(text):
    return None if text == "" else float(text)


def test_the_class_holds_45_kinds_each_in_the_report(course):
    assert len(KINDS) == 45 and set(course["report"]) == set(KIND)


@pytest.mark.parametrize("student", list(KIND))
def test_each_learner_gets_the_grade_a_careful_person_gives(course, student):
    """The status, the score of every test cell and the total (late: nbgrader's zero penalty)."""
    kind, row = KIND[student], course["report"][student]
    assert row["status"] == kind.status, (kind.what, row)
    assert {cell: number(row[cell]) for cell in POINTS} == kind.scores(), (kind.what, row)
    assert number(row["score"]) == kind.total(), (kind.what, row)
    assert number(row["max_score"]) == (FULL if kind.graded else None)
    for words in kind.notes:
        assert words in row["notes"], (kind.what, row["notes"])


@pytest.mark.parametrize("student", list(KIND))
def test_every_point_not_given_has_a_reason_in_the_report(course, student):
    """Each test cell that scores nothing puts the learner in a mistake group of that cell (the
    diagnosis a careful person names, where the kind names one); a folder not graded, a late
    submission, says why in its notes; the report's page has the learner's row."""
    kind, row = KIND[student], course["report"][student]
    for cell, reason in kind.lost.items():
        found = [name for name, students in course["groups"].get(cell, {}).items() if student in students]
        assert len(found) == 1 and found[0] != "other", (kind.what, cell, found)
        assert reason is None or found[0] == reason, (kind.what, cell, found)
    if not kind.graded:
        assert row["notes"], kind.what
    if kind.late:
        assert "late: submitted" in row["notes"] and "penalty 15 point(s)" in row["notes"], row["notes"]
    assert f'<tr id="learner-{student}">' in (course["root"] / "reports" / ASSIGNMENT / "report.html").read_text()


def test_no_point_is_lost_without_a_reason(course):
    """No learner is in a mistake group of a test cell they scored on, and the full marks are in none."""
    for cell, by_name in course["groups"].items():
        for name, students in by_name.items():
            for student in students:
                assert cell in KIND[student].lost, (student, cell, name)


@pytest.mark.parametrize("student", [k.student for k in KINDS if k.graded])
def test_each_graded_learner_has_a_feedback_page_with_their_score_and_no_flag(course, student):
    page = (course["root"] / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    kind = KIND[student]
    total = re.search(r"Score: ([0-9.]+) / ([0-9.]+)", page)
    assert total and float(total[2]) == FULL, student
    assert float(total[1]) == kind.total(), (student, total[0])
    assert ("Late submission penalty (Score: -15.0)" in page) == kind.late, student  # why, where it is late
    assert FLAG_HEADER not in page and "manual review" not in page, student


def test_the_export_agrees_with_the_gradebook_and_the_report(course):
    """nbgrader export (the course's CsvExport): a row per graded learner with the report's score, the
    late penalty taken off; a learner without a recorded submission has no row, or a blank score."""
    exported = course["exported"]
    for kind in KINDS:
        row = exported.get(kind.student)
        if not kind.graded:
            assert row is None or row["score"] == "", (kind.student, row)
            continue
        assert number(row["raw_score"]) == sum(kind.scores().values()), (kind.student, row)
        assert number(row["score"]) == kind.total() == number(course["report"][kind.student]["score"]), row
        assert number(row["late_submission_penalty"]) == (FULL if kind.late else 0.0), row


def test_a_notebook_writing_outside_its_folder_changed_nothing(course):
    """writes_outside tried the gradebook, a classmate's notebook (unchanged: the fixture's digest of
    submitted/), /tmp and the home folder: no file was made, and the export read the gradebook."""
    assert not Path("/tmp/written_by_a_learner").exists()
    assert not (Path.home() / "written_by_a_learner").exists()
    assert course["exported"]["solution"]["score"] == str(float(FULL))
