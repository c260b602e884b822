"""Learner side of the grading guard: re-run a submitted notebook's own code in a fresh process.

`python -m gru_ref.replay CELLS.json CELL_TIMEOUT` loads the learner's code cells (the grade cells
left out) and serves requests on stdin, one JSON line each:
{"cells_before": N, "function", "cases", "results", "timeout"}. It first runs the learner's cells up
to the N-th, so each test sees the notebook's state at that test, as in the notebook itself; then it
runs the function on the cases in a forked child with a time limit (gru_ref.sandbox) and answers one
JSON status line. This process never decides anything: the guard's judge does.
"""
import json
import os
import signal
import sys

from gru_ref import sandbox  # first, so its references are taken before any learner code runs


class CellTimeout(Exception):
    pass


class Notebook:
    """The learner's cells, run in order on demand, like Jupyter runs them: a cell that errs or runs
    out of time is left behind, as nbgrader leaves it behind, and the next one runs."""

    def __init__(self, cells, cell_timeout_s):
        from IPython.core.interactiveshell import InteractiveShell
        self.cells, self.cell_timeout_s, self.done = cells, cell_timeout_s, 0
        self.shell = InteractiveShell.instance()
        signal.signal(signal.SIGALRM, self._on_alarm)

    def _on_alarm(self, signum, frame):
        raise CellTimeout(f"cell did not finish within {self.cell_timeout_s:g} s")

    def run_until(self, count):
        for source in self.cells[self.done:count]:
            signal.setitimer(signal.ITIMER_REAL, self.cell_timeout_s)
            try:
                self.shell.run_cell(source, store_history=False, silent=True)
            except CellTimeout:
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        self.done = max(self.done, count)
        return self.shell.user_ns


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        cells = json.load(f)
    sandbox.disable_builtin_grus()  # before any learner code: nothing here may run a built-in GRU
    out = os.fdopen(os.dup(1), "w", buffering=1)  # our channel; the learner's prints go to stderr
    os.dup2(2, 1)
    notebook = Notebook(cells, float(argv[1]))
    out.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        fn = notebook.run_until(request["cells_before"]).get(request["function"])
        if not callable(fn):
            status = {"missing": True}
        else:
            status = sandbox.run(fn, request["cases"], request["results"], request["timeout"])
        out.write(json.dumps(status) + "\n")


if __name__ == "__main__":
    main()
