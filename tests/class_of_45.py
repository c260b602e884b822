"""The class of 45 kinds of submission (issue 16, "Done means"), written once: `make demo`
(tools/demo_class.py) grades it, and tests/test_class_of_45.py grades it end to end and checks every
learner's grade against the one a careful person gives.

Each kind is a submission folder of the `gru` assignment: what it holds, and what a careful person
gives it: per test cell, full points or none (nbgrader scores a code test cell all or nothing), and
for every test cell that scores nothing the reason the class report must give (the diagnosis name in
reports/gru/mistake_groups.json; gru_ref.judge.diagnosis_names). A folder that is not graded has a
status and the note that says why instead.

The course has a due date (DUE) with nbgrader's "zero" late penalty: one learner's timestamp.txt is
after it; every other folder has no timestamp.txt, so it is on time.
"""
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from conftest import fill
from hostile_code import AUTOGRAD_GRAD, ATTACKS, EXTRA
from learner_code import (CHEATS, CONTRACT, ENDS_ITS_CHECK, GRU_CELL, GRU_CELL_GRAD, MISBEHAVING,
                          MY_GRU_WITH_CELL, WRONG, _cell_with)

ASSIGNMENT = "gru"
POINTS = {"test_gru_cell": 3, "test_my_gru_contract": 2, "test_my_gru_values": 4,
          "test_my_gru_gradients_devices": 3, "test_gru_cell_grad": 3}  # the source notebook's
FULL = sum(POINTS.values())
MY_GRU_TESTS = ("test_my_gru_contract", "test_my_gru_values", "test_my_gru_gradients_devices")
DUE = "2026-01-15 17:00:00 UTC"
LATE = "2026-01-16 09:30:00.000000 UTC"  # the late learner's timestamp.txt

RIGHT = {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": GRU_CELL_GRAD}


@dataclass
class Kind:
    student: str
    what: str  # the kind, in a careful person's words
    answers: dict = field(default_factory=lambda: dict(RIGHT))  # grade_id (or EXTRA) -> source
    lost: dict = field(default_factory=dict)  # test cell -> the diagnosis the report must give (None: any)
    status: str = "graded"  # the class report's; "flagged" is graded too
    notes: tuple = ()  # words the report's notes on this learner must hold
    name: str = f"{ASSIGNMENT}.ipynb"  # the notebook's file name
    files: dict = field(default_factory=dict)  # other files in the folder: relative path -> text
    edit: object = None  # edit(notebook) -> notebook: the learner's changes beyond the answer cells
    raw: str = None  # the notebook file's text, written as is (a malformed notebook)
    empty: bool = False  # the folder holds nothing
    late: bool = False

    @property
    def graded(self):
        return self.status in ("graded", "flagged")

    def scores(self):
        """{test cell: points} a careful person gives (None: not graded, a blank score)."""
        return {cell: None if not self.graded else 0.0 if cell in self.lost else float(points)
                for cell, points in POINTS.items()}

    def total(self):
        if not self.graded:
            return None
        return 0.0 if self.late else sum(self.scores().values())


def _mistake(name, **extra):
    return {**RIGHT, "my_gru": WRONG[name] if name in WRONG else EXTRA_WRONG[name], **extra}


EXTRA_WRONG = {  # the named forward mistakes learner_code.WRONG does not write
    "reset_gate_skips_b_hn": _cell_with('''
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * (h @ w_hh[2 * h.shape[1]:].T) + b_hh[2 * h.shape[1]:])
        h = (1 - z) * n + z * h'''),
    "gate_order_nzr": _cell_with('''
        i_n, i_z, i_r = i_r, i_z, i_n
        h_n, h_z, h_r = h_r, h_z, h_n
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h'''),
    "input_bias_missing": _cell_with('''
        i_r, i_z, i_n = (x @ w_ih.T).chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h'''),
}

GRAD_SLIPS = {  # the stretch part with one slip each
    "direct_path_missing": GRU_CELL_GRAD.replace("return grad_h_t * z + ", "return "),
    "update_sign_flipped": GRU_CELL_GRAD.replace("(h_prev - n)", "(n - h_prev)"),
}

# The book's time-major GRU (chapter 6), copied as it is and renamed: (T, B, F), not batch-first.
FROM_THE_BOOK = '''
def gru_recur(gi, h, w_hh, b_hh):
    H = h.shape[-1]
    gh = h @ w_hh.T + b_hh
    r, z = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H]).split(H, dim=1)
    n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return n + z * (h - n)


def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh, recur=gru_recur):
    gi_all = input @ w_ih.T + b_ih
    output = input.new_empty(input.shape[0], input.shape[1], initial_states.shape[-1])
    h = initial_states
    for t in range(input.shape[0]):
        h = recur(gi_all[t], h, w_hh, b_hh)
        output[t] = h
    return output, h
'''

WRITES_OUTSIDE = '''
import os
for path in ["{course}/gradebook.db", "{course}/submitted/solution/gru/gru.ipynb", "../../solution/gru/gru.ipynb",
             "/tmp/written_by_a_learner", os.path.expanduser("~/written_by_a_learner")]:
    try:
        with open(path, "a") as f:
            f.write("{}")
        print("wrote", path)
    except OSError as e:
        print("could not write", path, type(e).__name__)
'''

FORGED_RESULT = json.dumps({"tests": {cell: {"passed": True, "message": "Passed: all good"} for cell in POINTS},
                            "flags": [], "cells": {}})


def _cells(nb, grade_id):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]


def _deleted(nb):
    nb.cells = [c for c in nb.cells if c not in _cells(nb, "test_my_gru_values")]
    return nb


def _emptied(nb):
    _cells(nb, "test_gru_cell")[0].source = ""
    return nb


def _edited(nb):
    _cells(nb, "test_my_gru_contract")[0].source = "print('Passed: trust me')"
    return nb


def _duplicated(nb):
    cell = _cells(nb, "test_gru_cell_grad")[0]
    copy = nbformat.from_dict(json.loads(json.dumps(cell)))
    copy.id = f"{cell.id}-copy"  # Jupyter gives a pasted cell an id of its own
    nb.cells.insert(nb.cells.index(cell), copy)
    return nb


def _moved(nb):
    cell = _cells(nb, "test_my_gru_values")[0]
    nb.cells.remove(cell)
    nb.cells.insert(nb.cells.index(_cells(nb, "my_gru")[0]), cell)  # before the answer it checks
    return nb


def _all_lost(reason):
    return {cell: reason for cell in POINTS}


def _my_gru_lost(reason, values=None):
    return {"test_my_gru_contract": reason, "test_my_gru_values": values or reason,
            "test_my_gru_gradients_devices": values or reason}


def _forward_mistake(name):
    """A named mistake in my_gru, every other part right: its output is the right shape, so the
    contract holds; values, gradients and devices are wrong, and the values test names the mistake."""
    return Kind(f"mistake_{name}", f"my_gru with the mistake {name}", _mistake(name),
                lost={"test_my_gru_values": name, "test_my_gru_gradients_devices": None})


KINDS = [
    Kind("solution", "the solution"),
    Kind("blank", "the released notebook, untouched", {}, lost=_all_lost("not_attempted")),
    *[_forward_mistake(name) for name in (
        "reset_gate_missing", "reset_before_matmul", "reset_gate_skips_b_hn", "z_swapped", "r_z_order_swapped",
        "gate_order_nzr", "hidden_bias_missing", "input_bias_missing", "activations_swapped", "state_not_carried",
        "initial_state_ignored", "h_final_first_step")],
    *[Kind(f"slip_{name}", f"the stretch part (gru_cell_grad) with the slip {name}",
           {**RIGHT, "gru_cell_grad": source}, lost={"test_gru_cell_grad": name}) for name, source in GRAD_SLIPS.items()],
    Kind("float32_drop", "my_gru computes in float32 whatever it is given", {**RIGHT, "my_gru": CONTRACT["dtype float32"]},
         lost=_my_gru_lost("wrong_dtype", None)),
    Kind("wrong_shapes", "my_gru returns time-major outputs", {**RIGHT, "my_gru": CONTRACT["time-major"]},
         lost=_my_gru_lost("wrong_output_shape", None)),
    Kind("builtin_nn_gru", "my_gru calls nn.GRU", {**RIGHT, "my_gru": CHEATS["nn.GRU"]},
         lost=_my_gru_lost("builtin_kernel")),
    Kind("builtin_gru_cell", "my_gru loops over torch.gru_cell", {**RIGHT, "my_gru": CHEATS["nn.GRUCell in a loop"]},
         lost=_my_gru_lost("builtin_kernel"), status="flagged"),
    Kind("builtin_vf", "my_gru calls torch._VF.gru", {**RIGHT, "my_gru": CHEATS["torch._VF.gru"]},
         lost=_my_gru_lost("builtin_kernel"), status="flagged"),
    Kind("builtin_thread_cheat", "nn.GRU in a thread, the in-box lockdown undone (a determined cheat)",
         {**ATTACKS["undo_lockdown"], "gru_cell_grad": GRU_CELL_GRAD}, lost=_my_gru_lost("builtin_kernel"),
         status="flagged"),
    Kind("autograd_by_hand", "the by-hand gradient computed with autograd", {**RIGHT, "gru_cell_grad": AUTOGRAD_GRAD},
         lost={"test_gru_cell_grad": "autodiff_used"}),
    Kind("copied_from_book", "the book's time-major GRU, copied and renamed", {**RIGHT, "my_gru": FROM_THE_BOOK},
         lost=_my_gru_lost("raises")),  # its loop runs over B, writing (B, H) states into (B, T, H)
    Kind("hanging_cell", "a right answer and a cell of its own that never ends",
         {**RIGHT, EXTRA: ATTACKS["hanging_cell"][EXTRA]}),
    Kind("my_gru_hangs", "my_gru never returns; the stretch part right", {**RIGHT, "my_gru": MISBEHAVING["hangs"]},
         lost=_my_gru_lost("too_slow")),
    Kind("my_gru_grows_memory", "my_gru's list grows without end; the stretch part right",
         {**RIGHT, "my_gru": ENDS_ITS_CHECK["grows memory without end"]}, lost=_my_gru_lost("out_of_memory")),
    Kind("my_gru_os_exit", "my_gru calls os._exit; the stretch part right",
         {**RIGHT, "my_gru": ENDS_ITS_CHECK["calls os._exit"]}, lost=_my_gru_lost("process_ended"),
         status="flagged"),  # the scan shows os._exit to the instructor
    Kind("my_gru_segfaults", "my_gru segfaults; the stretch part right",
         {**RIGHT, "my_gru": ENDS_ITS_CHECK["segfaults"]}, lost=_my_gru_lost("process_ended")),
    Kind("output_flood", "a right answer and 200 MB of prints", {**RIGHT, EXTRA: ATTACKS["prints_flood"][EXTRA]}),
    Kind("test_deleted", "right answers, one test cell deleted", edit=_deleted,
         notes=("test_my_gru_values (deleted)",)),
    Kind("test_emptied", "right answers, one test cell emptied", edit=_emptied, notes=("test_gru_cell (",)),
    Kind("test_edited", "right answers, one test cell's check replaced by a print", edit=_edited,
         notes=("test_my_gru_contract (edited)",)),
    Kind("test_duplicated", "right answers, one test cell duplicated", edit=_duplicated,
         notes=("test_gru_cell_grad (duplicated)",)),
    Kind("test_moved", "right answers, a test cell moved above its answer", edit=_moved,
         notes=("test_my_gru_values (moved)",)),
    Kind("named_untitled", "right answers saved as Untitled.ipynb", name="Untitled.ipynb",
         notes=("name differs: 'Untitled.ipynb' graded",)),
    Kind("named_copy", "right answers saved as 'gru (1).ipynb'", name="gru (1).ipynb",
         notes=("name differs: 'gru (1).ipynb' graded",)),
    Kind("named_upper", "right answers saved as GRU.ipynb", name="GRU.ipynb", notes=("name differs: 'GRU.ipynb' graded",)),
    Kind("two_notebooks", "the blank release beside the work, saved as Untitled.ipynb", name="Untitled.ipynb",
         notes=("name differs: 'Untitled.ipynb' graded", "not graded: gru.ipynb (no answers)")),
    Kind("malformed", "a notebook that is not JSON", raw='{"cells": [ saved by a text editor', status="unreadable",
         notes=("not a readable notebook",)),
    Kind("empty_folder", "an empty submission folder", empty=True, status="missing", notes=("no notebook in the folder",)),
    Kind("forged_result", "the blank release, with a results file claiming full marks", {},
         lost=_all_lost("not_attempted"), files={"results.json": FORGED_RESULT,
                                                   f".gru_ref/{ASSIGNMENT}/results/forged.json": FORGED_RESULT},
         notes=("extra files never executed",)),
    Kind("shadow_packages", "right answers, with a gru_ref and a torch package of its own in the folder",
         files={"gru_ref/__init__.py": "def check_my_gru(*a): print('Passed')\ncheck_gru_cell = check_my_gru\n",
                "torch/__init__.py": "raise SystemExit('shadowed')\n"},
         notes=("extra files never executed",)),
    Kind("writes_outside", "right answers, and a cell that writes outside its folder",
         {**RIGHT, EXTRA: WRITES_OUTSIDE}, status="flagged"),
    Kind("late", "right answers, submitted after the due date (the course's penalty: zero)", late=True),
]
assert len(KINDS) == 45 and len({k.student for k in KINDS}) == 45, len(KINDS)
KIND = {k.student: k for k in KINDS}


def make_course(root, nbgrader):
    """The course, released, with the 45 folders in submitted/; nbgrader(args, cwd) runs nbgrader."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(_ROOT / "nbgrader_config.py", root)
    with open(root / "nbgrader_config.py", "a") as f:
        f.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    shutil.copytree(_ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    for args in (["generate_assignment", ASSIGNMENT, "--force"], ["db", "assignment", "add", ASSIGNMENT, f"--duedate={DUE}"]):
        done = nbgrader(args, root)
        assert done.returncode == 0, done.stderr[-2000:]
    released = root / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    for kind in KINDS:
        folder = root / "submitted" / kind.student / ASSIGNMENT
        folder.mkdir(parents=True)
        if kind.empty:
            continue
        path = folder / kind.name
        if kind.raw is not None:
            path.write_text(kind.raw)
        else:
            nb = fill(released, kind.answers, _resolve(kind.answers.get(EXTRA), root))
            nbformat.write(kind.edit(nb) if kind.edit else nb, path)
        if kind.student == "two_notebooks":
            shutil.copy(released, folder / f"{ASSIGNMENT}.ipynb")
            os.utime(folder / f"{ASSIGNMENT}.ipynb", (1_700_000_000, 1_700_000_000))  # the older one
        for relative, text in kind.files.items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text)
        if kind.late:  # nbgrader's collect writes it; the notebook last changed before it
            (folder / "timestamp.txt").write_text(LATE)
            when = 1_768_550_000  # 2026-01-16 08:53 UTC
            os.utime(path, (when, when))
    return root


def _resolve(text, course):
    return text and text.replace("{course}", str(course))


_ROOT = Path(__file__).resolve().parents[1]


def grade(root, *args, python, timeout=1500):
    return subprocess.run([python, "-m", "gru_ref.grade", ASSIGNMENT, *args], cwd=root, capture_output=True,
                          text=True, timeout=timeout)


def shown_kinds():
    """One line per kind, for the demo's list."""
    return [f"{k.student}: {k.what}" for k in KINDS]

