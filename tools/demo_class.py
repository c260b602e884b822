"""A demo class in one command (`make demo`): builds a course in _build/demo_class/ whose submitted/
holds the class of 45 kinds of submission that tests/test_class_of_45.py grades (tests/class_of_45.py:
right answers, every named mistake, gradient slips, built-in GRUs, hangs, crashes, floods, tampered
test cells, renamed and doubled notebooks, a malformed file, an empty folder, a forged result file,
shadow packages, a notebook writing outside its folder, a late submission under a due date); grades
it with `python -m gru_ref.grade` (the report's mistake groups and a row per learner, comments.yml);
writes the similarity report (`python -m gru_ref.similarity`); prints where both are.
"""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from class_of_45 import ASSIGNMENT, KINDS, make_course  # noqa: E402

COURSE = ROOT / "_build" / "demo_class"


def nbgrader(args, cwd):
    return subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=cwd, capture_output=True,
                          text=True)


def main():
    if COURSE.exists():
        shutil.rmtree(COURSE)
    make_course(COURSE, nbgrader)
    print(f"A demo class of {len(KINDS)} submission folders in {COURSE}; grading it:", flush=True)
    graded = subprocess.run([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT], cwd=COURSE).returncode
    return graded or subprocess.run([sys.executable, "-m", "gru_ref.similarity", ASSIGNMENT], cwd=COURSE).returncode


if __name__ == "__main__":
    sys.exit(main())
