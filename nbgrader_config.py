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

# nbgrader's default per cell. Each check bounds the learner's function to 10 s, so a test cell
# (at most one visible and one hidden check) stays well under it.
c.Execute.timeout = 30

# Re-check every gru_ref verdict outside the learner's kernel, right after nbgrader executes the
# notebook and before it records the grades (see gru_ref/nbgrader_guard.py).
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402

from gru_ref.nbgrader_guard import RecheckVerdicts  # noqa: E402

_steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
c.Autograde.autograde_preprocessors = _steps[:_steps.index(Execute) + 1] + [RecheckVerdicts] + \
    _steps[_steps.index(Execute) + 1:]
