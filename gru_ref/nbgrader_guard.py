"""An nbgrader preprocessor that re-checks every gru_ref verdict outside the learner's kernel.

During `nbgrader autograde` the test cells run in the learner's kernel, where the learner's code
could have patched torch or gru_ref before the checks ran. After nbgrader's Execute step, this
preprocessor re-runs the learner's code cells in a fresh process (gru_ref.replay), runs each check's
cases there, and lets a judge in *this* process (nbgrader's, where no learner code ever ran) decide.
Its verdict replaces the cell's outputs, so it is the one SaveAutoGrades records.
"""
import ast
import json
import os
import subprocess
import sys
import tempfile
import time

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float

from gru_ref.check import RUN_TIMEOUT_S, read_int, read_line, wrap

CHECKS = {"check_my_gru": "my_gru", "check_gru_cell": "gru_cell"}


class RecheckVerdicts(NbGraderPreprocessor):
    cell_timeout = Float(30.0, help="Seconds allowed for each of the learner's code cells when they "
                                    "are re-run (nbgrader's own default per cell)").tag(config=True)

    def preprocess(self, nb, resources):
        graded = [(cell, find_checks(cell.source)) for cell in nb.cells
                  if cell.cell_type == "code" and _is_grade(cell)]
        graded = [(cell, calls) for cell, calls in graded if calls]
        if not graded:
            return nb, resources
        learner_code = [cell.source for cell in nb.cells if cell.cell_type == "code" and not _is_grade(cell)]
        cwd = resources.get("metadata", {}).get("path") or "."
        with Replay(learner_code, cwd, self.cell_timeout) as replay:
            for cell, calls in graded:
                verdict = None
                for task, function, parts in calls:
                    verdict = replay.verdict(task, function, parts)
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
    return nbformat.v4.new_output("error", ename="CheckFailed", evalue=f"{verdict['message']}\n{note}",
                                  traceback=[wrap(f"CheckFailed: {verdict['message']}") + f"\n{note}"])


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
        # A cell stuck in C code ignores the per-cell alarm: bound the whole replay as well.
        self.ready = self._read(self.cell_timeout_s * (len(self.cells) + 1)) is not None
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

    def verdict(self, task, function, parts):
        from gru_ref.judge import Judge, load_results  # torch: only when there is something to check
        import torch
        if not self.ready:
            return {"passed": False, "message": (
                "Your notebook's code could not be re-run to the end outside the notebook: a cell "
                "ended the Python process (exit(), os._exit(), a crash) or got stuck where it could not "
                "be interrupted. Make every cell finish quickly, and do not call exit().")}
        judge = Judge(task, parts, timeout_s=RUN_TIMEOUT_S)
        cases = os.path.join(self.workdir.name, f"cases-{time.monotonic_ns()}.pt")
        results = cases.replace("cases-", "results-")
        torch.save(judge.payload(), cases)
        self.process.stdin.write(json.dumps({"function": function, "cases": cases, "results": results,
                                             "timeout": RUN_TIMEOUT_S}) + "\n")
        self.process.stdin.flush()
        status = self._read(RUN_TIMEOUT_S + 30)
        if status is None:
            self.ready = False
            return {"passed": False, "message": f"The grader lost the process running {function}."}
        if status.get("missing"):
            return {"passed": False, "message": f"{function} is not defined: keep the name and signature "
                                                f"`def {function}(...)` in its answer cell."}
        status["progress"] = read_int(results + ".progress")
        try:
            loaded = load_results(results)
        except Exception:
            loaded = "unreadable"
        verdict = judge.rule(loaded, status)
        return {"passed": verdict.passed, "message": verdict.message}

