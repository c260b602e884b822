"""Trusted: the integrity scan run outside the grader's own process, under limits, so that code built
to slow or flood the scan costs that notebook a flag for review, never the grader its time or memory.

One warm server process (`python -I -m gru_ref.grading.scanner`, started once per grading process)
imports the scan and IPython's transformer once, then forks a child per notebook: the fork costs
milliseconds, and the child scans with RLIMIT_CPU and RLIMIT_AS set and a wall-clock limit watched
from the server. A child over a limit is killed and the notebook gets one flag that says so. The
grader sends a notebook's cells before its box runs and reads the flags after: the scan runs beside
the box, not after it.

Protocol (gru_ref.grading.frames): <- {"cells": [[cell_index, source], ...], "limits": {...}};
-> {"flags": [[cell_index, line, text, reason], ...]} or {"failed": why}.
"""
import atexit
import os
import resource
import signal
import subprocess
import sys
import threading
import time

from gru_ref.grading import frames
from gru_ref.grading.fresh_python import module_argv

LIMITS = {"cpu_s": 10, "wall_s": 20, "memory_mb": 1024}  # for one notebook's scan
MAX_FLAGS = 500  # listed per notebook; the rest are counted in one more flag
MAX_REQUEST = 64 << 20  # bytes: the cells are capped long before (gru_ref.grading.submission)
MAX_ANSWER = 16 << 20
START_TIMEOUT_S = 60


class Scanner:
    """The grader's side: one warm server, restarted if it broke. One notebook at a time."""

    def __init__(self, limits=None):
        self.limits = {**LIMITS, **(limits or {})}
        self.process, self.pending, self.failure, self.lock = None, False, None, threading.Lock()

    def submit(self, cells):
        """Start scanning [(cell_index, source)]; `result()` returns the flags."""
        with self.lock:
            if self.pending:  # a result never collected (its notebook's grading failed): drop the server
                self.close()
            try:
                if self.process is None or self.process.poll() is not None:
                    self._start()
                frames.send(self.process.stdin.fileno(), {"cells": cells, "limits": self.limits},
                            time.monotonic() + self.limits["wall_s"])
                self.pending = True
            except (frames.FrameError, OSError) as exc:
                self.close()
                self.failure = f"the scan's process failed ({exc})"

    def result(self):
        """[(cell_index, line, text, reason)], or one flag saying why the scan could not finish."""
        with self.lock:
            if not self.pending:
                return _unfinished(self.failure or "the scan's process did not start")
            self.pending = False
            deadline = time.monotonic() + self.limits["wall_s"] + 10
            try:
                answer = frames.receive_json(self.process.stdout.fileno(), deadline, MAX_ANSWER)
            except frames.FrameError as exc:
                self.close()
                return _unfinished(f"the scan's process failed ({exc})")
            if "failed" in answer:
                return _unfinished(str(answer["failed"]))
            return [tuple(flag) for flag in answer.get("flags", [])]

    def scan(self, cells):
        self.submit(cells)
        return self.result()

    def _start(self):
        self.failure = None
        self.process = subprocess.Popen(module_argv("gru_ref.grading.scanner"),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        ready = frames.receive_json(self.process.stdout.fileno(), time.monotonic() + START_TIMEOUT_S)
        if ready.get("type") != "ready":
            raise OSError("it started wrongly")

    def close(self):
        self.pending = False
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                stream.close()
            self.process = None


def _unfinished(why):
    return [(0, 1, "", f"the integrity scan could not finish on this notebook: {why}; read its code")]


_SHARED = None


def shared():
    """The grading process's one scanner (closed at exit)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Scanner()
        atexit.register(_SHARED.close)
    return _SHARED


# The server side.

def main():
    to_grader, from_grader = os.dup(1), os.dup(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    from gru_ref.grading import integrity
    integrity.scan([(0, "!ls\nx = %who_ls\nimport torch")])  # warm: the parser, the tokenizer, IPython's transforms
    frames.send(to_grader, {"type": "ready"})
    while True:
        try:
            request = frames.receive_json(from_grader, None, MAX_REQUEST)
        except frames.FrameError:
            return 0  # the grader has gone
        frames.send(to_grader, scan_in_child(integrity, request["cells"], request["limits"]))


def scan_in_child(integrity, cells, limits):
    """{"flags": [...]} from a forked child under the limits, or {"failed": which limit it hit}."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        code = 0
        try:
            with open("/proc/self/statm") as f:
                in_use = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            memory = in_use + (limits["memory_mb"] << 20)
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
            flags = integrity.scan([tuple(cell) for cell in cells])
            if len(flags) > MAX_FLAGS:
                last = flags[MAX_FLAGS - 1]
                flags = flags[:MAX_FLAGS] + [(last[0], last[1], "", f"and {len(flags) - MAX_FLAGS} more "
                                                                    f"flagged line(s), not listed")]
            frames.send(write_end, {"flags": flags})
        except MemoryError:
            code = 3
        except BaseException:  # noqa: BLE001 (a bug of the scan's, on code built to find one)
            code = 4
        os._exit(code)
    os.close(write_end)
    try:
        answer = frames.receive_json(read_end, time.monotonic() + limits["wall_s"], MAX_ANSWER)
    except frames.FrameError:
        answer = None
    finally:
        os.close(read_end)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    if answer is not None:
        return answer
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return {"failed": f"it used more than its {limits['cpu_s']} s of CPU time"}
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3:
        return {"failed": f"it needed more than its {limits['memory_mb']} MB of memory"}
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 4:
        return {"failed": "the scan itself failed on this code"}
    return {"failed": f"it took more than its {limits['wall_s']} s"}


if __name__ == "__main__":
    sys.exit(main())
