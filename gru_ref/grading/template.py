"""Inside the box: the warm template process. It imports torch once, then forks one child per
submission (gru_ref.grading.runner) and relays between it and the trusted grader outside.

It is the gatekeeper of the cases: a check's inputs reach the child only when the child's notebook
has reached that check, in order, once; so code in earlier cells never sees them. After each
submission it kills every process left in the box's PID namespace and empties the scratch folders,
so nothing of one submission meets the next. It never runs learner code itself, and it is not
dumpable: a learner's child can neither read nor write its memory. Before anything else it mounts the
writable folders bounded in files and drops every capability (gru_ref.grading.scratch).

Protocol with the grader, on stdin and stdout (gru_ref.grading.frames):
  <- {"type": "job", "job": {...}, "case_sizes": [n, ...]}, then one raw frame per check (its cases)
  -> the child's frames, checked for form and size: {"type": "cell"|"result", ...}, results
     followed by one raw frame (their tensors)
  -> {"type": "check_ended", "check", "exit_code", "signal", "timed_out"}: the child ended while that check
     ran, with no result; a fresh child replays the notebook up to it and goes on after it (run_job)
  -> {"type": "end", "started", "completed", "exit_code", "signal", "timed_out", "protocol_error", "voided",
      "check_timed_out", "restarts", "clean", "seconds"}: check_timed_out names the check stopped from here for running
     past its time limit; started is false when the child failed before any learner code; voided names the
     check whose result came twice (one written by the learner's code), which the grader then ignores
"""
import ctypes
import json
import os
import shutil
import signal
import socket
import sys
import time

from gru_ref.grading import frames

MAX_FRAME = 64 << 20  # bytes: one check's results, far above an honest answer's
MAX_TOTAL = 256 << 20  # bytes relayed for one submission
CHILD_TYPES = ("started", "cell", "result", "cases", "done")
# s beyond a check's own time limit before the child is stopped from here: the limit is an alarm inside
# the child, which the learner's code can switch off (SIGALRM ignored); this is the one it cannot.
CHECK_GRACE_S = 5
PR_SET_DUMPABLE = 4


BOXED = "--unboxed" not in sys.argv  # unboxed: a trusted run without bubblewrap (GRU_REF_NO_SANDBOX)


def main():
    files_bounded = False
    if BOXED:  # first of all: the capability that bubblewrap left for this goes before anything else runs
        from gru_ref.grading import scratch
        files_bounded = scratch.bound()
    to_grader, from_grader = os.dup(1), os.dup(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # stray prints of anything in here go nowhere, never into the protocol
    import torch  # noqa: F401  once, for every submission this box will grade
    import IPython.core.interactiveshell  # noqa: F401
    from gru_ref.learner import sandbox
    from gru_ref.grading import runner, seccomp
    sandbox.warm_up_meta()
    runner.warm_up()
    seccomp._library()  # loaded now, so the child need not find it
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    frames.send(to_grader, {"type": "ready", "pid": os.getpid(), "files_bounded": files_bounded})
    while True:
        try:
            request = frames.receive_json(from_grader, None, 64 << 20)
        except frames.FrameError:
            return  # the grader has gone: so does the box (--die-with-parent does the rest)
        cases = [frames.receive(from_grader, None, MAX_FRAME) for _ in request["case_sizes"]]
        end = run_job(request["job"], cases, to_grader, runner)
        frames.send(to_grader, end)


def run_job(job, cases, to_grader, runner):
    """Grade one notebook: fork a child for it and relay its messages. A child that ends while one of
    its checks runs (the function ended the process, crashed, ran past the check's limit with its
    alarm switched off, or a limit killed it) costs that check only: the grader is told how it ended
    ({"type": "check_ended"}), and a fresh child replays the cells before that check, silently and
    without the checks already done or the cells that ran out of time, then goes on after it."""
    start = time.monotonic()
    deadline = start + job["limits"]["deadline_s"]
    checks = [check for point in job["checkpoints"] for check in point["checks"]]
    state = {"relayed": 0, "next_check": 0, "next_cell": 0, "timed_out_cells": [], "restarts": 0}
    while True:
        end = _one_child(job, cases, checks, to_grader, runner, deadline, state)
        ended_in = end.pop("ended_in_check")
        if ended_in is None or end["timed_out"] or end["protocol_error"] or end["voided"]:
            break
        frames.send(to_grader, {"type": "check_ended", "check": ended_in, "exit_code": end["exit_code"],
                                "signal": end["signal"], "timed_out": end["check_timed_out"] == ended_in})
        state["restarts"] += 1
        clean_scratch()  # the replay starts from what the notebook's own cells write, as the first run did
    return {**end, "restarts": state["restarts"], "clean": clean_scratch(),
            "seconds": round(time.monotonic() - start, 3)}


def _one_child(job, cases, checks, to_grader, runner, deadline, state):
    """Fork one child for the notebook, from where the last one stopped (state), and relay until it
    ends; its end status, with ended_in_check: the check running when it ended without a result."""
    resume = {"replay_to": state["next_cell"], "skip_cells": list(state["timed_out_cells"]),
              "first_check": state["next_check"]}
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        parent.close()
        os.closerange(3, child.fileno())  # the grader's pipes: the child never holds them
        os.closerange(child.fileno() + 1, 1 << 16)
        os.setpgid(0, 0)
        runner.run({**job, "resume": resume}, child.fileno())  # never returns
        os._exit(70)
    child.close()
    protocol_error, timed_out, completed = None, False, False
    started, running, last_result, voided, check_deadline, overran = False, None, None, None, None, None
    check_ids = [check["id"] for check in checks]
    try:
        while True:
            message = frames.receive_json(parent.fileno(), min(deadline, check_deadline or deadline), 1 << 20)
            state["relayed"] += len(json.dumps(message))
            kind = message.get("type")
            if kind not in CHILD_TYPES:
                raise frames.FrameError(f"an unknown message {kind!r}")
            if kind == "started":
                started = True
                continue
            if not started:
                raise frames.FrameError("a message before the child had started")
            if kind == "done":
                completed = True
                break
            if kind == "cases":
                next_check = state["next_check"]
                if message.get("check") != next_check or next_check >= len(cases):
                    raise frames.FrameError("cases asked for out of turn")
                frames.send(parent.fileno(), cases[next_check], deadline)
                running = check_ids[next_check] if next_check < len(check_ids) else None
                if running is not None:
                    limit = checks[next_check].get("timeout", job["limits"]["check_timeout"])
                    check_deadline = time.monotonic() + limit + CHECK_GRACE_S
                state["next_check"] += 1
                continue
            if kind == "cell":  # one message per cell, in order: nothing else gets through
                if message.get("index") != state["next_cell"] or state["next_cell"] >= len(job["cells"]):
                    raise frames.FrameError("a cell reported out of turn")
                if message.get("timed_out") is True:  # it cost its limit once: a replay skips it
                    state["timed_out_cells"].append(state["next_cell"])
                state["next_cell"] += 1
            if kind == "result":
                # One result per check, while it runs. A second one means the learner's code wrote one
                # itself (with the function's own answers, and no record of the torch it ran): the
                # result already relayed for this check is void, and the notebook stops here.
                if message.get("check") != running:
                    voided = last_result if running is None else None
                    raise frames.FrameError("results sent for a check that is not running")
                last_result, running, check_deadline = running, None, None
            frames.send(to_grader, message)
            if kind == "result":
                data = frames.receive(parent.fileno(), deadline, MAX_FRAME)
                state["relayed"] += len(data)
                frames.send(to_grader, data)
            if state["relayed"] > MAX_TOTAL:
                raise frames.FrameError("more output than any notebook needs")
    except frames.FrameError as exc:
        timed_out = time.monotonic() >= deadline
        if not timed_out and check_deadline is not None and time.monotonic() >= check_deadline:
            overran = running
        elif not timed_out and "closed" not in str(exc):
            protocol_error = str(exc)
    finally:
        parent.close()
        status = _reap(pid)
    ended_in = running if started and not completed else None
    return {"type": "end", "started": started or state["restarts"] > 0, "completed": completed,
            "timed_out": timed_out, "protocol_error": protocol_error, "voided": voided,
            "check_timed_out": overran, "ended_in_check": ended_in, **status}


def _reap(pid):
    """Kill every process in the box but this one (and the box's init), then collect the child.
    (The child's seccomp filter lets it start no process; this is the belt to those braces.)"""
    try:
        os.kill(-1 if BOXED else -pid, signal.SIGKILL)  # unboxed, -1 would be every process of the user
    except ProcessLookupError:
        pass
    _, wait_status = os.waitpid(pid, 0)
    while True:  # orphans the learner started are re-parented to init, not here; be thorough anyway
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break
    if os.WIFSIGNALED(wait_status):
        return {"exit_code": None, "signal": signal.Signals(os.WTERMSIG(wait_status)).name}
    return {"exit_code": os.WEXITSTATUS(wait_status), "signal": None}


def clean_scratch():
    """Empty the folders a submission could write to. False if anything is left (the grader then
    starts a fresh box for the next submission)."""
    folders = ("/scratch", "/dev/shm") if BOXED else (os.getcwd(),)
    try:
        for folder in folders:
            _empty(folder)
        return not any(os.listdir(folder) for folder in folders)
    except OSError:
        return False


def _empty(folder):
    os.chmod(folder, 0o1777 if folder == "/dev/shm" else 0o755)  # chmod 0 by the learner
    for root, dirs, _ in os.walk(folder):
        for name in dirs:  # a folder made unreadable would otherwise stay
            try:
                os.chmod(os.path.join(root, name), 0o700)
            except OSError:
                pass
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
