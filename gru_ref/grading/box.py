"""Trusted: one warm sandbox, the template process inside bubblewrap, reused for submission after
submission and restarted whenever one broke it. Everything read from it is bounded in size and time.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from gru_ref.grading import bwrap, frames, pids
from gru_ref.grading.fresh_python import module_argv

START_TIMEOUT_S = 120  # importing torch in a new box on a busy machine
GRACE_S = 30  # beyond a job's own deadline, which the template enforces, before the box is killed
MAX_FRAME = 64 << 20
MAX_TOTAL = 256 << 20  # bytes from one submission, all messages together


def unsandboxed():
    return os.environ.get("GRU_REF_NO_SANDBOX") == "1"


WARNING = ("\n" + "!" * 78 + "\nGRU_REF_NO_SANDBOX=1: grading WITHOUT the bubblewrap sandbox. The notebooks' "
           "code runs as\nyou, with your files and network. Use this for trusted notebooks only.\n" + "!" * 78 + "\n")


WEAKER = {  # a bound that this machine cannot set, and what stands in for it (said once per process)
    "processes": "no pids cgroup can be made here and, as root, RLIMIT_NPROC does not bind: a notebook's "
                 "processes and threads are bounded only by its memory limit",
    "files": "bubblewrap may not leave the box CAP_SYS_ADMIN in its own namespaces here: the scratch "
             "folders are bounded in bytes, not in files",
}
_warned = set()


class Box:
    def __init__(self, gpu=False, threads=1):
        self.gpu, self.threads, self.process, self.started, self.cgroup = gpu, threads, None, 0, None

    def _start(self):
        for mount in (True, False):  # an inode-limited scratch where bubblewrap allows it (scratch.py)
            ready = self._try_start(mount)
            if ready is not None:
                break
        else:
            bwrap.check()  # raises with what to do, if the sandbox itself cannot start
            raise bwrap.SandboxUnavailable("the grading sandbox did not start")
        if ready.get("type") != "ready":
            self.close()
            raise bwrap.SandboxUnavailable("the grading sandbox started wrongly")
        if not unsandboxed():
            self._warn_weaker(files=ready.get("files_bounded") is True)
        self.started += 1

    def _try_start(self, mount):
        """Start the template; its ready message, or None if it did not start."""
        if unsandboxed():
            print(WARNING, file=sys.stderr)
            self.folder = tempfile.TemporaryDirectory(prefix="gru_ref_unboxed_")
            argv = module_argv("gru_ref.grading.template", "--unboxed")
            cwd = self.folder.name
        else:
            argv, cwd = bwrap.command(gpu=self.gpu, threads=self.threads, mount=mount), None
            self.cgroup = pids.create(pids.LIMIT)
            if self.cgroup:
                argv = pids.joined(argv, self.cgroup)
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, cwd=cwd, start_new_session=True)
        try:
            return frames.receive_json(self.process.stdout.fileno(), time.monotonic() + START_TIMEOUT_S)
        except frames.FrameError:
            self.close()
            return None

    def _warn_weaker(self, files):
        weaker = [name for name, missing in (("processes", self.cgroup is None and os.geteuid() == 0),
                                             ("files", not files)) if missing]
        for name in weaker:
            if name not in _warned:
                _warned.add(name)
                print(f"gru_ref grading: {WEAKER[name]} (see the README, 'How grading works').", file=sys.stderr)

    def run(self, job, cases):
        """Run one submission's job; returns (events, end): the cell and result messages, results
        with their tensor bytes, and how the submission's process ended."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        deadline = time.monotonic() + job["limits"]["deadline_s"] + GRACE_S
        stdin, stdout = self.process.stdin.fileno(), self.process.stdout.fileno()
        events = []
        received = 0
        try:
            frames.send(stdin, {"type": "job", "job": job, "case_sizes": [len(c) for c in cases]}, deadline)
            for data in cases:
                frames.send(stdin, data, deadline)
            while True:
                message = frames.receive_json(stdout, deadline, 1 << 20)
                if message.get("type") == "end":
                    if message.get("clean") is not True:
                        self.close()  # something of this submission stayed behind: a fresh box next
                    return events, message
                if message.get("type") == "result":
                    message["data"] = frames.receive(stdout, deadline, MAX_FRAME)
                    received += len(message["data"])
                received += len(json.dumps(message, default=lambda _: ""))
                if received > MAX_TOTAL:
                    raise frames.FrameError("more output than any notebook needs")
                events.append(message)
        except (frames.FrameError, OSError) as exc:
            self.close()  # whatever happened in there, the next submission gets a fresh box
            return events, {"type": "end", "box_failed": str(exc), "timed_out": time.monotonic() >= deadline}

    def close(self):
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if self.cgroup:
                pids.kill_all(self.cgroup)
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                stream.close()
            self.process = None
        if self.cgroup:
            pids.remove(self.cgroup)
            self.cgroup = None
