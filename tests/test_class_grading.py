"""`python -m gru_ref.grade`: a class graded in parallel, on a local Dask cluster or on a scheduler
and workers started apart, interrupted and resumed, with its report; the same grades as plain
`nbgrader autograde` gives one notebook at a time."""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import psutil
import pytest

from conftest import ROOT, VENV_BIN
from course_e2e import dask_scheduler
from gru_ref.grading import gate, parallel
from gru_ref.grading.interrupt import STOPPED
from hostile_code import ATTACKS
from learner_code import ENDS_ITS_CHECK, GRU_CELL, GRU_CELL_GRAD, MY_GRU_BATCHED, MY_GRU_WITH_CELL, WRONG
from test_grading import fill
from test_collect import tree_digest
from test_nbgrader import ASSIGNMENT, FULL, nbgrader

CLASS = {
    "ada": {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": GRU_CELL_GRAD},
    "ben": {"gru_cell": GRU_CELL, "my_gru": MY_GRU_BATCHED},
    "cai": {"gru_cell": GRU_CELL, "my_gru": WRONG["z_swapped"]},
    "dee": {"gru_cell": GRU_CELL.replace("r * h_n", "h_n"), "my_gru": MY_GRU_WITH_CELL},
    "eve": ATTACKS["undo_lockdown"],
    "fay": {},
    # A my_gru that ends its check's process, each with a right stretch part: that part's points stand.
    "kim": {"gru_cell": GRU_CELL, "my_gru": ENDS_ITS_CHECK["grows memory without end"], "gru_cell_grad": GRU_CELL_GRAD},
    "lee": {"gru_cell": GRU_CELL, "my_gru": ENDS_ITS_CHECK["calls os._exit"], "gru_cell_grad": GRU_CELL_GRAD},
    "max": {"gru_cell": GRU_CELL, "my_gru": ENDS_ITS_CHECK["segfaults"], "gru_cell_grad": GRU_CELL_GRAD},
}
RENAMED, UNREADABLE, EMPTY, LINKED, TWO, TAMPERED = "gus", "hal", "ivy", "jay", "nia", "oli"


def make_course(root):
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions", root / "solutions")
    assert nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root).returncode == 0
    released = root / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    for student, answers in CLASS.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(fill(released, answers, root), folder / f"{ASSIGNMENT}.ipynb")
    renamed = root / "submitted" / RENAMED / ASSIGNMENT
    renamed.mkdir(parents=True)
    nbformat.write(fill(released, CLASS["ada"], root), renamed / f"{ASSIGNMENT} (1).ipynb")
    (renamed / "scratch.py").write_text("print('never run')\n")
    two = root / "submitted" / TWO / ASSIGNMENT  # the blank release beside the work, saved as Untitled
    two.mkdir(parents=True)
    shutil.copy(released, two / f"{ASSIGNMENT}.ipynb")
    nbformat.write(fill(released, CLASS["ada"], root), two / "Untitled.ipynb")
    tampered = fill(released, CLASS["ada"], root)  # right answers; one test edited away, one deleted
    for cell in tampered.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_gru_cell":
            cell.source = "pass  # no test here"
    tampered.cells = [c for c in tampered.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_my_gru_values"]
    (root / "submitted" / TAMPERED / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(tampered, root / "submitted" / TAMPERED / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    broken = root / "submitted" / UNREADABLE / ASSIGNMENT
    broken.mkdir(parents=True)
    (broken / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [ not json')
    (root / "submitted" / EMPTY / ASSIGNMENT).mkdir(parents=True)
    linked = root / "submitted" / LINKED / ASSIGNMENT  # a classmate's notebook, through a link
    linked.mkdir(parents=True)
    os.symlink(f"../../ada/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", linked / f"{ASSIGNMENT}.ipynb")
    return root


def grade(root, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT, *args], cwd=root,
                          capture_output=True, text=True, timeout=900, **kwargs)


def read_csv(root):
    with open(root / "reports" / ASSIGNMENT / "grades.csv") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


def scores(rows):
    return {student: row["score"] for student, row in rows.items()}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("class"))
    before = tree_digest(root / "submitted")
    done = grade(root, "--workers", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert tree_digest(root / "submitted") == before, "the class command wrote in submitted/"
    return root, done


@pytest.fixture(scope="module")
def sequential_course(tmp_path_factory):
    """The same class through plain `nbgrader autograde`, one notebook at a time: its course root."""
    root = make_course(tmp_path_factory.mktemp("sequential"))
    (root / "submitted" / RENAMED / ASSIGNMENT / f"{ASSIGNMENT} (1).ipynb").rename(
        root / "submitted" / RENAMED / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    (root / "submitted" / TWO / ASSIGNMENT / "Untitled.ipynb").replace(root / "submitted" / TWO / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    nbgrader(["autograde", ASSIGNMENT], root)  # exits 1: it could not read one notebook
    assert nbgrader(["export"], root).returncode == 0
    return root


@pytest.fixture(scope="module")
def sequential(sequential_course):
    with open(sequential_course / "grades.csv") as f:
        return {row["student_id"]: row["raw_score"] for row in csv.DictReader(f)}


def gradebook_rows(root):
    """Every row nbgrader's autograde writes for a learner, by student: the student, the submission
    (its time), and per notebook its late penalty, flag, grades and comments (database ids left out)."""
    from nbgrader.api import Gradebook
    rows = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for submission in gradebook.assignment_submissions(ASSIGNMENT):
            student = submission.student
            rows[student.id] = {
                "student": (student.first_name, student.last_name, student.email, student.lms_user_id),
                "submission": (submission.timestamp, submission.extension, submission.score),
                "notebooks": {nb.name: (nb.late_submission_penalty, nb.flagged,
                                        {g.name: (g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade)
                                         for g in nb.grades},
                                        {c.name: (c.auto_comment, c.manual_comment) for c in nb.comments})
                              for nb in submission.notebooks}}
    return rows


def test_statuses_say_what_happened_to_each_submission(graded_class):
    rows = read_csv(graded_class[0])
    assert {s: r["status"] for s, r in rows.items()} == {
        "ada": "graded", "ben": "graded", "cai": "graded", "dee": "graded", "eve": "flagged",
        "fay": "graded", "kim": "graded", "lee": "flagged", "max": "graded", RENAMED: "graded", TWO: "graded", TAMPERED: "graded", UNREADABLE: "unreadable", EMPTY: "missing", LINKED: "refused"}
    assert "never followed nor opened: gru.ipynb (link)" in rows[LINKED]["notes"] and rows[LINKED]["score"] == ""
    assert "name differs: 'gru (1).ipynb' graded (the assignment's notebook is 'gru.ipynb')" in rows[RENAMED]["notes"]
    assert "extra files never executed: scratch.py" in rows[RENAMED]["notes"]
    assert "not a readable notebook" in rows[UNREADABLE]["notes"]
    assert rows[EMPTY]["score"] == "" and rows[UNREADABLE]["test_gru_cell"] == ""  # not a 0
    assert rows["ada"]["score"] == rows[RENAMED]["score"] == rows[TWO]["score"] == str(FULL)
    assert "name differs: 'Untitled.ipynb' graded" in rows[TWO]["notes"]
    assert "other notebooks in the folder, not graded: gru.ipynb (no answers)" in rows[TWO]["notes"]


def test_deleted_and_edited_test_cells_are_restored_graded_and_named(graded_class):
    """oli emptied one test cell's checks and deleted another: both are graded as released (full
    marks for right answers), the report names them, and the feedback shows the real tests."""
    root = graded_class[0]
    row = read_csv(root)[TAMPERED]
    assert row["score"] == str(FULL) and row["test_my_gru_values"] == "4.0" and row["test_gru_cell"] == "3.0", row
    assert "test cells restored from the assignment: test_gru_cell (edited), test_my_gru_values (deleted)" \
        in row["notes"]
    said = outputs_of(root / "autograded" / TAMPERED / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    assert "restored from the assignment (deleted in the submission)" in said["test_my_gru_values"]
    assert "restored from the assignment (edited in the submission)" in said["test_gru_cell"]
    assert "restored" not in said["test_my_gru_contract"] and "Passed:" in said["test_my_gru_values"]


def test_parallel_grades_equal_plain_sequential_nbgrader(graded_class, sequential):
    parallel = {s: float(r["score"]) for s, r in read_csv(graded_class[0]).items() if r["score"]}
    assert parallel == {s: float(v) for s, v in sequential.items() if s not in (UNREADABLE, EMPTY, LINKED)}


def without_drawn_numbers(path):
    """A file's text, with the numbers in a notebook's outputs masked: a failing check's message
    gives the error on cases drawn at random, which differ from one grading to the next."""
    text = path.read_text()
    if path.suffix != ".ipynb":
        return text
    nb = json.loads(text)
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            for field in ("text", "evalue", "traceback"):
                if field in output:
                    output[field] = re.sub(r"[0-9][0-9.e+-]*", "#", json.dumps(output[field]))
    return nb


def test_bulk_recording_writes_what_plain_nbgrader_autograde_writes(graded_class, sequential_course):
    """The class command records a class in one gradebook session (gru_ref.grading.gradebook_bulk):
    the same rows as nbgrader's own autograde, one learner at a time, and the same autograded files
    with the same permissions (the flagged learner included; byte for byte where no drawn number shows)."""
    root = graded_class[0]
    bulk, plain = gradebook_rows(root), gradebook_rows(sequential_course)
    recorded = [s for s, row in read_csv(root).items() if row["status"] in ("graded", "flagged")]
    assert len(recorded) == len(CLASS) + 3 and set(recorded) <= set(bulk)  # + the renamed, the two-notebook and the tampered
    for student in recorded:
        assert bulk[student] == plain[student], student
        ours, theirs = (course / "autograded" / student / ASSIGNMENT for course in (root, sequential_course))
        assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
        for path in ours.iterdir():
            other = theirs / path.name
            assert without_drawn_numbers(path) == without_drawn_numbers(other), (student, path.name)
            assert path.stat().st_mode == other.stat().st_mode, (student, path.name)
    ada = root / "autograded" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"  # every test passed: nothing drawn shows
    assert ada.read_bytes() == (sequential_course / ada.relative_to(root)).read_bytes()
    assert bulk["eve"]["notebooks"][ASSIGNMENT][2]["test_gru_cell"][3] is True  # flagged: manual review


def test_export_and_feedback_agree_with_the_class_report(graded_class):
    """After a bulk-recorded class: `nbgrader export` has the report's score for every recorded
    learner, and `nbgrader generate_feedback` writes each of them a page with that score."""
    root = graded_class[0]
    report = read_csv(root)
    assert nbgrader(["export"], root).returncode == 0
    with open(root / "grades.csv") as f:
        exported = {row["student_id"]: row for row in csv.DictReader(f) if row["assignment"] == ASSIGNMENT}
    recorded = {s: row for s, row in report.items() if row["status"] in ("graded", "flagged")}
    assert set(exported) == set(recorded)
    for student, row in recorded.items():
        assert float(exported[student]["raw_score"]) == float(row["score"]), student
        assert float(exported[student]["max_score"]) == float(row["max_score"]), student
    feedback = nbgrader(["generate_feedback", ASSIGNMENT, "--force"], root)
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    for student, row in recorded.items():
        page = (root / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
        total = re.search(r"Score: ([0-9.]+) / ([0-9.]+)", page)
        assert total and (float(total[1]), float(total[2])) == (float(row["score"]), float(row["max_score"])), student


def test_nbgrader_sees_the_grades_export_and_feedback_work(graded_class):
    root = graded_class[0]
    assert nbgrader(["export"], root).returncode == 0
    with open(root / "grades.csv") as f:
        exported = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)}
    assert exported["ada"] == FULL and exported["ben"] == 12.0 and exported["cai"] == 5.0
    feedback = nbgrader(["generate_feedback", ASSIGNMENT], root)
    assert feedback.returncode == 0, feedback.stderr
    report = (root / "feedback" / "dee" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "Your my_gru calls gru_cell, which failed its own test above" in report
    restored = (root / "feedback" / TAMPERED / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "restored from the assignment (deleted in the submission)" in restored
    assert f"Score: {FULL} / {FULL}" in restored and "Score: 4.0 / 4.0" in restored  # the values test, graded


def test_a_check_whose_process_ends_fails_alone_and_the_stretch_part_counts(graded_class):
    """kim's my_gru grows memory without end, lee's calls os._exit, max's segfaults: each my_gru test
    fails with its reason, and the notebook goes on to the stretch part (gru_cell_grad), which scores."""
    rows = read_csv(graded_class[0])
    for student in ("kim", "lee", "max"):
        row = rows[student]
        assert row["test_gru_cell"] == row["test_gru_cell_grad"] == "3.0", (student, row)
        assert row["test_my_gru_contract"] == row["test_my_gru_values"] == "0.0", (student, row)
        assert float(row["score"]) == 6.0, (student, row)
    autograded = graded_class[0] / "autograded"
    said = {student: outputs_of(autograded / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
            for student in ("kim", "lee", "max")}
    assert "memory" in said["kim"]["test_my_gru_contract"] or "did not return" in said["kim"]["test_my_gru_contract"]
    assert "ended abruptly (exit code 3)" in said["lee"]["test_my_gru_contract"]
    assert "ended abruptly (signal SIGSEGV)" in said["max"]["test_my_gru_values"]
    assert "Passed:" in said["lee"]["test_gru_cell_grad"] and "Passed:" in said["max"]["test_gru_cell_grad"]


def outputs_of(path):
    """Each test cell's output text, by grade_id, in an autograded notebook."""
    return {cell.metadata.nbgrader.grade_id: "\n".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)
            for cell in nbformat.read(path, as_version=4).cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")}


def test_the_report_is_offline_and_names_mistakes_flags_and_ungraded(graded_class):
    report = (graded_class[0] / "reports" / ASSIGNMENT / "report.html").read_text()
    for section in ("Scores", "Pass rate per test cell", "Diagnosed mistakes", "Flagged for manual review",
                    "Not graded"):
        assert section in report
    assert "z swapped" in report and "reset gate missing" in report
    assert "imports gc" in report and "not a readable notebook" in report
    assert "has a blank score, never 0" in report  # the rule every CSV follows (gru_ref.grading.lms)
    assert "http://" not in report and "https://" not in report and "<script" not in report


def test_the_report_groups_learners_by_their_mistake_and_shows_each_learner(graded_class):
    """Issue 17 item 1: the groups of each failing test cell, with ids and a first difference, from the
    diagnoses the judge stored; a row per learner."""
    folder = graded_class[0] / "reports" / ASSIGNMENT
    groups = json.loads((folder / "mistake_groups.json").read_text())
    assert groups["groups"]["test_my_gru_values"]["z_swapped"] == ["cai"]
    assert groups["groups"]["test_gru_cell"]["reset_gate_missing"] == ["dee"]
    assert "z_swapped" in groups["learners"]["cai"] and "ada" not in groups["learners"]
    assert groups["groups"]["test_my_gru_values"]["builtin_kernel"] == ["eve"]  # a failure that is no mistake
    name, digest = groups["signatures"]["cai"]["test_my_gru_values"]  # the visible check's wrong outputs
    assert name == "z_swapped" and len(digest) == 16 and "ada" not in groups["signatures"]
    report = (folder / "report.html").read_text()
    assert "<strong>z swapped</strong>: 1 learner" in report and '<a href="#learner-cai">cai</a>' in report
    assert "first difference (cai): First difference: output[:, " in report
    for student in ("ada", "cai", "eve", UNREADABLE, LINKED):
        assert f'<tr id="learner-{student}">' in report
    assert 'z_swapped: ""' in (folder / "comments.yml").read_text()


def test_the_learner_view_reads_a_score_set_by_hand_from_the_gradebook(graded_class):
    from nbgrader.api import Gradebook
    from gru_ref.grading import report
    db_url = f"sqlite:///{graded_class[0] / 'gradebook.db'}"
    with Gradebook(db_url) as gradebook:
        grade = gradebook.find_grade("test_my_gru_values", ASSIGNMENT, ASSIGNMENT, "cai")
        grade.manual_score = 2.0
        gradebook.db.commit()
    try:
        rows, _ = report.gradebook_rows(db_url, ASSIGNMENT)
    finally:
        with Gradebook(db_url) as gradebook:
            gradebook.find_grade("test_my_gru_values", ASSIGNMENT, ASSIGNMENT, "cai").manual_score = None
            gradebook.db.commit()
    assert rows["cai"]["overrides"] == {"test_my_gru_values": (0.0, 2.0)}
    assert rows["ada"]["overrides"] == {}


def test_a_group_comment_reaches_exactly_that_groups_feedback(graded_class):
    """Issue 17 item 2: a comment written for the `z_swapped` group is in cai's feedback, as text, and in
    no one else's; the other groups' empty comments send nothing."""
    root = graded_class[0]
    path = root / "reports" / ASSIGNMENT / "comments.yml"
    template = path.read_text()
    path.write_text(template.replace('z_swapped: ""', 'z_swapped: "<script>alert(1)</script> Which state does z keep?"'))
    try:
        feedback = nbgrader(["generate_feedback", ASSIGNMENT, "--force"], root)
        assert feedback.returncode == 0, feedback.stderr
        pages = {s: (root / "feedback" / s / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
                 for s in ("ada", "ben", "cai", "dee", "eve", "fay", RENAMED)}
    finally:
        path.write_text(template)
    assert "A note from your instructor on this mistake (z swapped):" in pages["cai"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Which state does z keep?" in pages["cai"]
    assert "<script>alert(1)" not in pages["cai"]
    assert [s for s, page in pages.items() if "A note from your instructor" in page] == ["cai"]


def test_a_second_run_grades_nothing_again(graded_class):
    root = graded_class[0]
    before = read_csv(root)
    again = grade(root, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert "Running 0 notebook(s) in the sandbox" in again.stderr
    assert "Recording 0 grade(s)" in again.stderr
    assert scores(read_csv(root)) == scores(before)


def test_a_graders_score_in_the_formgrader_shows_in_the_class_report(tmp_path, graded_class):
    """A TA's manual score over the autograder's (the formgrader writes manual_score): the next run of
    the class command keeps it, counts it, and names it with both numbers."""
    from nbgrader.api import Gradebook
    root = tmp_path / "course"
    shutil.copytree(graded_class[0], root, symlinks=True)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        cell = gradebook.find_grade("test_my_gru_values", ASSIGNMENT, ASSIGNMENT, "cai")
        auto = cell.auto_score
        cell.manual_score = auto + 1
        gradebook.db.commit()
    again = grade(root, "--workers", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Recording 0 grade(s)" in again.stderr  # nothing regraded over the TA's score
    assert float(read_csv(root)["cai"]["score"]) == float(read_csv(graded_class[0])["cai"]["score"]) + 1
    report = (root / "reports" / ASSIGNMENT / "report.html").read_text()
    section = report.split("Scores changed by hand (formgrader)</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<td>cai</td><td>test_my_gru_values</td>" in section and f"<td>{auto + 1}</td>" in section, section


HOOK = """
import json, os
def _called(assignment, student, notebooks):
    with open(os.path.join({root!r}, "hook_calls.jsonl"), "a") as f:
        f.write(json.dumps([student, [os.path.relpath(n, {root!r}) for n in notebooks]]) + "\\n")
c.Autograde.post_convert_hook = _called
"""


def test_with_nbgrader_hooks_each_learner_is_recorded_by_nbgrader_from_the_notebook_graded(tmp_path, graded_class):
    """A course with an autograde hook records one learner at a time through nbgrader's own autograde
    (gradebook_bulk._one_at_a_time): the renamed notebook and the one beside a blank release are graded,
    as the bulk path grades them, from a copy staged outside submitted/; nothing in submitted/ is written."""
    root = tmp_path / "course"
    shutil.copytree(graded_class[0], root, symlinks=True)
    (root / ".gru_ref" / ASSIGNMENT / "recorded.json").unlink()  # record everyone again; the results are kept
    with open(root / "nbgrader_config.py", "a") as f:
        f.write(HOOK.format(root=str(root)))
    before = tree_digest(root / "submitted")
    again = grade(root, "--workers", "1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Running 0 notebook(s) in the sandbox" in again.stderr
    assert tree_digest(root / "submitted") == before, "the fallback wrote in submitted/"
    calls = [json.loads(line) for line in (root / "hook_calls.jsonl").read_text().splitlines()]
    recorded = [s for s, row in read_csv(root).items() if row["status"] in ("graded", "flagged")]
    assert sorted(student for student, _ in calls) == sorted(recorded)
    assert dict(calls)[RENAMED] == [f".gru_ref/{ASSIGNMENT}/staged/{RENAMED}/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"]
    assert scores(read_csv(root)) == scores(read_csv(graded_class[0]))
    assert read_csv(root)[RENAMED]["score"] == read_csv(root)[TWO]["score"] == str(FULL)
    assert gradebook_rows(root) == gradebook_rows(graded_class[0])
    assert (root / "autograded" / RENAMED / ASSIGNMENT / "scratch.py").exists()  # its other files, as nbgrader copies them
    assert not (root / ".gru_ref" / ASSIGNMENT / "staged").exists()  # the copies go


def test_every_output_of_grading_is_ignored_by_git(graded_class, tmp_path):
    """What the class command, nbgrader's export and feedback and the LMS files write in a course (all of
    it but the inputs: the config, solutions/ and the released exercises/), and make demo's folder."""
    root = graded_class[0]
    assert nbgrader(["export"], root).returncode == 0
    assert nbgrader(["generate_feedback", ASSIGNMENT], root).returncode == 0
    inputs = ("nbgrader_config.py", "solutions/", "exercises/")
    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                     if (p.is_file() or p.is_symlink()) and not p.relative_to(root).as_posix().startswith(inputs))
    written += ["downloaded/gru/archive/submissions.zip", "reports/roster.csv", "reports/gru/canvas.csv",
                "_build/demo_class/gradebook.db"]
    assert {"gradebook.db", "grades.csv", "reports/gru/grades.csv", ".gru_ref/grading.lock"} <= set(written)
    done = subprocess.run(["git", "check-ignore", "--no-index", "--verbose", "--non-matching", "--stdin"], cwd=ROOT,
                          input="\n".join(written) + "\n", capture_output=True, text=True)
    not_ignored = [line.split("\t")[-1] for line in done.stdout.splitlines() if line.startswith("::")]
    assert not not_ignored, f"not in .gitignore: {not_ignored}"


def interrupted(root, phase, after=""):
    """The class command, sent Ctrl-C (SIGINT to its whole process group, as a terminal does) once
    its stderr shows `phase` (and then `after`): its exit code and stderr from the signal on."""
    run = subprocess.Popen([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT, "--workers", "2"], cwd=root,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen = ""
    while not (phase in seen and after in seen.split(phase, 1)[1]):
        char = run.stderr.read(1)
        assert char, f"the run ended before {phase!r}: {seen[-2000:]}"
        seen += char
    os.killpg(run.pid, signal.SIGINT)
    _, rest = run.communicate(timeout=30)  # stopped, not run on to the end: that takes minutes
    return run.returncode, rest


def test_ctrl_c_in_each_phase_stops_with_one_line_and_the_next_run_completes(tmp_path, graded_class):
    """Ctrl-C while collecting, while running notebooks in the sandbox, and while recording grades:
    each time exit code 130 and one line that says how to go on (no worker's traceback); no student is
    left `error`, and a last run completes the class with the grades of an uninterrupted one."""
    root = make_course(tmp_path)
    results = root / ".gru_ref" / ASSIGNMENT / "results"
    for phase, after in (("submission folder(s).", ""), ("in the sandbox", "1/"), ("Recording", "1/")):
        code, rest = interrupted(root, phase, after)
        # Progress (n/N), and the start's one indented line per folder that needs a look (it may come
        # out after the signal was sent while collecting), are not what stopping says.
        lines = [line for line in rest.splitlines() if line.strip() and "recorded" not in line and "/" not in line
                 and not line.startswith("  ")]
        assert code == 130 and lines == [STOPPED], (phase, rest)
        assert not any("grader_error" in path.read_text() for path in results.glob("*.json"))
    kept = len(list(results.glob("*.json")))
    resumed = grade(root, "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"({kept} already done)" in resumed.stderr
    rows = read_csv(root)
    assert "error" not in {row["status"] for row in rows.values()}
    assert scores(rows) == scores(read_csv(graded_class[0]))
    assert not [p for p in psutil.process_iter(["cwd"]) if (p.info["cwd"] or "").startswith(str(root))]


def test_a_missing_assignment_or_gradebook_is_one_clear_line(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", root)
    missing = grade(root)  # no gradebook yet
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        f"Cannot grade: no gradebook at {root / 'gradebook.db'}: run `nbgrader generate_assignment gru` at the "
        f"course root first (it makes the gradebook), or set CourseDirectory.db_url in nbgrader_config.py."]
    assert not (root / "gradebook.db").exists() and not (root / ".gru_ref").exists()  # nothing made
    (root / "gradebook.db").touch()
    (root / "exercises" / "rnn").mkdir(parents=True)
    unknown = grade(root)
    assert unknown.returncode == 2 and unknown.stderr.strip().splitlines() == [
        "Cannot grade: no assignment 'gru' in this course (no exercises/gru/; released: rnn): check the name, "
        "or run `nbgrader generate_assignment NAME` for a new one."]


def make_certificates(folder, name="grading"):
    """A CA and one certificate signed by it, made as the chapter for instructors makes them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ext.cnf").write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                                    "extendedKeyUsage=serverAuth,clientAuth\n")
    for command in (
            f"openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN={name}-ca -keyout ca.key -out ca.pem",
            f"openssl req -newkey rsa:2048 -nodes -subj /CN={name} -keyout {name}.key -out {name}.csr",
            f"openssl x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
            f"-extfile ext.cnf -out {name}.pem"):
        subprocess.run(command.split(), cwd=folder, check=True, capture_output=True)
    return [str(folder / f) for f in ("ca.pem", f"{name}.pem", f"{name}.key")]


def test_grading_through_a_tls_scheduler_and_workers_started_apart(tmp_path, graded_class):
    """The chapter's cluster: a scheduler and workers started apart, TLS with mutual authentication;
    a worker started with GRU_REF_NO_SANDBOX=1 is refused and named, the other grades the class; a
    client whose certificate another CA signed is not let in."""
    root = make_course(tmp_path / "course")
    ca, cert, key = make_certificates(tmp_path / "tls")
    tls = ["--tls-ca-file", ca, "--tls-cert", cert, "--tls-key", key]
    dask = str(VENV_BIN / "dask")
    with dask_scheduler(tmp_path, "--host", "tls://127.0.0.1", *tls) as (address, started):
        assert address.startswith("tls://127.0.0.1:")
        for unboxed in (False, True):
            env = {**os.environ, "GRU_REF_NO_SANDBOX": "1"} if unboxed else None
            started.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                             "--no-dashboard", "--memory-limit", "0", *tls], cwd=tmp_path, env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # both workers in before the class command probes them
            probe = subprocess.run([sys.executable, "-c", "import sys; from distributed import Client; "
                                    "from distributed.security import Security; "
                                    f"c = Client({address!r}, security=Security(tls_ca_file={ca!r}, "
                                    f"tls_client_cert={cert!r}, tls_client_key={key!r}, require_encryption=True)); "
                                    "print(len(c.scheduler_info()['workers']))"], capture_output=True, text=True)
            if probe.stdout.strip() == "2":
                break
            time.sleep(1)
        strangers = make_certificates(tmp_path / "other", "stranger")
        quick = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"}
        stranger = grade(root, "--scheduler", address, "--tls-ca", strangers[0], "--tls-cert", strangers[1],
                         "--tls-key", strangers[2], env=quick)
        assert stranger.returncode == 2 and "cannot reach the Dask scheduler" in stranger.stderr
        assert "Traceback" not in stranger.stderr
        done = grade(root, "--scheduler", address, "--tls-ca", ca, "--tls-cert", cert, "--tls-key", key)
        assert done.returncode == 0, done.stderr[-3000:]
        refused = [line for line in done.stderr.splitlines() if line.startswith("Refusing the Dask worker")]
        assert len(refused) == 1 and "GRU_REF_NO_SANDBOX=1" in refused[0], done.stderr[-3000:]
        assert scores(read_csv(root)) == scores(read_csv(graded_class[0]))


@pytest.mark.parametrize("address, why", [
    ("tcp://10.1.2.3:8786", "refusing the tcp:// scheduler tcp://10.1.2.3:8786"),
    ("grader.example.org:8786", "refusing the tcp:// scheduler"),
    ("ws://127.0.0.1:8786", "refusing the ws:// scheduler"),
    ("tls://grader.example.org:8786", "a tls:// scheduler needs --tls-ca, --tls-cert, --tls-key"),
])
def test_a_scheduler_without_tls_beyond_loopback_is_refused(tmp_path, address, why):
    refused = grade(tmp_path, "--scheduler", address)
    assert refused.returncode == 2 and why in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_an_unreachable_scheduler_is_one_clear_line(tmp_path):
    root = make_course(tmp_path)
    refused = grade(root, "--scheduler", "tcp://127.0.0.1:1")  # nothing listens there
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "Cannot grade: cannot reach the Dask scheduler at tcp://127.0.0.1:1 (Connection refused): check that it "
        "runs, its address and the certificates, then grade again (see the chapter 'For instructors', step 5: "
        "Grade)."]


def test_workers_that_would_grade_without_the_sandbox_are_refused(tmp_path):
    """The local cluster's workers get GRU_REF_NO_SANDBOX=1 through Dask's config, the class command
    does not have it: no worker is left, so nothing is graded."""
    root = make_course(tmp_path)
    env = {**os.environ, "DASK_DISTRIBUTED__NANNY__ENVIRON": '{"GRU_REF_NO_SANDBOX": "1"}'}
    refused = grade(root, "--workers", "2", env=env)
    assert refused.returncode == 2, refused.stderr[-3000:]
    named = [line for line in refused.stderr.splitlines()
             if line.startswith("Refusing the Dask worker tls://127.0.0.1:")]
    assert len(named) == 2 and all("GRU_REF_NO_SANDBOX=1" in line for line in named)
    assert "Cannot grade: no Dask worker can grade safely" in refused.stderr and "Traceback" not in refused.stderr
    assert not list((root / ".gru_ref" / ASSIGNMENT / "results").glob("*.json"))


def test_a_worker_refuses_to_grade_unsandboxed_when_the_class_command_sandboxes(monkeypatch):
    monkeypatch.setenv("GRU_REF_NO_SANDBOX", "1")
    result = parallel.grade_on_worker("not even a notebook", {}, sandboxed=True)
    assert "would grade without the sandbox" in result["grader_error"]
    assert "GRU_REF_NO_SANDBOX=1" in gate.probe(sandboxed=True)


def test_a_worker_that_cannot_start_the_sandbox_is_refused(monkeypatch):
    monkeypatch.delenv("GRU_REF_NO_SANDBOX", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no bwrap on this worker
    assert "it cannot start the sandbox: Grading runs every submission inside bubblewrap" in \
        gate.probe(sandboxed=True)


def test_a_restarted_worker_is_probed_again_and_gets_work():
    """Notebooks go to the workers the gate let in, by a resource, not by address: a worker that
    restarts (at a new address) is probed again and grades."""
    client, cluster = parallel.start_client(1)
    try:
        first = parallel.good_workers(client, 1)
        client.restart()
        client.wait_for_workers(1, timeout=120)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            workers = client.scheduler_info(n_workers=-1)["workers"]
            if any(w.get("resources", {}).get(gate.RESOURCE) for w in workers.values()):
                break
            time.sleep(0.5)
        assert set(workers) != set(first) and client.run(gate.verdict) == {a: None for a in workers}
        done = client.submit(parallel.grade_on_worker, "not a notebook", {}, True, resources={gate.RESOURCE: 1},
                             pure=False).result(timeout=120)
        assert "grader_error" in done and "would grade without the sandbox" not in done["grader_error"]
    finally:
        client.close()
        cluster.close()


def test_the_local_cluster_listens_on_loopback_only_and_lets_no_stranger_in():
    from distributed import Client
    from distributed.security import Security
    client, cluster = parallel.start_client(1)
    try:
        client.wait_for_workers(1, timeout=120)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        addresses = [cluster.scheduler_address, *workers, *(w["nanny"] for w in workers.values())]
        assert len(addresses) == 3 and all(a.startswith("tls://127.0.0.1:") for a in addresses), addresses
        plain = cluster.scheduler_address.replace("tls://", "tcp://")
        for address, stranger in ((plain, None), (cluster.scheduler_address, Security.temporary())):
            with pytest.raises(OSError):  # no TLS, or a certificate that the cluster's CA did not sign
                Client(address, security=stranger, timeout=3)
    finally:
        client.close()
        cluster.close()


def test_without_a_sandbox_grading_refuses_and_says_what_to_do(tmp_path):
    root = make_course(tmp_path)
    env = {**os.environ, "PATH": "/nonexistent"}
    refused = grade(root, env=env)
    assert refused.returncode == 2
    assert "apt-get install bubblewrap" in refused.stderr and "Traceback" not in refused.stderr


def test_trusted_grading_without_the_sandbox_says_so_loudly(tmp_path):
    root = tmp_path / "course"
    make_course(root)
    for student in list(CLASS)[1:] + [RENAMED, UNREADABLE, EMPTY, LINKED, TWO, TAMPERED]:
        shutil.rmtree(root / "submitted" / student)
    done = grade(root, "--workers", "1", env={**os.environ, "GRU_REF_NO_SANDBOX": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "grading WITHOUT the bubblewrap sandbox" in done.stderr
    assert read_csv(root)["ada"]["score"] == str(FULL)
