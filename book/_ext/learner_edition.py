"""The learners' edition: everything a learner needs, served from the site itself, and nothing else.

After each HTML build it writes into _build/html/_static/learners/:
  gru_ref-<version>-py3-none-any.whl   the learner-side checker: the checks and their judge (the
                                       truth comes from torch.nn), without the reference equations,
                                       the code of the known mistakes (a whole answer: the wheel
                                       holds tables of their outputs on fixed cases instead,
                                       gru_ref/judge/mistake_table.st and
                                       shape_mistake_table.json), the grading machinery or the
                                       instructors' tools
  <assignment>.ipynb                   every released exercise notebook (exercises/)
so that a notebook's install line (`pip install "gru_ref @ <site>/_static/learners/<wheel>"`) and
its download point at the site, and the instructors' repository, with solutions/, can stay private.

Also a command: `python book/_ext/learner_edition.py OUTDIR`.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = Path("_static") / "learners"
# What a learner's checks need of gru_ref: its __init__ and these folders, whole (the learner's side, and
# the judge with its assignments, which their checker runs in a process of its own). Never reference/
# (the answers, the mistakes' code) nor grading/ (the instructors' tools): tests/test_layout.py.
LEARNER_FOLDERS = ("learner", "judge", "assignments")
# Data, made from the instructors' copy when the wheel is built: the known mistakes' outputs on fixed
# cases (the recurrent tasks' as tensors, the shapes tasks' as JSON), which the learners' checker names
# a mistake by (gru_ref.judge.mistake_table).
MISTAKE_TABLES = ("judge/mistake_table.st", "judge/shape_mistake_table.json")


def learner_files(root=ROOT):
    """The wheel's files, as paths inside gru_ref/."""
    package = root / "gru_ref"
    return sorted(["__init__.py"] + [path.relative_to(package).as_posix() for folder in LEARNER_FOLDERS
                                     for path in (package / folder).rglob("*.py")])


def write_mistake_tables(paths, root=ROOT):
    """The tables, computed by root's gru_ref (with its reference/) in a process of its own."""
    subprocess.run([sys.executable, "-m", "gru_ref.judge.mistake_table", *map(str, paths)], check=True, cwd=root,
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"})


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
        for name in learner_files(root):
            (stage / "gru_ref" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "gru_ref" / name, stage / "gru_ref" / name)
        write_mistake_tables([stage / "gru_ref" / name for name in MISTAKE_TABLES], root)
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

[tool.setuptools.packages.find]
include = ["gru_ref*"]

[tool.setuptools.package-data]
"gru_ref.judge" = ["mistake_table.st", "shape_mistake_table.json"]
"""


def on_build_finished(app, exception):
    if exception is None and app.builder.format == "html":
        build(app.outdir)


if __name__ == "__main__":
    print(build(sys.argv[1]))
