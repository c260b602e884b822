"""What the notebooks' test cells call. Each check:

1. asks a judge process (`python -I -m gru_ref.judge`, started fresh on the first check of the
   session and never running learner code) to draw random cases; it keeps the truth to itself;
2. runs the learner's function on those cases in a forked child with a time limit (gru_ref.learner.sandbox);
3. hands the child's results to the judge and raises CheckFailed (an AssertionError) with the
   judge's message.
"""
import json
import os
import select
import subprocess
import sys
import tempfile
import time

from gru_ref.learner import registry, sandbox
from gru_ref.learner.text import wrap

RUN_TIMEOUT_S = 10.0  # the learner's function, all cases of one check: far under nbgrader's 30 s
JUDGE_TIMEOUT_S = 60.0  # the judge's first answer includes importing torch on a busy machine


class _MessageOnly:
    """Jupyter shows the learner the message alone: our frames would only distract."""

    def _render_traceback_(self):  # IPython calls this instead of printing the traceback
        name = type(self).__name__
        text = wrap(f"{name}: {self}")
        return [f"\x1b[0;31m{name}\x1b[0m" + text[len(name):]]


class CheckFailed(_MessageOnly, AssertionError):
    """The learner's function failed a check."""


class GraderError(_MessageOnly, RuntimeError):
    """The grading machinery itself failed (not the learner's answer)."""


def _make_check(check_name, task, signature, module):
    def check(fn, *parts):
        _check(task, fn, parts)
    check.__name__ = check.__qualname__ = check_name
    check.__doc__ = (f"Check {signature} against {module}.\nParts: {', '.join(map(repr, registry.PARTS))} "
                     f"(default: {', '.join(map(repr, registry.DEFAULT_PARTS))}).")
    return check


# check_gru_cell, check_my_gru, check_my_rnn, ...: one per line of gru_ref.registry.CHECKS.
globals().update({name: _make_check(name, *spec) for name, spec in registry.CHECKS.items()})


def _check(task, fn, parts):
    if not callable(fn):
        raise CheckFailed(f"{task} is not a function (it is a {type(fn).__name__}). Run the cell "
                          f"that defines `def {task}(...)` first.")
    verdict = judge_function(task, fn, parts or registry.DEFAULT_PARTS)
    if not verdict["passed"]:
        raise CheckFailed(verdict["message"])
    print("Passed:", verdict["message"])


def time_limit_s(task):
    """Seconds fn may take on all cases of one check of this task."""
    return registry.TIME_LIMITS_S.get(task, RUN_TIMEOUT_S)


def judge_function(task, fn, parts, timeout_s=None):
    """Run fn on the judge's cases (fn in a child process) and return the judge's verdict dict."""
    timeout_s = timeout_s or time_limit_s(task)
    judge = _judge()
    with tempfile.TemporaryDirectory(prefix="gru_ref_") as workdir:
        reply = judge.ask({"task": task, "parts": list(parts), "dir": workdir, "timeout": timeout_s})
        if "error" in reply:
            raise GraderError(reply["error"])
        results_path = os.path.join(workdir, "results.st")
        status = sandbox.run(fn, reply["cases"], results_path, timeout_s)
        return judge.ask({"results": results_path, "status": status})


class JudgeProcess:
    """The judge as a long-lived child process, spoken to in JSON lines."""

    def __init__(self):
        self.process = subprocess.Popen([sys.executable, "-I", "-m", "gru_ref.judge"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())

    def alive(self):
        return self.process.poll() is None

    def ask(self, message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = read_line(self.process, JUDGE_TIMEOUT_S)
        if line is None:
            self.process.kill()
            stderr = self.process.stderr.read()[-2000:].strip()
            raise GraderError(f"The grader's judge process did not answer ({stderr or 'no message'}). "
                              f"Is gru_ref installed here (pip install -e . at the course root)?")
        return json.loads(line)


_JUDGE = None


def _judge():
    global _JUDGE
    if _JUDGE is None or not _JUDGE.alive():
        _JUDGE = JudgeProcess()
    return _JUDGE


def read_line(process, timeout_s):
    """One line of the process's stdout, or None if it ends or stays silent for timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if select.select([process.stdout], [], [], 0.1)[0]:
            return process.stdout.readline() or None
        if process.poll() is not None:
            return None
    return None
