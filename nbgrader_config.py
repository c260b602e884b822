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
# FlagForReview marks submissions the integrity scan flagged as needing manual review.
# RefuseUnsafeStudentId keeps a folder name the formgrader would show unescaped out of the gradebook.
# RestoreTestCells puts back the released test cells a learner deleted, edited, duplicated or moved.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute, SaveAutoGrades  # noqa: E402

from gru_ref.grading.nbgrader_steps import FlagForReview, RefuseUnsafeStudentId, SandboxedExecute  # noqa: E402
from gru_ref.grading.restore_tests import with_restore  # noqa: E402

_steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
_steps[_steps.index(Execute)] = SandboxedExecute
_steps.insert(_steps.index(SaveAutoGrades) + 1, FlagForReview)
c.Autograde.autograde_preprocessors = _steps
c.Autograde.sanitize_preprocessors = [RefuseUnsafeStudentId,
                                      *with_restore(Autograde.class_traits()["sanitize_preprocessors"].default())]

# Feedback pages render math offline: MathJax is written beside each page, and nbgrader's feedback
# template, searched after ours (which holds only mathjax.html.j2), loads it from there, not a CDN.
import nbgrader  # noqa: E402
from nbgrader.converters import GenerateFeedback  # noqa: E402

from gru_ref.grading.nbgrader_steps import FEEDBACK_TEMPLATES, OfflineMath  # noqa: E402

c.GenerateFeedback.preprocessors = list(GenerateFeedback.class_traits()["preprocessors"].default()) + [OfflineMath]
c.HTMLExporter.extra_template_basedirs = [
    FEEDBACK_TEMPLATES, os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")]
