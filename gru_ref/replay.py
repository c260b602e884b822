"""Learner side of the grading guard: re-run a submitted notebook's own code in a fresh process.

`python -m gru_ref.replay CODE.json` executes the learner's code cells (the grade cells left out),
then serves run requests on stdin: {"function", "cases", "results", "timeout"} -> one JSON status
line per request. Each run happens in a forked child with a time limit (gru_ref.sandbox), exactly
as in the notebook. This process never decides anything: the guard's judge does.
"""
import json
import os
import sys

from gru_ref import sandbox  # first, so its references are taken before any learner code runs


def _execute(cells):
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    for source in cells:
        shell.run_cell(source, store_history=False, silent=True)
    return shell.user_ns


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0]) as f:
        cells = json.load(f)
    out = os.fdopen(os.dup(1), "w", buffering=1)  # our channel; the learner's prints go to stderr
    os.dup2(2, 1)
    namespace = _execute(cells)
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
