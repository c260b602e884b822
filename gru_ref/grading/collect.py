"""Trusted: find every submission of an assignment and say what state it is in, before grading.

For each folder submitted/<student>/<assignment>/: the notebook nbgrader expects (named as the
released one), or a lone notebook under another name (`gru (1).ipynb`: copied to the expected name,
so that it is graded, and noted), or none; whether it is readable notebook JSON; which other files
came with it (never executed: the sandbox sees only the notebook's cells).
"""
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

STATUSES = ("graded", "flagged", "too large", "unreadable", "missing", "error")


@dataclass
class Submission:
    student: str
    folder: Path
    notebook: Path | None = None
    status: str = "graded"  # until found otherwise: see STATUSES
    notes: list = field(default_factory=list)


def released_names(root, assignment):
    return sorted(p.name for p in (Path(root) / "exercises" / assignment).glob("*.ipynb"))


def collect(root, assignment, fix_renamed=True):
    """Every student folder with this assignment, in order; renamed notebooks copied to where
    nbgrader looks (unless fix_renamed is False: then they are read where they are)."""
    root = Path(root)
    names = released_names(root, assignment)
    if len(names) != 1:
        raise SystemExit(f"exercises/{assignment}/ must hold exactly one released notebook (found "
                         f"{len(names)}): run `nbgrader generate_assignment {assignment}` first.")
    expected = names[0]
    submissions = []
    for folder in sorted((root / "submitted").glob(f"*/{assignment}")):
        if not folder.is_dir():
            continue
        submission = Submission(folder.parent.name, folder)
        notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
        path = folder / expected
        for other in notebooks:
            if other.name != expected and path.exists():
                same = other.read_bytes() == path.read_bytes()  # renamed, and copied by an earlier run
                submission.notes.append(f"renamed notebook '{other.name}' graded as '{expected}'" if same
                                        else f"another notebook '{other.name}' was not graded")
        if not path.exists():
            if len(notebooks) == 1:
                if fix_renamed:
                    shutil.copy2(notebooks[0], path)
                else:
                    path = notebooks[0]
                submission.notes.append(f"renamed notebook '{notebooks[0].name}' graded as '{expected}'")
            elif notebooks:
                submission.status = "missing"
                submission.notes.append(f"no '{expected}', and {len(notebooks)} other notebooks: "
                                        f"{', '.join(p.name for p in notebooks)}; ask which one to grade")
            else:
                submission.status = "missing"
                submission.notes.append(f"no notebook in the folder; ask the student to submit '{expected}'")
        if submission.status != "missing":
            submission.notebook = path
            problem = unreadable(path)
            if problem:
                submission.status = "unreadable"
                submission.notes.append(problem)
        extra = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file() and p.suffix != ".ipynb" and p.name != "timestamp.txt")
        if extra:
            shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
            submission.notes.append(f"extra files never executed: {shown}")
        submissions.append(submission)
    return submissions


def unreadable(path):
    """None, or why nbgrader could not read the notebook, with what to ask of the student."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # JSON, encoding, schema: all the same to the student
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        return (f"not a readable notebook ({first}); ask the student to save it from Jupyter "
                f"(File > Save, then download the .ipynb) and submit it again")
    return None
