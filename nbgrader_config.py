"""nbgrader configuration: run nbgrader from the repository root.

solutions/<assignment>/ holds the source notebooks (with solutions and hidden tests);
`nbgrader generate_assignment <assignment>` writes the learner notebooks into exercises/<assignment>/.
"""
import os
import sys

c = get_config()  # noqa: F821 (nbgrader provides it)

# nbgrader runs `alembic` and `jupyter` by name: find them beside this nbgrader, so that
# `.venv/bin/nbgrader ...` works without activating the environment.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# Autograding runs the learner's code only inside the bubblewrap sandbox, and judges it outside
# (gru_ref/grading/nbgrader_steps.py): SandboxedExecute takes the place of nbgrader's Execute, and
# FlagForReview marks submissions the integrity scan flagged as needing manual review; ForgetScanFlag, on a
# regrade, takes back what an earlier scan flagged (never a flag a grader set by hand).
# RefuseUnsafeStudentId keeps a folder name the formgrader would show unescaped out of the gradebook.
# RestoreTestCells puts back the released test cells a learner deleted, edited, duplicated or moved.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute, SaveAutoGrades  # noqa: E402

from gru_ref.grading.nbgrader_steps import (FlagForReview, ForgetScanFlag, RefuseUnsafeStudentId,  # noqa: E402
                                            SandboxedExecute)
from gru_ref.grading.restore_tests import with_restore  # noqa: E402

_steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
_steps[_steps.index(Execute)] = SandboxedExecute
_steps.insert(_steps.index(SaveAutoGrades), ForgetScanFlag)
_steps.insert(_steps.index(SaveAutoGrades) + 1, FlagForReview)
c.Autograde.autograde_preprocessors = _steps
c.Autograde.sanitize_preprocessors = [RefuseUnsafeStudentId,
                                      *with_restore(Autograde.class_traits()["sanitize_preprocessors"].default())]

# A feedback page is one file that opens anywhere: its maths is MathML, written when the page is made,
# and the integrity scan's comment stays the instructor's (gru_ref/grading/feedback_html.py). Our template
# folder, searched before nbgrader's, holds only what the pages' heads load (no MathJax: nothing loads).
import nbgrader  # noqa: E402
from nbgrader.converters import GenerateFeedback  # noqa: E402

from gru_ref.grading.comments import GroupComments  # noqa: E402
from gru_ref.grading.feedback_html import HideIntegrityFlags, MathToMathML  # noqa: E402
from gru_ref.grading.nbgrader_steps import FEEDBACK_TEMPLATES  # noqa: E402

# GroupComments: the instructor's comment per mistake group (reports/ID/comments.yml) under the test cell.
c.GenerateFeedback.preprocessors = [*GenerateFeedback.class_traits()["preprocessors"].default(),
                                    GroupComments, HideIntegrityFlags, MathToMathML]
c.HTMLExporter.extra_template_basedirs = [
    FEEDBACK_TEMPLATES, os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")]

# The way in from Canvas or Moodle and back (gru_ref/grading/lms.py): `nbgrader zip_collect` reads either
# LMS's download of the submissions, and `nbgrader export` leaves the score of a learner without a
# recorded submission blank (never 0), as reports/ID/grades.csv and the LMS upload files do.
from gru_ref.grading.lms import CsvExport, LmsFileNames, LmsZipExtractor  # noqa: E402

c.ZipCollectApp.collector_plugin = LmsFileNames
c.ZipCollectApp.extractor_plugin = LmsZipExtractor  # the LMS's zip only, bounded: never a learner's archive
c.ExportApp.plugin_class = CsvExport

# Due dates and late penalties are nbgrader's own: set a due date with
#   nbgrader db assignment add gru --duedate="2026-12-18 17:00:00 UTC"
# and a submission whose timestamp.txt is later loses what the plugin says (nbgrader's LateSubmissionPlugin:
# "none", the default, or "zero"; a class of your own for anything else, see nbgrader's docs):
# c.LateSubmissionPlugin.penalty_method = "zero"
