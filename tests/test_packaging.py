"""`pip install .` of the course installs all of gru_ref, grading's templates and files included, and
the grading box finds the gru_ref that the grader imported, wherever that one is installed: a wheel
installed into a folder of its own (as site-packages would hold it), an editable install of another
folder, or the course's copy on sys.path (where nbgrader's current folder puts it)."""
import json
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from conftest import ROOT

PACKAGE = ROOT / "gru_ref"
NOT_PYTHON = ("grading/formgrader_escape.json", "grading/feedback_template/feedback/mathjax.html.j2",
              "grading/feedback_template/feedback/written_answers.css.j2")


def copy_of_the_course(folder):
    """What `pip install .` reads of the course, copied: building in the checkout would leave build/ there."""
    folder.mkdir(exist_ok=True)
    shutil.copy(ROOT / "pyproject.toml", folder)
    shutil.copytree(PACKAGE, folder / "gru_ref", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return folder


def pip(*args, timeout=300):
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    source = copy_of_the_course(tmp_path_factory.mktemp("course_copy"))
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", str(source), "-w", str(out))
    (path,) = out.glob("*.whl")
    return path


def test_the_wheel_holds_all_of_gru_ref_with_grading_and_its_templates(wheel):
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name.removeprefix("gru_ref/") for name in archive.namelist() if name.startswith("gru_ref/")}
    ours = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}
    assert ours - shipped == set()  # every module of every side, grading's included, and its other files
    assert set(NOT_PYTHON) <= shipped


# Grades the gru solution in the box with the gru_ref found at `where`: the judge outside is that
# gru_ref's too. Prints the folder it imported gru_ref from and how many test cells passed.
GRADE = r"""
import json, os, sys
import nbformat
import gru_ref
from gru_ref.grading.box import Box
from gru_ref.grading.submission import grade_notebook
nb = nbformat.read(sys.argv[1], as_version=4)
box = Box()
try:
    result = grade_notebook(nb, box)
finally:
    box.close()
print(json.dumps({"package": os.path.dirname(gru_ref.__file__),
                  "passed": [k for k, v in result["tests"].items() if v["passed"]],
                  "failed": {k: v["message"][:300] for k, v in result["tests"].items() if not v["passed"]}}))
"""


def graded_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata.nbgrader.get("solution")]


def _installed(kind, tmp_path, wheel):
    """(the code that makes `import gru_ref` find it, the folder gru_ref must come from, the cwd)."""
    if kind == "wheel":  # a non-editable install, in a folder of its own
        target = tmp_path / "site"
        pip("install", "--no-deps", "--no-index", "--target", str(target), str(wheel))
        return f"import sys; sys.path.insert(0, {str(target)!r})", target / "gru_ref", tmp_path
    if kind == "editable":  # an editable install of another folder: its .pth hook, as site-packages runs it
        source, target = copy_of_the_course(tmp_path / "checkout"), tmp_path / "site"
        pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(target), "-e", str(source))
        # This environment's own editable install (of this checkout) goes first: its hook has the same name.
        return (f"import site, sys\n"
                f"sys.meta_path[:] = [f for f in sys.meta_path if not f.__module__.startswith('__editable__')]\n"
                f"[sys.modules.pop(m) for m in list(sys.modules) if m.startswith('__editable__')]\n"
                f"sys.path.insert(0, {str(target)!r}); site.addsitedir({str(target)!r})"), source / "gru_ref", tmp_path
    course = copy_of_the_course(tmp_path / "course")  # the course's copy, on sys.path as the current folder
    return "import sys; sys.path.insert(0, '')", course / "gru_ref", course


@pytest.mark.parametrize("kind", ["wheel", "editable", "course_copy"])
def test_the_box_finds_the_gru_ref_that_grading_imported(kind, tmp_path, wheel):
    setup, package, cwd = _installed(kind, tmp_path, wheel)
    # -I: neither PYTHONPATH nor this checkout's folder; site-packages still holds this checkout's editable install.
    done = subprocess.run([sys.executable, "-I", "-c", f"{setup}\n{GRADE}", str(ROOT / "solutions" / "gru" / "gru.ipynb")],
                          capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["package"] == str(package)  # not this checkout's copy
    assert not seen["failed"] and seen["passed"] == graded_cells(ROOT / "solutions" / "gru" / "gru.ipynb"), seen
