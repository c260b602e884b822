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

# Two changes to nbgrader's autograde steps (see gru_ref/nbgrader_guard.py): a notebook whose code
# ends the kernel is still graded, and every gru_ref verdict is re-checked outside the learner's
# kernel right after execution, before SaveAutoGrades records the points.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402

from gru_ref.nbgrader_guard import ExecuteSurvivingCrashes, RecheckVerdicts  # noqa: E402

_steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
_at = _steps.index(Execute)
c.Autograde.autograde_preprocessors = _steps[:_at] + [ExecuteSurvivingCrashes, RecheckVerdicts] + _steps[_at + 1:]
c.ExecuteSurvivingCrashes.timeout = 30  # nbgrader's default per cell; each check stays far under it
