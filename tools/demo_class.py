"""A demo class in one command (`make demo`): builds a course in _build/demo_class/ whose submitted/
holds right answers in several styles, every diagnosed mistake, a hang, a crash, a cheat, a copy of a
classmate's answer with its names changed, a corrupt file, a renamed file and an empty folder; grades
it with `python -m gru_ref.grade` (the report's mistake groups and a row per learner, comments.yml);
writes the similarity report (`python -m gru_ref.similarity`); prints where both are.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from learner_code import (CHEATS, GRU_CELL, GRU_CELL_GRAD, MISBEHAVING, MY_GRU_BATCHED, MY_GRU_FLOAT64_INSIDE,  # noqa: E402
                          MY_GRU_WITH_CELL, WRONG)

COURSE = ROOT / "_build" / "demo_class"
ASSIGNMENT = "gru"


def answers():
    right = {"loop_over_gru_cell": MY_GRU_WITH_CELL, "batched_projections": MY_GRU_BATCHED,
             "float64_inside": MY_GRU_FLOAT64_INSIDE}
    cohort = {name: {"gru_cell": GRU_CELL, "my_gru": source, "gru_cell_grad": GRU_CELL_GRAD}
              for name, source in right.items()}
    cohort.update({f"mistake_{name}": {"gru_cell": GRU_CELL, "my_gru": source} for name, source in WRONG.items()})
    cohort["hangs"] = {"gru_cell": GRU_CELL, "my_gru": MISBEHAVING["hangs"]}
    cohort["crashes"] = {"gru_cell": GRU_CELL, "my_gru": MISBEHAVING["exits the process"]}
    cohort["cheats_with_nn_gru"] = {"gru_cell": GRU_CELL, "my_gru": CHEATS["nn.GRU in a thread"]}
    cohort["untouched"] = {}
    copied = cohort["batched_projections"]  # names changed, a comment added: the similarity report pairs it
    renamed = {"gi": "x_proj", "gh": "h_proj", "out": "collected", "h": "state"}
    cohort["copies_a_classmate"] = {**copied, "my_gru": "# my own loop\n" + re.sub(
        r"\b(gi|gh|out|h)\b", lambda m: renamed[m.group(1)], copied["my_gru"])}
    return cohort


def main():
    if COURSE.exists():
        shutil.rmtree(COURSE)
    COURSE.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", COURSE)
    shutil.copytree(ROOT / "solutions", COURSE / "solutions")
    nbgrader = Path(sys.executable).parent / "nbgrader"
    subprocess.run([str(nbgrader), "generate_assignment", ASSIGNMENT, "--force"], cwd=COURSE, check=True,
                   capture_output=True)
    released = nbformat.read(COURSE / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for student, cells in answers().items():
        nb = nbformat.from_dict(released)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in cells:
                cell.source = cells[grade_id].strip("\n")
        folder = COURSE / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        name = f"{ASSIGNMENT} (1).ipynb" if student == "loop_over_gru_cell" else f"{ASSIGNMENT}.ipynb"
        nbformat.write(nb, folder / name)
    corrupt = COURSE / "submitted" / "corrupt_file" / ASSIGNMENT
    corrupt.mkdir(parents=True)
    (corrupt / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [ saved by a text editor')
    (COURSE / "submitted" / "empty_folder" / ASSIGNMENT).mkdir(parents=True)
    print(f"A demo class of {len(answers()) + 2} submission folders in {COURSE}; grading it:", flush=True)
    graded = subprocess.run([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT], cwd=COURSE).returncode
    return graded or subprocess.run([sys.executable, "-m", "gru_ref.similarity", ASSIGNMENT], cwd=COURSE).returncode


if __name__ == "__main__":
    sys.exit(main())
