"""nbgrader preprocessors that keep grading honest and the batch going.

RecheckVerdicts re-checks every gru_ref verdict outside the learner's kernel.

During `nbgrader autograde` the test cells run in the learner's kernel, where the learner's code
could have patched torch or gru_ref before the checks ran. After nbgrader's Execute step, this
preprocessor re-runs the learner's code cells in a fresh process (gru_ref.replay), runs each check's
cases there, and lets a judge in *this* process (nbgrader's, where no learner code ever ran) decide.
Its verdict replaces the cell's outputs, so it is the one SaveAutoGrades records.

ExecuteSurvivingCrashes is nbgrader's Execute, except that a learner's cell that ends the kernel
(exit(), os._exit(), a crash) fails the cells after it instead of the whole submission.
"""
import ast
import json
import os
import subprocess
import sys
import tempfile
import time

import nbformat
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Float

from gru_ref.check import RUN_TIMEOUT_S, read_line, wrap

CHECKS = {"check_my_gru": "my_gru", "check_gru_cell": "gru_cell"}


class ExecuteSurvivingCrashes(Execute):
    def preprocess(self, nb, resources, km=None):
        self.died_at = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if self.died_at is not None:
            if cell.cell_type == "code":
                cell.outputs = [_error("KernelDied", "Not run: an earlier cell ended the Python process.")]
            return cell, self.resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self.died_at = index
            cell.outputs.append(_error("KernelDied", "This cell ended the Python process (exit(), "
                                                     "os._exit() or a crash), so the cells after it did not run."))
            return cell, self.resources


def _error(name, message):
    return nbformat.v4.new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


class RecheckVerdicts(NbGraderPreprocessor):
    cell_timeout = Float(30.0, help="Seconds allowed for each of the learner's code cells when they "
                                    "are re-run (nbgrader's own default per cell)").tag(config=True)

    def preprocess(self, nb, resources):
        learner_code, graded = [], []  # graded: (cell, checks, how many learner cells come before it)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            if not _is_grade(cell):
                learner_code.append(cell.source)
            elif calls := find_checks(cell.source):
                graded.append((cell, calls, len(learner_code)))
        if not graded:
            return nb, resources
        cwd = resources.get("metadata", {}).get("path") or "."
        with Replay(learner_code, cwd, self.cell_timeout) as replay:
            for cell, calls, cells_before in graded:
                for task, function, parts in calls:
                    verdict = replay.verdict(task, function, parts, cells_before)
                    if not verdict["passed"]:
                        break
                cell.outputs = [_as_output(verdict)]
                self.log.info("Re-checked %s: %s", cell.metadata.get("nbgrader", {}).get("grade_id"),
                              "passed" if verdict["passed"] else "failed")
        return nb, resources


def _is_grade(cell):
    return bool(cell.metadata.get("nbgrader", {}).get("grade"))


def find_checks(source):
    """[(task, function_name, parts)] for each gru_ref check called in a test cell, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CHECKS \
                and node.args and isinstance(node.args[0], ast.Name):
            parts = tuple(a.value for a in node.args[1:] if isinstance(a, ast.Constant)) or ("contract", "quick")
            calls.append((node.lineno, CHECKS[node.func.id], node.args[0].id, parts))
    return [call[1:] for call in sorted(calls)]


def _as_output(verdict):
    note = "(re-checked outside your notebook by the grader)"
    if verdict["passed"]:
        return nbformat.v4.new_output("stream", name="stdout", text=f"Passed: {verdict['message']} {note}\n")
    failed = _error("CheckFailed", f"{verdict['message']}\n{note}")
    failed.traceback = [wrap(f"CheckFailed: {verdict['message']}") + f"\n{note}"]
    return failed


LOST = {"passed": False, "message": (
    "Your notebook's code could not be re-run outside the notebook: a cell ended the Python process "
    "(exit(), os._exit(), a crash) or got stuck where it could not be interrupted. Make every cell "
    "finish quickly, and do not call exit().")}


class Replay:
    """A fresh process running the learner's code cells, answering run requests."""

    def __init__(self, cells, cwd, cell_timeout_s):
        self.cells, self.cwd, self.cell_timeout_s = cells, cwd, cell_timeout_s

    def __enter__(self):
        self.workdir = tempfile.TemporaryDirectory(prefix="gru_ref_guard_")
        code_path = os.path.join(self.workdir.name, "cells.json")
        with open(code_path, "w") as f:
            json.dump(self.cells, f)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gru_ref.replay", code_path, str(self.cell_timeout_s)], cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        self.ready = self._read(60) is not None  # importing torch and IPython
        self.cells_run = 0
        return self

    def __exit__(self, *exc):
        try:
            os.killpg(self.process.pid, 9)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.workdir.cleanup()

    def _read(self, timeout_s):
        line = read_line(self.process, timeout_s)
        return json.loads(line) if line else None

    def verdict(self, task, function, parts, cells_before):
        from gru_ref.judge import Judge, rule_on_file  # torch: only when there is something to check
        import torch
        if not self.ready:
            return LOST
        judge = Judge(task, parts, timeout_s=RUN_TIMEOUT_S)
        cases = os.path.join(self.workdir.name, f"cases-{time.monotonic_ns()}.pt")
        results = cases.replace("cases-", "results-")
        torch.save(judge.payload(), cases)
        self.process.stdin.write(json.dumps({"cells_before": cells_before, "function": function,
                                             "cases": cases, "results": results,
                                             "timeout": RUN_TIMEOUT_S}) + "\n")
        self.process.stdin.flush()
        # Each cell still to run has its own alarm; a cell stuck in C code ignores it: bound it all.
        new_cells = max(0, cells_before - self.cells_run)
        status = self._read(self.cell_timeout_s * new_cells + RUN_TIMEOUT_S + 30)
        self.cells_run = max(self.cells_run, cells_before)
        if status is None:
            self.ready = False
            return LOST
        if status.get("missing"):
            return {"passed": False, "message": f"{function} is not defined: keep the name and signature "
                                                f"`def {function}(...)` in its answer cell."}
        verdict = rule_on_file(judge, results, status)
        return {"passed": verdict.passed, "message": verdict.message}

