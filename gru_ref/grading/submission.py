"""Trusted: grade one submitted notebook. Plan it, draw every check's cases, run the learner's code
in the box, and let the judge rule on the tensors that came back.

The result is plain data (JSON-ready): what each test cell's verdict is, what each learner cell
printed, the integrity flags, and how the box ended. `apply` writes it into the notebook as outputs,
which nbgrader's SaveAutoGrades then scores as usual.
"""
import re
import time

import nbformat

from gru_ref.learner.registry import TIME_LIMITS_S, notebook_time_limit_s
from gru_ref.grading import scanner
from gru_ref.grading.plan import is_test_cell, plan_notebook

LIMITS = {
    "cell_timeout": 30,  # s per learner cell, nbgrader's own default
    "check_timeout": 10,  # s for the learner's function on all cases of one check
    "deadline_s": None,  # s of wall-clock time for the whole notebook: its assignment's (gru_ref.learner.registry)
    "cpu_s": 240,  # s of CPU time for the whole notebook
    "memory_mb": 3072,  # MB the notebook may allocate
    "file_mb": 16,  # MB any file it writes may reach
    "processes": 256,  # processes and threads (RLIMIT_NPROC where it binds; the box's pids cgroup as root)
    "output_kb": 64,  # KB of prints kept per cell (the rest is counted, not kept)
    "notebook_output_kb": 1024,  # KB of prints and errors kept over all its cells
    "cell_chars": 100_000,  # characters of a cell's source; a notebook over these is not graded
    "notebook_chars": 1_000_000,  # characters of all its cells' sources together
}
SIGNALS = {
    "SIGXCPU": "it used more than {cpu_s} s of CPU time",
    "SIGKILL": "it was killed, most likely for using too much memory",
    "SIGSEGV": "native code crashed (ctypes, or a torch call on invalid memory)",
    "SIGABRT": "native code aborted",
}
NOTE = "(checked in the grading sandbox)"


def _voided(check):
    return {"passed": False, "message": f"{check.function} was not graded: the grader received its results twice, "
                                        f"once from the notebook's own code. Code that writes to the grader's channel "
                                        f"voids the check, and the notebook stops there."}


class SandboxSetupError(RuntimeError):
    """The sandbox failed before any learner code ran: no grade can be given."""


def grade_notebook(nb, box, limits=None, keys=None):
    """keys: {"learner", "shared"} (gru_ref.judge.secret.keys): the hidden checks' cases are drawn from the
    learner's key, the visible ones from the course's; None: every check's cases at random."""
    from gru_ref.judge import Judge, diagnosis_names  # torch: only where something is graded
    start = time.monotonic()
    limits = {**LIMITS, **{k: v for k, v in (limits or {}).items() if v is not None}}
    too_large = _too_large(nb, limits)
    if too_large:
        return _refused(nb, *too_large, start)
    plan = plan_notebook(nb)
    if limits["deadline_s"] is None:
        limits["deadline_s"] = notebook_time_limit_s([c.task for t in plan.tests for c in t.checks])
    learner_cells = [(i, s) for i, s in plan.code_cells if not _locked(nb.cells[i])]
    scan = scanner.shared()
    scan.submit(learner_cells)  # scanned in a process of its own, beside the box
    judges, cases, checkpoints = {}, [], {}
    for test in plan.tests:
        for k, check in enumerate(test.checks):
            check_id = f"{test.grade_id}/{k}"
            timeout = max(limits["check_timeout"], TIME_LIMITS_S.get(check.task, 0))  # train_gru trains
            judges[check_id] = _judge(Judge, check, check_id, timeout, keys)
            index, data = judges[check_id].payload()
            cases.append(data)
            checkpoints.setdefault(test.before_cell, []).append(
                {"id": check_id, "function": check.function, "index": index, "timeout": timeout})
    # CUDA maps far more address space than it uses: no address-space limit where a case needs it.
    limits["cuda"] = any(case.device == "cuda" for judge in judges.values() for case in judge.cases)
    job = {"cells": [source for _, source in plan.code_cells], "limits": limits,
           "checkpoints": [{"before_cell": n, "checks": c} for n, c in sorted(checkpoints.items())]}
    ran = time.monotonic()
    events, end = box.run(job, cases) if plan.code_cells or plan.tests else ([], {"exit_code": 0})
    judged = time.monotonic()
    if (plan.code_cells or plan.tests) and not end.get("started") and not end.get("box_failed"):
        raise SandboxSetupError(f"the grading sandbox could not set itself up for this notebook (exit code "
                                f"{end.get('exit_code')}, signal {end.get('signal')}): this is the grader's "
                                f"problem, not the learner's. Check that `python -m gru_ref.grading.bwrap` "
                                f"reports a working sandbox, then grade again.")
    flags = scan.result()
    cell_events = _cell_events(events, len(plan.code_cells), limits)
    results = {}
    for event in events:  # the first result per check: a later one is a forgery
        if event.get("type") == "result" and isinstance(event.get("check"), str) and event["check"] in judges:
            results.setdefault(event["check"], event)
    voided = end.get("voided") if end.get("voided") in judges else None  # a second result came (the box's template)
    results.pop(voided, None)
    ended = {}  # checks whose process ended in them: they failed alone, and the notebook went on
    for event in events:
        if event.get("type") == "check_ended" and event.get("check") in judges and event["check"] not in results:
            ended.setdefault(event["check"], event)
    stopped = _why_stopped(end, cell_events, plan, limits)
    died_in = _died_in_check(stopped, plan, {**results, **ended})
    if died_in:
        stopped["in_check"] = True
    tests = {}
    for test in plan.tests:
        verdicts = []
        for k, check in enumerate(test.checks):
            check_id = f"{test.grade_id}/{k}"
            verdicts.append(_voided(check) if check_id == voided else _verdict(
                judges[check_id], check, results.get(check_id), stopped,
                ended.get(check_id) or (end if check_id == died_in else None)))
            if not verdicts[-1]["passed"]:
                break
        tests[test.grade_id] = verdicts[-1] if verdicts and not verdicts[-1]["passed"] else {
            "passed": True, "message": " ".join(v["message"] for v in verdicts) or "this test cell checks nothing."}
    _blame_gru_cell(tests, plan)
    for verdict in tests.values():  # failures the judge never saw (not checked, missing, voided) are named too
        if not verdict["passed"] and not verdict.get("diagnosis"):
            verdict["diagnosis"] = diagnosis_names.name_of(verdict["message"])
    outputs = {str(i): _cell_outputs(cell_events.get(n), stopped, n, limits)
               for n, (i, _) in enumerate(plan.code_cells)}
    return {"tests": tests, "outputs": outputs, "test_cells": {t.grade_id: t.cell_index for t in plan.tests},
            "flags": flags, "end": {k: v for k, v in end.items() if k != "type"},
            "seconds": {"prepare": round(ran - start, 3), "run": round(judged - ran, 3),
                        "judge": round(time.monotonic() - judged, 3)}}


def _judge(Judge, check, check_id, timeout, keys):
    if not keys:
        return Judge(check.task, check.parts, timeout_s=timeout)
    from gru_ref.judge.secret import check_seed
    key = keys["learner"] if check.hidden else keys["shared"]
    return Judge(check.task, check.parts, seed=check_seed(key, check_id), timeout_s=timeout,
                 shared=not check.hidden, vary_sizes=check.hidden)


def _too_large(nb, limits):
    """(the cell index or None, why) if the notebook is too large to grade, else None. Nothing of it
    is read beyond its size: a 3 MB cell cost the scan 92 s and 2.4 GB."""
    total = 0
    for index, cell in enumerate(nb.cells):
        size = len(cell.get("source") or "")
        total += size
        if cell.get("cell_type") == "code" and size > limits["cell_chars"]:
            return index, (f"cell {index + 1} holds {size:,} characters of code; grading takes at most "
                           f"{limits['cell_chars']:,} per cell")
    if total > limits["notebook_chars"]:
        return None, (f"its cells hold {total:,} characters; grading takes at most {limits['notebook_chars']:,} "
                      f"per notebook")
    return None


def _refused(nb, cell_index, why, start):
    """The result of a notebook too large to grade: every test fails with the reason, nothing runs."""
    message = (f"This notebook was not graded: it is too large ({why}). Keep data and long outputs out of "
               f"its cells (load data from a file, print less), then submit it again.")
    test_cells = {cell.metadata["nbgrader"].get("grade_id", f"cell {i}"): i
                  for i, cell in enumerate(nb.cells) if is_test_cell(cell)}
    outputs = {str(cell_index): [_error("TooLarge", message)]} if cell_index is not None else {}
    return {"tests": {grade_id: {"passed": False, "message": message, "diagnosis": "too_large"}
                      for grade_id in test_cells},
            "outputs": outputs, "test_cells": test_cells, "flags": [], "too_large": why, "end": {},
            "seconds": {"prepare": round(time.monotonic() - start, 3), "run": 0, "judge": 0}}


def _locked(cell):
    return bool(cell.metadata.get("nbgrader", {}).get("locked"))


def _cell_events(events, count, limits=LIMITS):
    """Cell messages by index, each field checked: they come from inside the box. What is kept of
    their text is bounded per notebook too (500 cells of 64 KB made 32 MB of each artifact)."""
    cells, left = {}, limits["notebook_output_kb"] << 10
    for event in events:
        index = event.get("index")
        if event.get("type") != "cell" or type(index) is not int or not 0 <= index < count or index in cells:
            continue
        error = event.get("error")
        if not (isinstance(error, dict) and all(isinstance(error.get(k), str)
                                                for k in ("ename", "evalue", "traceback"))):
            error = None
        kept = {}
        for name in ("stdout", "stderr"):
            text = _text(event.get(name), 70_000)
            kept[name] = text[:max(left, 0)]
            left -= len(kept[name])
            if len(kept[name]) < len(text):
                kept[name] += (f"\n[... {len(text) - len(kept[name])} more characters of output not kept: grading "
                               f"keeps {limits['notebook_output_kb']} KB of output per notebook]\n")
        if error:
            error = {k: _text(error[k], 6000 if left > 0 else 300) for k in ("ename", "evalue", "traceback")}
            left -= sum(len(v) for v in error.values())
        cells[index] = {**kept, "error": error, "timed_out": event.get("timed_out") is True}
    return cells


def _text(value, limit):
    """Text from the box, cut to size, with anything that is not valid UTF-8 (lone surrogates) replaced."""
    if not isinstance(value, str):
        return ""
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


def _why_stopped(end, cell_events, plan, limits):
    """Where and why the notebook stopped early ({"cell": the learner cell it stopped in, or the
    number of cells if after the last, "why"}), or None if it ran to its end."""
    if end.get("completed"):
        return None
    at = max(cell_events, default=-1) + 1
    if isinstance(end.get("check_timed_out"), str):  # stopped from outside: its alarm had been switched off
        why = "a check ran past its time limit, and the grader stopped the notebook there"
    elif end.get("timed_out"):
        why = f"the notebook ran past its {limits['deadline_s']} s limit"
    elif end.get("protocol_error") or end.get("box_failed"):
        why = "its code interfered with the grader's channel"
    elif end.get("signal"):
        why = SIGNALS.get(end["signal"], "it was ended by signal {signal}").format(**limits, signal=end["signal"])
    else:
        code = end.get("exit_code")
        why = "a cell ended the Python process (exit(), os._exit() or a crash" + \
            (f"; exit code {code})" if code else ")")
    return {"cell": at, "why": why}


def _died_in_check(stopped, plan, results):
    """The check whose function was running when the process ended, if it ended in one."""
    if stopped is None:
        return None
    for test in plan.tests:
        if test.before_cell == stopped["cell"]:  # every cell before this test had finished
            for k in range(len(test.checks)):
                if f"{test.grade_id}/{k}" not in results:
                    return f"{test.grade_id}/{k}"
    return None


def _verdict(judge, check, result, stopped, ended_here=None):
    if result is None and ended_here is not None:  # the judge says how the function's process ended
        timed_out = ended_here.get("timed_out") is True or isinstance(ended_here.get("check_timed_out"), str)
        verdict = judge.rule(None, {"timed_out": timed_out,
                                    "exit_code": ended_here.get("exit_code"), "signal": ended_here.get("signal")})
        return _named(verdict)
    if result is None:
        why = stopped["why"] if stopped else "it never reached this test"
        return {"passed": False, "message": f"{check.function} was not checked: {why}. Make every cell "
                                            f"finish quickly, and do not end the process."}
    status = result.get("status") if isinstance(result.get("status"), dict) else {}
    status = {"timed_out": status.get("timed_out") is True, "missing": status.get("missing") is True,
              "progress": status.get("progress") if type(status.get("progress")) is int else 0}
    if status["missing"]:
        return {"passed": False, "message": f"{check.function} is not defined: keep the name and signature "
                                            f"`def {check.function}(...)` in its answer cell, and make sure "
                                            f"the cell runs without an error."}
    verdict = judge.rule_encoded(result.get("data"), result.get("descriptions"), status)
    return _named(verdict)


def _named(verdict):
    """A judge's verdict as plain data: a failure keeps its diagnosis (a stable name), the first
    diverging tensor and the wrong outputs' digest, for the class report's groups and similarity."""
    if verdict.passed:
        return {"passed": True, "message": verdict.message}
    return {"passed": False, "message": verdict.message, "diagnosis": verdict.diagnosis, "where": verdict.where,
            "signature": verdict.signature}


def _blame_gru_cell(tests, plan):
    """A one-line bug in gru_cell fails every my_gru test that calls it: say so where it shows."""
    failed_cell = any(not v["passed"] for t, v in tests.items()
                      if any(c.task == "gru_cell" for test in plan.tests if test.grade_id == t for c in test.checks))
    calls_cell = any(re.search(r"def\s+my_gru\b", s) and re.search(r"\bgru_cell\s*\(", s) for _, s in plan.code_cells)
    if not (failed_cell and calls_cell):
        return
    for test in plan.tests:
        verdict = tests[test.grade_id]
        if not verdict["passed"] and any(c.task == "my_gru" for c in test.checks):
            verdict["message"] += ("\nYour my_gru calls gru_cell, which failed its own test above: fix "
                                   "gru_cell first; my_gru may then pass as it is.")


def _cell_outputs(event, stopped, n, limits=LIMITS):
    if event is None:
        if stopped and stopped["cell"] == n and not stopped.get("in_check"):
            return [_error("CellStopped", f"This cell did not finish: {stopped['why']}.")]
        if stopped and n >= stopped["cell"]:
            return [_error("NotRun", "Not run: an earlier cell stopped the notebook.")]
        return []
    outputs = [nbformat.v4.new_output("stream", name=name, text=event[name])
               for name in ("stdout", "stderr") if event[name]]
    if event["timed_out"]:
        outputs.append(_error("CellTimeout", f"This cell did not finish in time (grading gives each cell "
                                             f"{limits['cell_timeout']} s), so it was stopped, and grading went on "
                                             f"with the next cell. Look for a loop that never ends, or work too "
                                             f"large for grading: put training runs and experiments only you "
                                             f"need to see under `if not os.environ.get(\"NBGRADER_EXECUTION\"):`, "
                                             f"which grading skips."))
    elif event["error"]:
        error = event["error"]
        outputs.append(nbformat.v4.new_output("error", ename=error["ename"], evalue=error["evalue"],
                                              traceback=[error["traceback"]]))
    return outputs


def _error(name, message):
    return nbformat.v4.new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def apply(nb, result):
    """Write a grading result into the notebook: learner cells' outputs, and each test cell's verdict
    as its output (a passing test prints, a failing one has an error, as SaveAutoGrades expects)."""
    from gru_ref.learner.text import wrap
    for index, outputs in result["outputs"].items():
        nb.cells[int(index)].outputs = [nbformat.from_dict(o) for o in outputs]
    for grade_id, cell_index in result["test_cells"].items():
        verdict = result["tests"][grade_id]
        if verdict["passed"]:
            output = nbformat.v4.new_output("stream", name="stdout",
                                            text=f"Passed: {verdict['message']} {NOTE}\n")
        else:
            output = _error("CheckFailed", f"{verdict['message']}\n{NOTE}")
            output.traceback = [wrap(f"CheckFailed: {verdict['message']}") + f"\n{NOTE}"]
        nb.cells[cell_index].outputs = [output]
    return nb
