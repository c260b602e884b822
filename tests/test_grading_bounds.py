"""A grader that a notebook cannot slow or flood (issue 13, item 2): each attack the red team found,
graded through grade_notebook in a real box (as both grading commands do), or at the unit level
where the box has nothing to do with it.

Threads and files beyond the box's caps fail the cell that made them, naming the limit; a notebook
or cell too large is refused for that learner alone, before anything reads it; the integrity scan
runs in linear time and under limits of its own; output is kept up to a cap per notebook; each
assignment has its own wall-clock limit.
"""
import json

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from conftest import ROOT, fill
from learner_code import GRU_CELL, GRU_CELL_GRAD, MY_GRU_WITH_CELL
from gru_ref.learner import registry as assignments
from gru_ref.grading import integrity, scanner, scratch, submission

RELEASED = ROOT / "exercises" / "gru" / "gru.ipynb"
RIGHT = {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": GRU_CELL_GRAD}
FULL_TESTS = {"test_gru_cell", "test_my_gru_contract", "test_my_gru_values", "test_my_gru_gradients_devices",
              "test_gru_cell_grad"}


def notebook(*appended):
    """The right answers, then the attack's cells at the end (after every test cell)."""
    nb = fill(RELEASED, RIGHT)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in appended]
    return nb


@pytest.fixture(scope="module")
def box():
    from gru_ref.grading.box import Box
    box = Box()
    yield box
    box.close()


def graded(nb, box, **limits):
    result = submission.grade_notebook(nb, box, {"cell_timeout": 10, "deadline_s": 60, **limits})
    assert {t for t, v in result["tests"].items() if v["passed"]} == FULL_TESTS, result["tests"]
    return result


def last_output(result, nb, kind):
    outputs = result["outputs"][str(len(nb.cells) - 1)]
    return "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream") if kind == "stream" else \
        [o for o in outputs if o["output_type"] == "error"]


THREADS_FLOOD = '''
import threading
started, stop = 0, threading.Event()
try:
    while started < 4000:
        threading.Thread(target=stop.wait, daemon=True).start()
        started += 1
finally:
    print("threads started:", started)
'''

FILES_FLOOD = '''
made = 0
try:
    while made < 100_000:
        open(f"empty{made}", "w").close()
        made += 1
finally:
    print("files made:", made)
'''

CAPABILITIES = '''
print("capabilities:", sorted({line.split()[1] for line in open("/proc/self/status") if line.startswith("Cap")}))
'''


def test_a_threads_flood_fails_its_cell_at_the_boxs_cap_naming_it(box):
    nb = notebook(THREADS_FLOOD)
    result = graded(nb, box)
    started = int(last_output(result, nb, "stream").split("threads started:")[1])
    errors = last_output(result, nb, "error")
    assert started < submission.LIMITS["processes"], started
    assert errors and "256 processes and threads" in errors[0]["evalue"], errors


def test_a_files_flood_fails_its_cell_at_the_scratch_folders_file_cap_naming_it(box):
    nb = notebook(FILES_FLOOD)
    result = graded(nb, box)
    made = int(last_output(result, nb, "stream").split("files made:")[1])
    errors = last_output(result, nb, "error")
    (_, _, files, _), _ = scratch.FOLDERS
    assert made < files, made
    assert errors and "No space left" in errors[0]["evalue"] and f"{files:,} files" in errors[0]["evalue"], errors
    assert result["end"]["clean"], result["end"]  # the template emptied the scratch folder after it


def test_the_learners_code_holds_no_capability(box):
    nb = notebook(CAPABILITIES)
    assert last_output(graded(nb, box), nb, "stream").strip() == "capabilities: ['0000000000000000']"


def test_output_is_kept_up_to_a_cap_per_notebook_not_only_per_cell(box):
    """500 cells of 64 KB each made 32 MB of each artifact; now 1 MB is kept over all cells."""
    cells = ['print("x" * 65_536)'] * 60
    nb = notebook(*cells)
    result = graded(nb, box)
    kept = sum(len(o.get("text", "")) for outputs in result["outputs"].values() for o in outputs)
    cap = submission.LIMITS["notebook_output_kb"] << 10
    assert cap <= kept < cap + 60 * 200, kept  # the cap, and a one-line note per cell after it
    assert "KB of output per notebook" in last_output(result, nb, "stream")
    written = nbformat.writes(submission.apply(nb, result))
    assert len(written) < 2 * cap, len(written)


def test_the_cap_holds_outside_the_box_whatever_the_box_sends():
    events = [{"type": "cell", "index": n, "stdout": "y" * 70_000, "stderr": "", "error": None} for n in range(100)]
    cells = submission._cell_events(events, 100)
    kept = sum(len(c["stdout"]) for c in cells.values())
    assert kept < (submission.LIMITS["notebook_output_kb"] << 10) + 100 * 200, kept


def test_a_notebook_whose_every_cell_sleeps_stops_at_its_deadline(box):
    nb = notebook(*["import time\ntime.sleep(30)"] * 20)
    result = submission.grade_notebook(nb, box, {"cell_timeout": 1, "deadline_s": 4})
    assert result["end"]["timed_out"], result["end"]
    first = len(nb.cells) - 20
    stopped = [result["outputs"][str(i)][0]["evalue"] for i in range(first, len(nb.cells))
               if result["outputs"][str(i)] and result["outputs"][str(i)][0]["ename"] in ("CellStopped", "NotRun")]
    assert len(stopped) >= 15, stopped  # 4 s: a few cells of 1 s, then nothing more ran
    assert "ran past its 4 s limit" in stopped[0], stopped[0]


class NoBox:
    """A box that must not be used, or that records the job it was given."""

    def __init__(self, run=False):
        self.jobs, self.allowed = [], run

    def run(self, job, cases):
        assert self.allowed, "the box ran a notebook that should have been refused"
        self.jobs.append(job)
        return [], {"started": True, "completed": True, "exit_code": 0}


@pytest.mark.parametrize("shape", ["one huge cell", "many large cells"])
def test_a_notebook_too_large_is_refused_for_that_learner_alone_before_anything_reads_it(shape):
    if shape == "one huge cell":
        nb = notebook("x = [" + "1, " * 1_000_000 + "]")  # 3 MB: 92 s and 2.4 GB in the scan alone, before
    else:
        nb = notebook(*["# " + "y" * 99_000] * 11)
    result = submission.grade_notebook(nb, NoBox())
    assert result["too_large"] and not result["flags"]
    assert set(result["tests"]) == FULL_TESTS and not any(v["passed"] for v in result["tests"].values())
    message = result["tests"]["test_gru_cell"]["message"]
    assert "not graded: it is too large" in message and "grading takes at most" in message, message
    if shape == "one huge cell":
        assert result["outputs"][str(len(nb.cells) - 1)][0]["ename"] == "TooLarge"
    json.dumps(result)  # it is stored as any other result
    submission.apply(nb, result)  # and written into the notebook, where nbgrader scores it 0


def test_each_assignment_has_its_own_wall_clock_limit_and_an_override_wins():
    for name in assignments.NOTEBOOK_TIME_LIMITS_S:
        nb = nbformat.read(ROOT / "exercises" / name / f"{name}.ipynb", as_version=4)
        box = NoBox(run=True)
        submission.grade_notebook(nb, box)
        assert box.jobs[0]["limits"]["deadline_s"] == assignments.NOTEBOOK_TIME_LIMITS_S[name], name
    box = NoBox(run=True)
    submission.grade_notebook(nbformat.read(RELEASED, as_version=4), box, {"deadline_s": 60})
    assert box.jobs[0]["limits"]["deadline_s"] == 60
    assert assignments.NOTEBOOK_TIME_LIMITS_S["train_gru"] > 3 * assignments.TIME_LIMITS_S["train_and_predict"]


def test_each_assignments_limit_is_documented():
    readme = (ROOT / "README.md").read_text()
    chapter = (ROOT / "book" / "08_instructors.md").read_text()
    for name, seconds in assignments.NOTEBOOK_TIME_LIMITS_S.items():
        assert f"`{name}`: {seconds} s" in readme and f"`{name}`: {seconds} s" in chapter, name


CELLS = ["%matplotlib inline\n!ls\n%pip install -q numpy\nimport torch", "%%time\nx = 1\n!ls",
         "if True:\n    !ls\n    x = !pwd\ns = '''\n!a\n'''\nprint(1)", "x?\ny = 1", "!echo '''\nimport ctypes\n'''",
         "a = %who_ls\nb = 2 % 3", "   !ls\n   x = 1", ">>> x = 1\n... y = 2\n>>> !ls", "In [1]: !ls\nIn [2]: x=1",
         "def f():\n    return 1\n!ls \\\n  more\nf()", "s = '''unterminated\n!ls", "x = (1,\n!ls\n)",
         "print('a' \\\n  'b')\n!ls", "%%bash\nls\n", "!!ls\nx=!!pwd", "%time x = [!a]"]


@pytest.mark.parametrize("cell", CELLS)
def test_the_scan_reads_a_cell_as_ipython_runs_it(cell):
    assert integrity.transform_linearly(cell) == TransformerManager().transform_cell(cell)


def test_many_shell_escapes_are_scanned_and_what_follows_them_is_flagged():
    """499 `!ls` lines in 65 KB cost IPython's transformer 224 s; 500 made it raise out of the scan."""
    cell = "\n".join(f"!ls /tmp/{'x' * 120}" for _ in range(2000)) + "\nimport ctypes\n"
    flags = scanner.Scanner().scan([(3, cell)])
    assert flags == [(3, 2001, "import ctypes", "imports ctypes: native memory access")], flags


def test_a_scan_past_its_limits_is_a_flag_for_review_not_a_hung_grader():
    cell = "\n".join("!ls " + "x" * 100 for _ in range(200_000))  # 20 MB: far past the caps, scanned anyway
    flags = scanner.Scanner({"cpu_s": 1}).scan([(0, cell)])
    assert len(flags) == 1 and "could not finish" in flags[0][3] and "1 s of CPU time" in flags[0][3], flags


def test_the_class_report_gives_a_notebook_too_large_its_own_status_and_note(tmp_path):
    """Through the class command: the learner's row says `too large` and why; nbgrader holds 0."""
    import csv
    import shutil
    import subprocess
    import sys
    from test_nbgrader import nbgrader
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions" / "gru", tmp_path / "solutions" / "gru")
    assert nbgrader(["generate_assignment", "gru", "--force"], tmp_path).returncode == 0
    folder = tmp_path / "submitted" / "big" / "gru"
    folder.mkdir(parents=True)
    nb = fill(tmp_path / "exercises" / "gru" / "gru.ipynb", RIGHT, "x = [" + "1, " * 1_000_000 + "]")
    nbformat.write(nb, folder / "gru.ipynb")
    done = subprocess.run([sys.executable, "-m", "gru_ref.grade", "gru", "--workers", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "reports" / "gru" / "grades.csv") as f:
        row = next(csv.DictReader(f))
    assert row["status"] == "too large" and "3,000,006 characters of code" in row["notes"], row
    assert "too large" in (tmp_path / "reports" / "gru" / "report.html").read_text()
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission("gru", "big").score == 0


def test_a_bound_this_machine_cannot_set_is_said_once_with_what_stands_in(capsys, monkeypatch):
    import os
    from gru_ref.grading import box as boxes
    monkeypatch.setattr(boxes, "_warned", set())
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    for _ in range(2):
        boxes.Box()._warn_weaker(files=False)  # as root, no pids cgroup made, no inode-limited scratch
    said = capsys.readouterr().err
    assert said.count("bounded only by its memory limit") == 1 and said.count("bounded in bytes, not in files") == 1
    boxes.Box()._warn_weaker(files=True)
    assert capsys.readouterr().err == ""


def test_precheck_reads_a_huge_or_choking_cell_without_a_traceback():
    from gru_ref.grading.precheck import _defined
    assert _defined("def my_gru(): pass") == {"my_gru"}
    assert _defined("x = " + "(" * 300_000) == set()  # over the cap: not parsed
    assert _defined("x = " + "[" * 5000 + "]" * 5000) == set()  # nested past the parser's limits


def test_a_box_gets_a_pids_cgroup_of_its_own_and_a_dead_graders_are_removed(tmp_path, monkeypatch):
    """On a cgroup v1 pids hierarchy (as here; simulated in a folder): the cap is written, the cgroup
    of a grading process that is gone is removed, a live one's is kept."""
    import os
    from gru_ref.grading import pids
    (tmp_path / "cgroup.procs").write_text("")
    dead, alive = tmp_path / "gru_ref-box-999999999-0", tmp_path / f"gru_ref-box-{os.getppid()}-0"
    dead.mkdir(), alive.mkdir()
    monkeypatch.setattr(pids, "ROOTS", (str(tmp_path),))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    path = pids.create(99)
    assert path and open(os.path.join(path, "pids.max")).read() == "99"
    assert not dead.exists() and alive.exists()
    assert pids.joined(["bwrap", "--x"], path)[-2:] == ["bwrap", "--x"]


def test_the_red_team_s_routes_to_native_code_and_the_grader_s_record_are_flagged():
    """Beside the box's refusals (gru_ref.grading.native_guard), the scan names the lines for review:
    NumPy's way to ctypes, an array over an address, the grader's record reached by name."""
    from gru_ref.grading import integrity
    cell = ("import numpy as np\nnative = np.ctypeslib.ctypes\nview = np.lib.stride_tricks.as_strided(x)\n"
            "import pkgutil\nbox = pkgutil.resolve_name('gru_ref.learner.sandbox')\nbox._TorchOps = object\n"
            "class A:\n    __array_interface__ = {}\n")
    flagged = {line for _, line, _, _ in integrity.scan([(0, cell)])}
    assert flagged >= {2, 3, 4, 5, 6}, flagged


def test_a_hanging_cell_costs_its_limit_once_when_a_later_check_ends_its_process(box):
    """my_gru calls os._exit in each of its 3 checks: each time a fresh process replays the cells
    before the check, without the cell that ran out of time (it ran once), then goes on."""
    from learner_code import ENDS_ITS_CHECK
    nb = fill(RELEASED, {**RIGHT, "my_gru": ENDS_ITS_CHECK["calls os._exit"]})
    at = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells].index("test_gru_cell")
    nb.cells.insert(at, nbformat.v4.new_code_cell("runs = globals().get('runs', 0) + 1\nwhile True:\n    pass"))
    nb.cells.append(nbformat.v4.new_code_cell("print('runs:', globals().get('runs'))"))
    result = submission.grade_notebook(nb, box, {"cell_timeout": 2, "deadline_s": 120})
    assert result["end"]["restarts"] == 3 and result["end"]["completed"], result["end"]
    assert result["tests"]["test_gru_cell_grad"]["passed"] and result["tests"]["test_gru_cell"]["passed"]
    assert not result["tests"]["test_my_gru_values"]["passed"]
    assert "ended abruptly (exit code 3)" in result["tests"]["test_my_gru_values"]["message"]
    assert "CellTimeout" in json.dumps(result["outputs"][str(at)])
    assert "runs: None" in last_output(result, nb, "stream")  # the replay left the hanging cell out
