"""Trusted: which notebook of a submission folder holds the learner's work.

Learners hand in `Untitled.ipynb`, `gru (1).ipynb` or `GRU.ipynb`, or the blank release beside their
work. Every notebook at the top of the folder is read (bounded, never through a link) and the one
with the most cells of the learner's own (a non-empty cell whose text is in no cell of the released
notebook) is graded; on a tie, the one named as released, then the one changed last. The others are
named in a note, with what they hold. Nothing in the folder is written: where nbgrader's own autograde
grades it (a course with nbgrader hooks, gru_ref.grading.gradebook_bulk), the submission is staged for
it outside submitted/ (stage).
"""
import os
import shutil
import stat


def own_cells(nb, released_texts):
    """How many non-empty cells of nb are not in the released notebook: the learner's work."""
    return sum(1 for cell in nb.get("cells", ()) if isinstance(cell.get("source"), str)
               and cell["source"].strip() and cell["source"].strip() not in released_texts)


def released_texts(released_nb):
    return {cell.source.strip() for cell in released_nb.cells if isinstance(cell.get("source"), str)}


def pick(folder, names, expected, released_nb, read):
    """(the name of the notebook to grade, [notes]) among `names`, the notebooks at the top of the
    folder; read(path) -> notebook, raising for one that cannot be read (it is never picked over a
    readable one)."""
    from gru_ref.grading.collect import _listed, shown  # collect calls this module
    texts = released_texts(released_nb) if released_nb is not None else set()
    work = {}
    for name in names:
        try:
            work[name] = own_cells(read(folder / name), texts)
        except Exception:  # noqa: BLE001 (unreadable, too large, not JSON: the learner's file, any error)
            work[name] = -1

    def rank(name):
        return (work[name], name == expected, _mtime(folder / name), name)

    chosen = max(names, key=rank)
    notes = []
    if chosen != expected:
        notes.append(f"name differs: '{shown(chosen)}' graded (the assignment's notebook is '{expected}')")
    others = [n for n in names if n != chosen]
    if others:
        what = [f"{n} ({_held(work[n])})" for n in others]
        notes.append(f"other notebooks in the folder, not graded: {_listed(what)}")
    return chosen, notes


def _held(count):
    return "unreadable" if count < 0 else "no answers" if count == 0 else \
        f"{count} cell{'s' if count != 1 else ''} of its own"


def _mtime(path):
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0


def stage(state_folder, submission, read_bounded, cap):
    """The submission as nbgrader's own autograde is to grade it, copied into
    state_folder/staged/<student>/<assignment>/, never into submitted/: the notebook graded (whatever
    its name) under the released name, with its modification time, and the folder's other files
    (timestamp.txt and the files nbgrader copies into autograded/), no other notebook. Links and special
    files are never followed (collect refused such a folder already). Returns the folder to give
    nbgrader as its submitted directory."""
    folder = submission.folder
    target = state_folder / "staged" / submission.student / folder.name
    shutil.rmtree(target, ignore_errors=True)  # what an earlier run staged goes
    target.mkdir(parents=True)
    copies = [(submission.notebook, target / submission.expected)]
    for directory, _, names in os.walk(folder):  # never into a linked folder
        for name in names:
            source = os.path.join(directory, name)
            if not name.endswith(".ipynb") and stat.S_ISREG(os.lstat(source).st_mode):
                copies.append((source, target / os.path.relpath(source, folder)))
    for source, destination in copies:
        data = read_bounded(source, cap)
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        when = os.lstat(source)
        os.utime(destination, ns=(when.st_atime_ns, when.st_mtime_ns), follow_symlinks=False)
    return target.parent.parent
