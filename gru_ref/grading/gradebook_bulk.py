"""Trusted: record a class's grades in nbgrader's gradebook, in bulk, exactly as nbgrader's autograde
records them one learner at a time; the class command's "Recording" phase.

`nbgrader autograde` run per learner cost about 0.5 s each with every result ready (profiled
2026-12-02, `gru`, 10 learners): it opens the gradebook about 9 times per learner (a new SQLAlchemy
engine each time, so its compiled queries are lost and its tables inspected again), commits after
every cell's score, sanitises the notebook that the class command had already sanitised, and
checks nbgrader's metadata schema itself (not just the cells) for every cell.

Here the same steps run for the whole class in one process: nbgrader's own preprocessors, as
nbgrader_config.py configures Autograde's (SandboxedExecute reading the result from the results
folder, SaveAutoGrades, FlagForReview, AssignLatePenalties, ...), given the one open gradebook
(`one_gradebook`), with one commit per learner. Around them, what nbgrader's Autograde converter does
for one learner with --force: the autograded folder made anew, the submission's other files and the
source folder's non-notebook files copied into it, the student and the submission (with
timestamp.txt's time) created or updated, the autograded notebook written, its permissions set.
So `nbgrader export`, `generate_feedback` and the formgrader read the same rows and files
(tests/test_class_grading.py compares them with plain `nbgrader autograde`'s).
"""
import contextlib
import logging
import os
import shutil
import sys
from pathlib import Path

import nbformat

# Modules whose steps open the gradebook by the name Gradebook: nbgrader's preprocessors and ours.
STEP_MODULES = ("nbgrader.preprocessors.", "gru_ref.grading.")


class _NoCommit:
    """The gradebook's session, where a step's commit() only flushes: the learner's rows are
    committed together, once, by record()."""

    def __init__(self, session):
        self._session = session

    def commit(self):
        self._session.flush()

    def __getattr__(self, name):
        return getattr(self._session, name)


class _Borrowed:
    """The open gradebook, lent to a step that opens its own: closing it closes nothing. Its lookups
    that nbgrader's steps repeat for every cell of every learner are answered from memory: the
    source notebook's rows (nothing writes them while grades are recorded), and one learner's grade
    and comment rows, loaded in one query each (the same objects the lookups would return)."""

    def __init__(self, gradebook):
        self._gradebook, self._source, self._learner = gradebook, {}, {}

    def find_notebook(self, *args):
        return self._remembered(("notebook", *args), self._gradebook.find_notebook, args)

    def find_source_cell(self, *args):
        return self._remembered(("source", *args), self._gradebook.find_source_cell, args)

    def find_graded_cell(self, *args):
        return self._remembered(("graded", *args), self._gradebook.find_graded_cell, args)

    def find_grade(self, name, notebook, assignment, student):
        found = self._learner_rows(notebook, assignment, student)[0].get(name)
        return found if found is not None else self._gradebook.find_grade(name, notebook, assignment, student)

    def find_comment(self, name, notebook, assignment, student):
        found = self._learner_rows(notebook, assignment, student)[1].get(name)
        return found if found is not None else self._gradebook.find_comment(name, notebook, assignment, student)

    def forget_learner(self):
        """After a commit or a rollback: the next learner's rows are loaded afresh."""
        self._learner.clear()

    def _remembered(self, key, find, args):
        if key not in self._source:
            self._source[key] = find(*args)  # MissingEntry is raised, never remembered
        return self._source[key]

    def _learner_rows(self, notebook, assignment, student):
        key = (notebook, assignment, student)
        if key not in self._learner:
            from nbgrader.api import MissingEntry
            try:
                submitted = self._gradebook.find_submission_notebook(notebook, assignment, student)
                self._learner[key] = ({g.name: g for g in submitted.grades}, {c.name: c for c in submitted.comments})
            except MissingEntry:
                return {}, {}
        return self._learner[key]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass

    def __getattr__(self, name):
        return getattr(self._gradebook, name)


class _SchemaChecked:
    """jsonschema, for nbgrader's metadata check, with each schema checked once, not once per cell:
    the same verdict on every cell (nbgrader's schemas are constants)."""

    def __init__(self, jsonschema):
        self._jsonschema, self._validators = jsonschema, {}

    def validate(self, instance, schema, *args, **kwargs):
        if args or kwargs:
            return self._jsonschema.validate(instance, schema, *args, **kwargs)
        key = id(schema)
        if key not in self._validators:
            cls = self._jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            self._validators[key] = (schema, cls(schema))  # the schema kept alive: its id stays its own
        error = self._jsonschema.exceptions.best_match(self._validators[key][1].iter_errors(instance))
        if error is not None:
            raise error

    def __getattr__(self, name):
        return getattr(self._jsonschema, name)


@contextlib.contextmanager
def one_gradebook(db_url, course_id="default_course"):
    """One open gradebook, lent to every nbgrader step that would open its own while this lasts; a
    step's commit only flushes (call commit() or rollback() on what this yields)."""
    from nbgrader import api as nbgrader_api
    from nbgrader.nbgraderformat import common
    gradebook = nbgrader_api.Gradebook(db_url, course_id)
    session = gradebook.db
    gradebook.db = _NoCommit(session)
    lent = _Borrowed(gradebook)

    def opened(url, *args, **kwargs):
        if url != db_url:  # never the case in a course: one gradebook
            return nbgrader_api.Gradebook(url, *args, **kwargs)
        return lent

    patched = [module for name, module in list(sys.modules.items())
               if name.startswith(STEP_MODULES) and getattr(module, "Gradebook", None) is nbgrader_api.Gradebook]
    for module in patched:
        module.Gradebook = opened
    schema_checks = common.jsonschema
    common.jsonschema = _SchemaChecked(schema_checks)
    try:
        yield Session(session, lent)
    finally:
        common.jsonschema = schema_checks
        for module in patched:
            module.Gradebook = nbgrader_api.Gradebook
        session.rollback()  # what was not committed
        gradebook.db = session
        gradebook.close()


class Session:
    """What the caller of one_gradebook commits or rolls back, and the gradebook it writes through."""

    def __init__(self, session, gradebook):
        self._session, self.gradebook = session, gradebook

    def commit(self):
        self._session.commit()
        self.gradebook.forget_learner()

    def rollback(self):
        self._session.rollback()
        self.gradebook.forget_learner()


def record(api, assignment, pending, recorded=None, submissions=None):
    """Record each of pending, [(student, notebook name, sanitised notebook JSON)], as `nbgrader
    autograde --force` would, with one commit per learner; recorded(student) after each commit.
    submissions: {student: its gru_ref.grading.collect.Submission}, for a course with hooks.
    Returns {student: why} of those that could not be recorded (nothing of theirs is kept)."""
    from nbgrader.converters import Autograde
    from nbgrader.utils import setenv
    coursedir = api.coursedir
    converter = Autograde(coursedir=coursedir, parent=api)
    converter.log = logging.getLogger("gru_ref.grading.gradebook_bulk")  # nbgrader's step-by-step log: not shown
    converter.log.setLevel(logging.ERROR)
    if converter.pre_convert_hook or converter.post_convert_hook:  # hooks are per learner: nbgrader's own way
        return _one_at_a_time(api, assignment, pending, recorded, submissions or {})
    steps = [_step(step, converter) for step in converter.autograde_preprocessors]
    failed = {}
    with one_gradebook(coursedir.db_url, coursedir.course_id) as session, setenv(NBGRADER_EXECUTION="autograde"):
        for student, name, notebook_json in pending:
            dest = coursedir.format_path(coursedir.autograded_directory, student, assignment)
            try:
                _record_one(converter, steps, session.gradebook, assignment, student, name, notebook_json, dest)
                session.commit()
            except Exception as exc:  # this learner's rows and files go; the class goes on
                session.rollback()
                shutil.rmtree(dest, ignore_errors=True)
                failed[student] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
                continue
            if recorded:
                recorded(student)
    return failed


def _step(step, converter):
    """A configured step as nbconvert's register_preprocessor makes it: a class or its dotted name."""
    from traitlets.utils.importstring import import_item
    step = import_item(step) if isinstance(step, str) else step
    return step(parent=converter) if isinstance(step, type) else step


def _record_one(converter, steps, gradebook, assignment, student, name, notebook_json, dest):
    from nbgrader.utils import find_all_files
    coursedir = converter.coursedir
    source = coursedir.format_path(coursedir.submitted_directory, student, assignment)
    if os.path.exists(dest):  # --force: made anew
        shutil.rmtree(dest)
    os.makedirs(dest)
    for filename in find_all_files(source, coursedir.ignore + ["*.ipynb"]):  # the submission's other files
        _copy(filename, os.path.join(dest, os.path.relpath(filename, source)))
    gradebook.update_or_create_student(student)
    timestamp = coursedir.get_existing_timestamp(source)
    gradebook.update_or_create_submission(assignment, student, **({"timestamp": timestamp} if timestamp else {}))
    masters = coursedir.format_path(coursedir.source_directory, ".", assignment)
    kept = {os.path.join(masters, x) for x in converter.exclude_overwriting.get(assignment, [])}
    for filename in set(find_all_files(masters, coursedir.ignore + ["*.ipynb"])) - kept:
        _copy(filename, os.path.join(dest, os.path.relpath(filename, masters)))
    nb = nbformat.reads(notebook_json, as_version=4)
    resources = {"unique_key": name, "output_files_dir": f"{name}_files",
                 "nbgrader": {"student": student, "assignment": assignment, "notebook": name,
                              "db_url": coursedir.db_url}}
    for step in steps:
        nb, resources = step(nb, resources)
    output = nbformat.writes(nb)  # as nbconvert's NotebookExporter writes it
    with open(os.path.join(dest, name + ".ipynb"), "w", encoding="utf-8") as f:
        f.write(output if output.endswith("\n") else output + "\n")
    converter.set_permissions(assignment, student)


def _copy(source, destination):
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    if os.path.exists(destination):
        os.remove(destination)
    shutil.copy(source, destination)


def _one_at_a_time(api, assignment, pending, recorded, submissions):
    """nbgrader's own autograde, one learner at a time (the hooks are per learner), on the notebook the
    bulk path would grade: the submission staged outside submitted/ (pick_notebook.stage), which
    nbgrader reads as its submitted directory for that learner; the staged copy goes afterwards, and
    what a killed run left there goes first."""
    coursedir = api.coursedir
    state_folder = Path(coursedir.root) / ".gru_ref" / assignment
    try:
        shutil.rmtree(state_folder / "staged", ignore_errors=True)  # a killed run's copies, of any learner
        return _each_staged(api, assignment, pending, recorded, submissions, state_folder)
    finally:  # interrupted or not, no learner's copy stays
        shutil.rmtree(state_folder / "staged", ignore_errors=True)


def _each_staged(api, assignment, pending, recorded, submissions, state_folder):
    from gru_ref.grading import collect, pick_notebook
    coursedir = api.coursedir
    failed = {}
    for student, _, _ in pending:
        submitted_directory = coursedir.submitted_directory
        try:
            staged = pick_notebook.stage(state_folder, submissions[student], collect.read_bounded,
                                         collect.MAX_FOLDER_BYTES)
            coursedir.submitted_directory = os.path.relpath(staged, coursedir.root)
            done = api.autograde(assignment, student, force=True, create=True)
        except (OSError, collect.TooLarge, KeyError) as exc:  # changed since it was collected
            done = {"success": False, "error": f"cannot stage the submission: {type(exc).__name__}: {exc}"}
        finally:
            coursedir.submitted_directory = submitted_directory
            shutil.rmtree(state_folder / "staged" / student, ignore_errors=True)
        if not done["success"]:
            lines = [line for line in (done.get("log") or "").splitlines() if "ERROR" in line]
            failed[student] = (lines[-1] if lines else (done.get("error") or "no log").strip().splitlines()[-1])[:300]
        elif recorded:
            recorded(student)
    return failed
