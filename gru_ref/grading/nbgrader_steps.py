"""nbgrader's autograde, through the sandbox: set in nbgrader_config.py, so that plain
`nbgrader autograde` and the formgrader grade exactly as `python -m gru_ref.grade` does.

SandboxedExecute takes the place of nbgrader's Execute. It never starts a Jupyter kernel: the
learner's cells run in the box (gru_ref.grading.box), the judge rules here, and the verdicts become
the test cells' outputs, which SaveAutoGrades scores as usual. Learner-written markdown and raw cells
become plain text, and learner-written metadata goes, so that feedback and the formgrader carry no
learner-made HTML or scripts (gru_ref.grading.learner_text).
ForgetScanFlag, before SaveAutoGrades, takes back the flag an earlier grading's scan set (never a
grader's); FlagForReview, after SaveAutoGrades, marks a submission that the integrity scan flagged as needing
manual grading and flagged in the formgrader, with the flagged lines as a comment, shown as text (to
the instructor: the learner's feedback leaves it out).
RefuseUnsafeStudentId, first of nbgrader's sanitising steps, keeps a folder name that the formgrader
could not show safely out of the gradebook.
The feedback page's own steps (maths as MathML, the flags kept for the instructor) are in
gru_ref.grading.feedback_html.
"""
import atexit
import json
import os

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Dict, Unicode

from gru_ref.grading import fingerprint
from gru_ref.grading.box import Box, unsandboxed
from gru_ref.grading.bwrap import check_course_hidden
from gru_ref.grading.learner_text import markdown_literal, unsafe_student_id
from gru_ref.grading.restore_tests import RESTORED, output_note
from gru_ref.grading.submission import apply, grade_notebook

FEEDBACK_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "feedback_template")

_BOX = None


def shared_box():
    global _BOX
    if _BOX is None:
        from torch import cuda
        _BOX = Box(gpu=cuda.is_available())
        atexit.register(_BOX.close)
    return _BOX


class SandboxedExecute(NbGraderPreprocessor):
    results_folder = Unicode(os.environ.get("GRU_REF_RESULTS", ""), help=(
        "A folder of grading results computed ahead by `python -m gru_ref.grade` (one JSON file per "
        "key, gru_ref.grading.fingerprint): a notebook found there is not run again.")).tag(config=True)

    limits = Dict(help="Overrides of gru_ref.grading.submission.LIMITS, e.g. {'deadline_s': 120}").tag(config=True)

    def preprocess(self, nb, resources):
        restored = nb.metadata.get(RESTORED) or {}  # written by RestoreTestCells, nbgrader's sanitising step
        strip_learner_html(nb)
        info = resources.get("nbgrader", {})
        keys = self._keys(info)
        result = self._cached(nb, info, keys)
        if result is None:
            result = grade_notebook(nb, shared_box(), self.limits, keys)
        if "grader_error" in result:
            raise RuntimeError(f"the grader could not grade this notebook: {result['grader_error']}")
        apply(nb, result)
        for cell in nb.cells:  # the learner and the instructor see which tests were put back, and why
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution") and meta.get("grade_id") in restored:
                cell.outputs.insert(0, nbformat.v4.new_output(
                    "stream", name="stdout", text=output_note(restored[meta["grade_id"]])))
        resources["gru_ref"] = result
        return nb, resources

    # Read once per instance: the class command records a whole class through one SandboxedExecute.
    _secret = None
    _contexts = None

    def _keys(self, info):
        """The learner's and the course's keys of the cases (gru_ref.judge.secret), from the course's secret."""
        from gru_ref.judge import secret
        if not (info.get("assignment") and info.get("student")):  # not grading a learner's submission
            return None
        if self._secret is None:
            root = CourseDirectory(config=self.config).root
            if not unsandboxed():
                check_course_hidden(root)  # the box would show the secret, solutions/ and the gradebook
            self._secret = secret.course_secret(root)
        return secret.keys_of(self._secret, info["assignment"], info["student"])

    def _cached(self, nb, info, keys=None):
        if not self.results_folder or not info.get("student"):
            return None
        key = fingerprint.key(info["student"], nb, self._context(info["assignment"]), keys)
        path = os.path.join(self.results_folder, key + ".json")
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _context(self, assignment):
        """fingerprint.context of the assignment (its source notebooks hashed), once per instance."""
        if self._contexts is None:
            self._contexts = {}
        if assignment not in self._contexts:
            source = fingerprint.source_folder(CourseDirectory(config=self.config), assignment)
            self._contexts[assignment] = fingerprint.context(source, self.limits)
        return self._contexts[assignment]


# A submitted notebook's own metadata is the learner's to write (a title, widget state, a lexer's
# name, ...): what nbconvert reads of it is set here instead, as the released notebooks have it.
NOTEBOOK_METADATA = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}}
CELL_METADATA = ("nbgrader", "deletable", "editable")  # what nbgrader needs (tags would be CSS classes)


def strip_learner_html(nb):
    """Every markdown or raw cell the learner could write becomes plain text: no HTML, no links (a
    `javascript:` one included), no remote images in the feedback or the formgrader. The notebook's
    and the cells' metadata keep only what nbgrader needs, and cells lose their attachments."""
    nb.metadata = nbformat.from_dict(NOTEBOOK_METADATA)
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items() if k in CELL_METADATA})
        nbgrader = cell.metadata.get("nbgrader", {})
        nbgrader.pop("comment", None)  # generate_feedback writes the gradebook's own
        cell.pop("attachments", None)
        if nbgrader.get("locked"):
            continue
        if cell.cell_type in ("markdown", "raw"):
            cell.source = markdown_literal(cell.source.splitlines()) if cell.source.strip() else ""


class RefuseUnsafeStudentId(NbGraderPreprocessor):
    """A folder name that nbgrader's formgrader could not show safely (it writes student ids into its
    pages' HTML and JavaScript unescaped) never stays in the gradebook: nbgrader's autograde has just
    added it, so this takes it out again, with its submission, and refuses to grade the folder."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        problem = unsafe_student_id(info["student"])
        if problem is None:
            return nb, resources
        with Gradebook(info["db_url"]) as gradebook:
            try:
                gradebook.remove_submission(info["assignment"], info["student"])
            except MissingEntry:
                pass
            student = gradebook.find_student(info["student"])
            if not student.submissions:
                gradebook.remove_student(info["student"])
        raise UnsafeStudentId(problem)


class UnsafeStudentId(ValueError):
    """The folder was not graded: its name cannot be a student id."""


class ForgetScanFlag(NbGraderPreprocessor):
    """Before SaveAutoGrades (which clears the automatic comments): a regrade takes back what the
    integrity scan itself set on the earlier grading, the formgrader's flag and the comments that
    start with FLAG_HEADER, so that FlagForReview sets them again only if this scan flags. A flag a
    grader set by hand (no scan comment beside it) and a grader's own comments are left as they are."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        ids = (info["notebook"], info["assignment"], info["student"])
        with Gradebook(info["db_url"]) as gradebook:
            try:
                submitted = gradebook.find_submission_notebook(*ids)
            except MissingEntry:  # graded for the first time
                return nb, resources
            ours = [c for c in submitted.comments if (c.auto_comment or "").startswith(FLAG_HEADER)]
            if ours:
                for comment in ours:
                    comment.auto_comment = None
                submitted.flagged = False
                gradebook.db.commit()
        return nb, resources


class FlagForReview(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        flags = resources.get("gru_ref", {}).get("flags")
        if not flags:
            return nb, resources
        info = resources["nbgrader"]
        ids = (info["notebook"], info["assignment"], info["student"])
        text = describe_flags(flags)
        with Gradebook(info["db_url"]) as gradebook:
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade"):
                    gradebook.find_grade(meta["grade_id"], *ids).needs_manual_grade = True
                if meta.get("solution"):
                    comment = gradebook.find_comment(meta["grade_id"], *ids)
                    comment.auto_comment = text
            # The formgrader's flag (its lists' flag column, its "flagged" search): a grader unflags it there.
            gradebook.find_submission_notebook(*ids).flagged = True
            gradebook.db.commit()
        self.log.warning("%s: flagged for manual review (%d line(s))", info["student"], len(flags))
        return nb, resources


FLAG_HEADER = "Flagged for manual review by the integrity scan"  # the learner's feedback leaves it out


def describe_flags(flags):
    """nbgrader's comment on a flagged answer: Markdown, the learner's lines shown as text."""
    lines = [f"cell {cell + 1}, line {line}: {code}  <- {reason}" for cell, line, code, reason in flags[:20]]
    if len(flags) > 20:
        lines.append(f"(and {len(flags) - 20} more)")
    return FLAG_HEADER + " (the automatic score stands until a grader decides):\n\n" + markdown_literal(lines)
