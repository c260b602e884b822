"""Learner side of the grading guard: re-run a submitted notebook's own code in a fresh process.

`python -m gru_ref.replay CODE.json CELL_TIMEOUT` executes the learner's code cells (the grade cells left out),
then serves run requests on stdin: {"function", "cases", "results", "timeout"} -> one JSON status
line per request. Each run happens in a forked child with a time limit (gru_ref.sandbox), exactly
as in the notebook. This process never decides anything: the guard's judge does.
"""
import json
import os
import signal
import sys

from gru_ref import sandbox  # first, so its references are taken before any learner code runs


class CellTimeout(Exception):
    pass


def _execute(cells, cell_timeout_s):
    """Run each cell like Jupyter would; a cell that errs or runs out of time is left behind, as
    nbgrader leaves it behind, and the next one runs."""
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()

    def on_alarm(signum, frame):
        raise CellTimeout(f"cell did not finish within {cell_timeout_s:g} s")

    signal.signal(signal.SIGALRM, on_alarm)
    for source in cells:
        signal.setitimer(signal.ITIMER_REAL, cell_timeout_s)
        try:
            shell.run_cell(source, store_history=False, silent=True)
        except CellTimeout:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return shell.user_ns


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        cells = json.load(f)
    sandbox.disable_builtin_grus()  # before any learner code: nothing here may run a built-in GRU
    out = os.fdopen(os.dup(1), "w", buffering=1)  # our channel; the learner's prints go to stderr
    os.dup2(2, 1)
    namespace = _execute(cells, float(argv[1]))
    out.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        fn = namespace.get(request["function"])
        if not callable(fn):
            status = {"missing": True}
        else:
            status = sandbox.run(fn, request["cases"], request["results"], request["timeout"])
        out.write(json.dumps(status) + "\n")


if __name__ == "__main__":
    main()
