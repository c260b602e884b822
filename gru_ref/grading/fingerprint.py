"""Trusted: the key under which a grading result is kept, and by which the class command knows that a
submission is already graded and recorded.

A result holds as long as nothing it depends on changed: the submission (the learner's id and the
notebook nbgrader's autograde sees: its code cells and its test cells, in order), the source
notebook in solutions/ID/ (its hidden tests, points and instructions), the checker (every file of
the gru_ref package that the grading runs: the box, the judge, the assignments' cases and
messages), torch's version and the grading limits. Change any of these and the next class command
runs and records that notebook again; change nothing and it runs nothing.
"""
import functools
import hashlib
import json
from importlib import metadata
from pathlib import Path

from gru_ref.grading import plan as planning

PACKAGE = Path(__file__).resolve().parents[1]  # gru_ref/
# gru_ref's files that never touch a result: finding submissions, recording and reporting grades.
# A change to them regrades nothing; any other file of the package is the checker's.
NOT_CHECKER = ("grade.py", "precheck.py", "grading/collect.py", "grading/gradebook_bulk.py", "grading/report.py",
               "grading/precheck.py", "grading/formgrader_escape.py")


def notebook(nb):
    """What grading a notebook depends on: its code cells' sources and its tests, in order."""
    plan = planning.plan_notebook(nb)
    what = {"code": plan.code_cells, "tests": [(t.grade_id, t.cell_index, [c.__dict__ for c in t.checks])
                                             for t in plan.tests]}
    return _sha(json.dumps(what, sort_keys=True).encode())


@functools.lru_cache(maxsize=None)
def checker(package=PACKAGE):
    """A hash of the checker's own files (their paths and bytes: NOT_CHECKER left out) and torch's
    version. Once per process: a process goes on running the code it imported."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if path.is_file() and "__pycache__" not in path.parts and relative not in NOT_CHECKER:
            digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(_version("torch").encode())
    return digest.hexdigest()


def source(source_folder):
    """A hash of the assignment's source notebooks (solutions/ID/*.ipynb), their names and bytes."""
    digest = hashlib.sha256()
    for path in sorted(Path(source_folder).glob("*.ipynb")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def context(source_folder, limits=None):
    """What every result of one assignment depends on besides the submission: computed once a run."""
    return _sha(json.dumps({"checker": checker(), "source": source(source_folder),
                            "limits": sorted((limits or {}).items())}).encode())


def key(student, nb, grading_context, cases=None):
    """The key of one submission's result: its learner, its notebook, the grading context, and the
    learner's keys of the cases (gru_ref.judge.secret: a new course secret draws new hidden cases)."""
    return _sha(json.dumps([student, notebook(nb), grading_context, cases or {}], sort_keys=True).encode())


def source_folder(coursedir, assignment):
    """solutions/ID/ as nbgrader's CourseDirectory names it (relative to the course root)."""
    return coursedir.format_path(coursedir.source_directory, ".", assignment)


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def _sha(data):
    return hashlib.sha256(data).hexdigest()
