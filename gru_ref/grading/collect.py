"""Trusted: find every submission of an assignment and say what state it is in, before grading.

For each folder submitted/<student>/<assignment>/: the notebook that holds the learner's work, of
every notebook in it, whatever its name (gru_ref.grading.pick_notebook: `Untitled.ipynb` graded with
the note "name differs", the others named), or none; whether it is readable notebook JSON; which
other files came with it (never executed: the sandbox sees only the notebook's cells). Nothing in
the folder is ever written.

Nothing in a submission is trusted. Every entry is looked at with lstat, never through a link:
a symbolic link (to a classmate's notebook, a host file, /dev/zero) or a special file (FIFO,
device, socket) anywhere in it is never followed nor opened, and the submission is "refused" with a
note that names it (nbgrader's autograde would copy what the link points to). A notebook over
MAX_NOTEBOOK_BYTES, or a folder with too many or too large files, is "too large"; files are read
only up to their cap. timestamp.txt, which nbgrader takes for the submission time, is checked:
see check_timestamp.
"""
import datetime
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from gru_ref.grading import pick_notebook
from gru_ref.grading.learner_text import unsafe_student_id

STATUSES = ("graded", "flagged", "unreadable", "too large", "refused", "missing", "error")
MAX_NOTEBOOK_BYTES = 32 << 20  # the course's notebooks are tens of KB; outputs and all, no honest one nears this
MAX_FOLDER_BYTES = 128 << 20  # every file of a submission together: nbgrader copies them all
MAX_FOLDER_ENTRIES = 1000  # files and folders in one submission
MAX_TIMESTAMP_BYTES = 100  # nbgrader writes one line such as "2026-12-01 17:00:00.000000 UTC"
CLOCK_SKEW_S = 300  # between the machine that wrote a time and this one


@dataclass
class Submission:
    student: str
    folder: Path
    notebook: Path | None = None
    status: str = "graded"  # until found otherwise: see STATUSES
    notes: list = field(default_factory=list)
    expected: str = ""  # the released notebook's name, under which nbgrader grades it


class NoRelease(Exception):
    """The assignment has no released notebook (the message says what to do)."""


class TooLarge(Exception):
    pass


def released_names(root, assignment):
    return sorted(p.name for p in (Path(root) / "exercises" / assignment).glob("*.ipynb"))


def read_bounded(path, cap=MAX_NOTEBOOK_BYTES):
    """The bytes of a regular file, opened without following a link and without blocking on a FIFO;
    raises TooLarge past cap bytes (read no further), OSError for anything but a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{Path(path).name} is not a regular file")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                raise TooLarge(f"{Path(path).name} is larger than {cap >> 20} MB")
    finally:
        os.close(fd)


def read_notebook(path):
    """The notebook at path (nbformat v4), read as read_bounded reads."""
    return nbformat.reads(read_bounded(path).decode("utf-8"), as_version=4)


def collect(root, assignment):
    """Every student folder with this assignment, in order, each with the notebook to grade (read
    where it is: nothing in submitted/ is ever written)."""
    root = Path(root)
    names = released_names(root, assignment)
    if len(names) != 1:
        raise NoRelease(f"exercises/{assignment}/ must hold exactly one released notebook (found "
                         f"{len(names)}): run `nbgrader generate_assignment {assignment}` first.")
    try:
        released_nb = read_notebook(root / "exercises" / assignment / names[0])
    except Exception:  # noqa: BLE001 (the course's own file: then every notebook ranks alike)
        released_nb = None
    submitted = root / "submitted"
    submissions = []
    for student in sorted(os.listdir(submitted)) if submitted.is_dir() else []:
        folder = submitted / student / assignment
        if os.path.islink(submitted / student):
            if os.path.lexists(folder):  # a stat through the link, nothing opened
                submissions.append(_refused(student, folder, [f"submitted/{shown(student)} (a folder link)"]))
            continue
        try:
            mode = os.lstat(folder).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISLNK(mode):
            submissions.append(_refused(student, folder, [f"{shown(assignment)} (a folder link)"]))
        elif unsafe_student_id(student):  # the formgrader would show it unescaped
            submissions.append(Submission(student, folder, status="unreadable", notes=[unsafe_student_id(student)]))
        elif stat.S_ISDIR(mode):
            submissions.append(_one(Submission(student, folder), names[0], released_nb))
    return submissions


def _refused(student, folder, what):
    submission = Submission(student, folder, status="refused")
    submission.notes.append(f"not graded: symbolic links or special files, never followed nor opened: "
                            f"{_listed(what)}; remove them (or ask the student for plain files), then grade again")
    return submission


def _one(submission, expected, released_nb):
    folder = submission.folder
    submission.expected = expected
    try:
        files, odd = _walk(folder)
    except TooLarge as exc:
        submission.status = "too large"
        submission.notes.append(f"not graded: {exc}; ask the student to submit the notebook alone")
        return submission
    except OSError as exc:  # a folder the grader may not read
        submission.status = "unreadable"
        submission.notes.append(f"not graded: {shown(exc.strerror or exc)} in the submission's folder; "
                                f"make its files readable, then grade again")
        return submission
    if odd:
        return _refused(submission.student, folder, odd)
    notebooks = sorted(name for name in files if "/" not in name and name.endswith(".ipynb"))
    big = [name for name in notebooks if files[name] > MAX_NOTEBOOK_BYTES]
    if big:
        submission.status = "too large"
        submission.notes.append(f"not graded: {_listed(big)} over the {MAX_NOTEBOOK_BYTES >> 20} MB any notebook "
                                f"of this course stays under; ask the student to clear its outputs (Kernel > "
                                f"Restart Kernel and Clear All Outputs), save it and submit it again")
        return submission
    if not notebooks:
        submission.status = "missing"
        submission.notes.append(f"no notebook in the folder; ask the student to submit '{expected}'")
        path = None
    else:  # the one with the work, whatever its name; the others named
        chosen, notes = pick_notebook.pick(folder, notebooks, expected, released_nb, read_notebook)
        submission.notes += notes
        path = folder / chosen
    if submission.status != "missing":
        submission.notebook = path
        problem = unreadable(path)
        if problem:
            submission.status = "unreadable"
            submission.notes.append(problem)
        elif "timestamp.txt" in files:
            refusal, note = check_timestamp(folder / "timestamp.txt", path)
            if refusal:
                submission.status = "refused"
            if refusal or note:
                submission.notes.append(refusal or note)
    extra = sorted(name for name in files if not name.endswith(".ipynb") and name != "timestamp.txt")
    if extra:
        submission.notes.append(f"extra files never executed: {_listed(extra)}")
    return submission


def _walk(folder):
    """({relative path: size} of the regular files under folder, [links and special files, named]),
    without following any link; raises TooLarge past MAX_FOLDER_ENTRIES entries or MAX_FOLDER_BYTES."""
    files, odd, entries, total = {}, [], 0, 0
    pending = [""]
    while pending:
        relative = pending.pop()
        with os.scandir(folder / relative if relative else folder) as listing:
            for entry in listing:
                entries += 1
                if entries > MAX_FOLDER_ENTRIES:
                    raise TooLarge(f"more than {MAX_FOLDER_ENTRIES} files and folders in the submission")
                name = f"{relative}/{entry.name}" if relative else entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    pending.append(name)
                elif stat.S_ISREG(mode):
                    files[name] = entry.stat(follow_symlinks=False).st_size
                    total += files[name]
                    if total > MAX_FOLDER_BYTES:
                        raise TooLarge(f"its files are larger than {MAX_FOLDER_BYTES >> 20} MB together")
                else:
                    odd.append(f"{shown(name)} ({_kind(mode)})")
    return files, sorted(odd)


def _same(one, other):
    try:
        return read_bounded(one) == read_bounded(other)
    except (OSError, TooLarge):
        return False


def _kind(mode):
    return ("link" if stat.S_ISLNK(mode) else "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode)
            else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file")


def unreadable(path):
    """None, or why nbgrader could not read the notebook, with what to ask of the student."""
    try:
        nbformat.validate(read_notebook(path))
    except Exception as exc:  # JSON, encoding, schema, size: all the same to the student
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        return (f"not a readable notebook ({first}); ask the student to save it from Jupyter "
                f"(File > Save, then download the .ipynb) and submit it again")
    return None


def check_timestamp(path, notebook, now=None):
    """(refusal, note) about submitted/<student>/<assignment>/timestamp.txt, either or both None.

    nbgrader's autograde takes the time in that file as the submission time, for lateness, and
    nbgrader's collect and zip_collect write it; a learner can write one as well (in the folder
    they hand in). So: a file that is empty, not a time nbgrader reads, or in the future is refused
    (that submission is not graded until the instructor writes the true time or deletes the file);
    a time earlier than the notebook's own last modification is graded, with a note that names both.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    todo = ("write the true submission time in it (such as 2026-12-01 17:00:00 UTC) or delete it, "
            "then grade again")
    try:
        text = read_bounded(path, MAX_TIMESTAMP_BYTES).decode("utf-8").strip()
    except TooLarge:
        return f"not graded: timestamp.txt is longer than any time; {todo}", None
    except (OSError, UnicodeDecodeError):
        text = None
    if not text:
        return f"not graded: timestamp.txt holds no time; {todo}", None
    from nbgrader.utils import parse_utc
    try:
        when = parse_utc(text)
    except Exception:  # dateutil's errors on a learner's text: not a time, whichever
        return f"not graded: timestamp.txt holds '{shown(text)}', not a time nbgrader reads; {todo}", None
    if when > now + datetime.timedelta(seconds=CLOCK_SKEW_S):
        return f"not graded: timestamp.txt says {when:%Y-%m-%d %H:%M:%S} UTC, in the future; {todo}", None
    changed = datetime.datetime.fromtimestamp(os.lstat(notebook).st_mtime, datetime.timezone.utc).replace(tzinfo=None)
    if when < changed - datetime.timedelta(seconds=CLOCK_SKEW_S):
        return None, (f"timestamp.txt says it was submitted at {when:%Y-%m-%d %H:%M:%S} UTC, before the notebook's "
                      f"last change at {changed:%Y-%m-%d %H:%M:%S} UTC: nbgrader takes timestamp.txt for lateness; "
                      f"check which is true (a learner can write timestamp.txt)")
    return None, None


def shown(name, limit=80):
    """A learner's file name as it goes into a note: printable, and bounded."""
    text = "".join(c if c.isprintable() else "?" for c in str(name))
    return text if len(text) <= limit else text[:limit] + "..."


def _listed(names, most=5):
    names = [shown(n) for n in names]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")
