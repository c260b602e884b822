"""The learners' edition: everything a learner needs, served from the site itself, and nothing else.

After each HTML build it writes into _build/html/_static/learners/:
  gru_ref-<version>-py3-none-any.whl   the learner-side checker: the checks and their judge (the
                                       truth comes from torch.nn), without the reference equations,
                                       the grading machinery or the instructors' tools
  <assignment>.ipynb                   every released exercise notebook (exercises/)
so that a notebook's install line (`pip install "gru_ref @ <site>/_static/learners/<wheel>"`) and
its download point at the site, and the instructors' repository, with solutions/, can stay private.

Also a command: `python book/_ext/learner_edition.py OUTDIR`.
"""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = Path("_static") / "learners"
# The modules a learner's checks import; everything else of gru_ref stays with the instructors.
LEARNER_MODULES = ("__init__.py", "assignments.py", "check.py", "sandbox.py", "results.py", "tensorfile.py",
                   "text.py", "judge.py", "tasks.py", "diagnose.py", "mistakes.py", "train_task.py",
                   "shape_tasks.py", "shape_answers.py", "shape_diagnose.py")  # not shape_mistakes.py: answers


def version(root=ROOT):
    return re.search(r'^version = "([^"]+)"', (root / "pyproject.toml").read_text(), re.M)[1]


def wheel_name(root=ROOT):
    return f"gru_ref-{version(root)}-py3-none-any.whl"


def build(outdir, root=ROOT):
    """Write the learners' edition into outdir/_static/learners/; returns that folder."""
    target = Path(outdir) / FOLDER
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="learner_edition_") as stage:
        stage = Path(stage)
        (stage / "gru_ref").mkdir()
        for name in LEARNER_MODULES:
            shutil.copy(root / "gru_ref" / name, stage / "gru_ref" / name)
        (stage / "pyproject.toml").write_text(PYPROJECT.format(version=version(root)))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--wheel-dir", str(target), str(stage)], check=True, capture_output=True)
    for notebook in sorted((root / "exercises").glob("*/*.ipynb")):
        shutil.copy(notebook, target / notebook.name)
    return target


PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "gru_ref"
version = "{version}"
description = "The checker of the GRU course's exercises, for learners"
requires-python = ">=3.10"
dependencies = ["torch"]

[tool.setuptools]
packages = ["gru_ref"]
"""


def on_build_finished(app, exception):
    if exception is None and app.builder.format == "html":
        build(app.outdir)


if __name__ == "__main__":
    print(build(sys.argv[1]))
