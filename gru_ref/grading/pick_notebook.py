"""Trusted: which notebook of a submission folder holds the learner's work.

Learners hand in `Untitled.ipynb`, `gru (1).ipynb` or `GRU.ipynb`, or the blank release beside their
work. Every notebook at the top of the folder is read (bounded, never through a link) and the one
with the most cells of the learner's own (a non-empty cell whose text is in no cell of the released
notebook) is graded; on a tie, the one named as released, then the one changed last. The others are
named in a note, with what they hold. Nothing in the folder is written: a notebook under another
name is staged for nbgrader outside submitted/ (gru_ref.grade).
"""
import os


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


def stage(state_folder, submission, read_bounded):
    """A notebook graded under another name, copied for nbgrader under the released name into
    state_folder/staged/<student>/<assignment>/ (with an accepted timestamp.txt and the notebook's
    modification time), never into submitted/. The folder to give nbgrader as its submitted
    directory, relative to the course root."""
    folder = submission.folder
    target = state_folder / "staged" / submission.student / folder.name
    target.mkdir(parents=True, exist_ok=True)
    copies = [(submission.notebook, target / submission.expected)]
    if os.path.lexists(folder / "timestamp.txt"):  # checked by collect: a refused one is never graded
        copies.append((folder / "timestamp.txt", target / "timestamp.txt"))
    for source, destination in copies:
        data = read_bounded(source)
        if os.path.lexists(destination):
            os.unlink(destination)
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        when = os.lstat(source)
        os.utime(destination, ns=(when.st_atime_ns, when.st_mtime_ns), follow_symlinks=False)
    return target.parent.parent
