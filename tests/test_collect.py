"""Collection trusts nothing in a submission folder: links and special files are never followed nor
opened, sizes are bounded, timestamp.txt is checked, and two class commands never grade one course
at once (gru_ref.grading.collect, gru_ref.grade)."""
import datetime
import fcntl
import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from gru_ref.grading import collect

ASSIGNMENT = "gru"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def notebook(text="x = 1"):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(text))
    return nbformat.writes(nb)


@pytest.fixture
def course(tmp_path):
    (tmp_path / "exercises" / ASSIGNMENT).mkdir(parents=True)
    (tmp_path / "exercises" / ASSIGNMENT / NOTEBOOK).write_text(notebook())
    for student in ("ada", "ben"):
        folder = tmp_path / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / NOTEBOOK).write_text(notebook(f"# {student}'s own work"))
    return tmp_path


def folder(course, student):
    path = course / "submitted" / student / ASSIGNMENT
    path.mkdir(parents=True, exist_ok=True)
    return path


def collected(course):
    return {s.student: s for s in collect.collect(course, ASSIGNMENT)}


def test_a_notebook_linked_to_a_classmates_is_refused_and_named(course):
    mine = folder(course, "cal")
    os.symlink(course / "submitted" / "ada" / ASSIGNMENT / NOTEBOOK, mine / NOTEBOOK)
    found = collected(course)
    assert found["cal"].status == "refused" and found["cal"].notebook is None
    assert f"{NOTEBOOK} (link)" in found["cal"].notes[0]
    assert found["ada"].status == "graded" and found["ben"].status == "graded"


def test_a_renamed_notebook_linked_to_a_host_file_is_never_copied(course):
    mine = folder(course, "cal")
    os.symlink("/etc/passwd", mine / f"{ASSIGNMENT} (1).ipynb")
    found = collected(course)
    assert found["cal"].status == "refused" and "gru (1).ipynb (link)" in found["cal"].notes[0]
    assert not os.path.lexists(mine / NOTEBOOK)


def test_linked_student_and_assignment_folders_are_refused(course):
    os.symlink(course / "submitted" / "ada", course / "submitted" / "cal")
    os.makedirs(course / "submitted" / "dee")
    os.symlink(course / "submitted" / "ben" / ASSIGNMENT, course / "submitted" / "dee" / ASSIGNMENT)
    found = collected(course)
    assert found["cal"].status == found["dee"].status == "refused"
    assert "submitted/cal (a folder link)" in found["cal"].notes[0]
    assert "gru (a folder link)" in found["dee"].notes[0]
    assert found["ada"].status == found["ben"].status == "graded"


def test_links_and_special_files_among_extra_files_are_refused_without_blocking(course):
    mine = folder(course, "cal")
    (mine / NOTEBOOK).write_text(notebook())
    (mine / "data").mkdir()
    os.symlink("/dev/zero", mine / "data" / "zeros.bin")
    os.mkfifo(mine / "pipe")
    found = {}
    reader = threading.Thread(target=lambda: found.update(collected(course)), daemon=True)
    reader.start()
    reader.join(60)  # a FIFO opened for reading would block here until a writer came
    assert not reader.is_alive(), "collect blocked on a FIFO"
    assert found["cal"].status == "refused"
    assert "data/zeros.bin (link), pipe (FIFO)" in found["cal"].notes[0]


def test_reading_is_bounded_and_never_opens_a_device(tmp_path):
    big = tmp_path / "big.ipynb"
    with open(big, "wb") as f:
        f.truncate(collect.MAX_NOTEBOOK_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(collect.TooLarge):
        collect.read_bounded(big)
    assert "larger than 32 MB" in collect.unreadable(big)
    with pytest.raises(OSError, match="not a regular file"):
        collect.read_bounded("/dev/zero")
    os.symlink(tmp_path / "big.ipynb", tmp_path / "link.ipynb")
    with pytest.raises(OSError):  # O_NOFOLLOW: ELOOP
        collect.read_bounded(tmp_path / "link.ipynb")


def test_a_notebook_over_the_cap_is_too_large_for_that_learner_alone(course):
    mine = folder(course, "cal")
    with open(mine / f"{ASSIGNMENT} (1).ipynb", "wb") as f:
        f.truncate(collect.MAX_NOTEBOOK_BYTES + 1)
    found = collected(course)
    assert found["cal"].status == "too large" and "over the 32 MB" in found["cal"].notes[0]
    assert not os.path.exists(mine / NOTEBOOK)  # no copy made
    assert found["ada"].status == found["ben"].status == "graded"


def test_a_folder_of_too_many_files_is_too_large(course):
    mine = folder(course, "cal")
    (mine / NOTEBOOK).write_text(notebook())
    for n in range(collect.MAX_FOLDER_ENTRIES):
        (mine / f"f{n}").touch()
    found = collected(course)
    assert found["cal"].status == "too large" and "more than 1000 files" in found["cal"].notes[0]


def tree_digest(folder):
    """A digest of every path, type, mode, size, modification time and content under folder."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        info = os.lstat(path)
        digest.update(f"{path.relative_to(folder)} {info.st_mode} {info.st_size} {info.st_mtime_ns}\n".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("name", ["Untitled.ipynb", "gru (1).ipynb", "GRU.ipynb"])
def test_a_notebook_under_another_name_is_graded_where_it_is_as_name_differs(course, name):
    mine = folder(course, "cal")
    (mine / name).write_text(notebook("# cal's own work"))
    before = tree_digest(course / "submitted")
    found = collected(course)["cal"]
    assert found.status == "graded" and found.notebook == mine / name and found.expected == NOTEBOOK
    assert found.notes == [f"name differs: '{name}' graded (the assignment's notebook is '{NOTEBOOK}')"]
    assert "renamed" not in " ".join(found.notes)
    assert tree_digest(course / "submitted") == before  # nothing written: no copy under the released name


@pytest.mark.parametrize("work, blank", [("Untitled.ipynb", NOTEBOOK), (NOTEBOOK, "Untitled.ipynb")])
def test_of_two_notebooks_the_one_with_the_work_is_graded_and_the_other_named(course, work, blank):
    mine = folder(course, "cal")
    (mine / blank).write_text(notebook())  # the release, untouched
    (mine / work).write_text(notebook("# cal's own work"))
    found = collected(course)["cal"]
    assert found.status == "graded" and found.notebook == mine / work
    assert f"other notebooks in the folder, not graded: {blank} (no answers)" in found.notes
    assert ("name differs" in " ".join(found.notes)) == (work != NOTEBOOK)


def test_of_two_notebooks_an_unreadable_one_is_never_picked(course):
    mine = folder(course, "cal")
    (mine / "Untitled.ipynb").write_text('{"cells": [ not json')
    (mine / NOTEBOOK).write_text(notebook())
    found = collected(course)["cal"]
    assert found.status == "graded" and found.notebook == mine / NOTEBOOK
    assert found.notes == ["other notebooks in the folder, not graded: Untitled.ipynb (unreadable)"]


def utc(seconds_from_now):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")  # as nbgrader's collect writes it


@pytest.mark.parametrize("text, why", [
    ("yesterday-ish", "not a time nbgrader reads"),
    ("", "holds no time"),
    ("9" * 200, "longer than any time"),
    (utc(86400), "in the future"),
])
def test_a_timestamp_nbgrader_cannot_trust_is_refused(course, text, why):
    (course / "submitted" / "ada" / ASSIGNMENT / "timestamp.txt").write_text(text)
    found = collected(course)["ada"]
    assert found.status == "refused" and why in found.notes[0] and "then grade again" in found.notes[0]


def test_a_linked_timestamp_is_refused(course):
    os.symlink("/dev/zero", course / "submitted" / "ada" / ASSIGNMENT / "timestamp.txt")
    found = collected(course)["ada"]
    assert found.status == "refused" and "timestamp.txt (link)" in found.notes[0]


def test_a_timestamp_before_the_notebooks_last_change_is_noted(course):
    (course / "submitted" / "ada" / ASSIGNMENT / "timestamp.txt").write_text(utc(-7 * 86400))
    (course / "submitted" / "ben" / ASSIGNMENT / "timestamp.txt").write_text(utc(0))
    os.utime(course / "submitted" / "ben" / ASSIGNMENT / NOTEBOOK, (time.time() - 3600,) * 2)
    found = collected(course)
    assert found["ada"].status == "graded" and "before the notebook's last change" in found["ada"].notes[0]
    assert found["ben"].status == "graded" and found["ben"].notes == []


def test_names_in_notes_are_printable_and_bounded(course):
    mine = folder(course, "cal")
    os.symlink("/etc/passwd", mine / ("\x1b[31m" + "x" * 200))
    note = collected(course)["cal"].notes[0]
    assert "\x1b" not in note and "x" * 81 not in note


def grade(root, *args):
    return subprocess.run([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT, *args], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_a_second_class_command_on_the_course_refuses_clearly(course):
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    (course / "gradebook.db").touch()  # a course that passes the first checks: only the lock refuses it
    (course / "exercises" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    (course / ".gru_ref").mkdir()
    with open(course / ".gru_ref" / "grading.lock", "w") as held:
        held.write("pid 12345, assignment rnn")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        refused = grade(course)
    assert refused.returncode == 2, refused.stderr
    assert "another class command is grading this course (pid 12345, assignment rnn)" in refused.stderr
    assert "Traceback" not in refused.stderr and not (course / ".gru_ref" / ASSIGNMENT).exists()


def test_the_lock_goes_with_the_process_that_held_it(course):
    (course / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from gru_ref.grade import course_lock; "
                               f"course_lock(Path({str(course)!r}), 'gru'); print('held', flush=True); "
                               "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with open(course / ".gru_ref" / "grading.lock") as f:
            with pytest.raises(BlockingIOError):
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            holder.kill()
            holder.wait(60)
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the killed process
    finally:
        holder.kill()
        holder.wait(60)


class FakeAutograde:
    """nbgrader's API as gradebook_bulk._one_at_a_time calls it: records what the staged folder holds
    for each learner, then succeeds, fails or is interrupted."""

    def __init__(self, root, then):
        from types import SimpleNamespace
        self.coursedir = SimpleNamespace(root=str(root), submitted_directory="submitted")
        self.then, self.seen = then, {}

    def autograde(self, assignment, student, force, create):
        staged = Path(self.coursedir.root) / self.coursedir.submitted_directory / student / assignment
        self.seen[student] = sorted(str(p.relative_to(staged)) for p in staged.rglob("*"))
        if self.then == "interrupted":
            raise KeyboardInterrupt
        return {"success": self.then == "success", "log": "[AutogradeApp | ERROR] it failed"}


@pytest.mark.parametrize("then", ["success", "failure", "interrupted"])
def test_staging_for_nbgrader_hooks_copies_plain_files_only_and_leaves_nothing(course, then):
    """With nbgrader hooks, each learner's notebook and other files are staged for nbgrader's own
    autograde: the picked notebook under the released name, plain files only (a link to a host file,
    a linked folder, a FIFO are never opened), nothing written outside staged/ nor in submitted/, and
    no copy left afterwards, whether nbgrader succeeds, fails or is interrupted, nor any left by an
    earlier run that was killed."""
    from gru_ref.grading import gradebook_bulk
    mine = folder(course, "cal")
    (mine / "Untitled.ipynb").write_text(notebook("# cal's own work"))
    (mine / NOTEBOOK).write_text(notebook())  # the blank release beside it
    (mine / "timestamp.txt").write_text("2026-12-01 17:00:00 UTC")
    (mine / "data").mkdir()
    (mine / "data" / "odd\nname.txt").write_text("plain")
    found = collected(course)["cal"]
    assert found.status == "graded" and found.notebook == mine / "Untitled.ipynb"
    (mine / "passwd").symlink_to("/etc/passwd")  # after collect, which would refuse them
    (mine / "ben").symlink_to(course / "submitted" / "ben", target_is_directory=True)
    os.mkfifo(mine / "pipe")
    stale = course / ".gru_ref" / ASSIGNMENT / "staged" / "dan" / ASSIGNMENT
    stale.mkdir(parents=True)
    (stale / NOTEBOOK).write_text(notebook("# dan's work, staged by a run that was killed"))
    before = tree_digest(course / "submitted")
    outside = sorted(p for p in course.rglob("*") if "staged" not in p.parts)
    api = FakeAutograde(course, then)
    pending = [("cal", NOTEBOOK, None)]
    if then == "interrupted":
        with pytest.raises(KeyboardInterrupt):
            gradebook_bulk._one_at_a_time(api, ASSIGNMENT, pending, None, {"cal": found})
    else:
        failed = gradebook_bulk._one_at_a_time(api, ASSIGNMENT, pending, None, {"cal": found})
        assert failed == ({} if then == "success" else {"cal": "[AutogradeApp | ERROR] it failed"})
    assert api.seen["cal"] == ["data", "data/odd\nname.txt", NOTEBOOK, "timestamp.txt"]
    assert api.coursedir.submitted_directory == "submitted"
    assert not (course / ".gru_ref" / ASSIGNMENT / "staged").exists()
    assert tree_digest(course / "submitted") == before
    assert sorted(p for p in course.rglob("*") if "staged" not in p.parts) == outside
