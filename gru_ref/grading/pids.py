"""Trusted: a cap on the processes and threads of one box, where the kernel lets us set one.

Each thread is a host PID (pid_max is often 32768): 8000 threads took 2.6 s. Two mechanisms, by
how the grader runs:
- as root (here, in CI): a pids cgroup per box (cgroup v1's pids hierarchy, or cgroup v2 with the
  pids controller), made here and joined by the box before bubblewrap starts. RLIMIT_NPROC cannot
  serve: the kernel never applies it to uid 0, and the box's uid 0 is the host's.
- as an ordinary user: RLIMIT_NPROC, set by the runner before any learner code (it counts the
  processes of the box's uid in the box's own user namespace).
As root without a writable pids cgroup, neither binds: the box's memory limit is then the only bound
(Box warns once).
"""
import itertools
import os
import time

LIMIT = 256  # processes and threads of one box: its template, the notebook's process, their threads
ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup", "/sys/fs/cgroup/unified")  # v1's pids hierarchy, then v2
_names = itertools.count()


def create(limit):
    """A fresh pids cgroup allowing `limit` tasks, or None where none can be made here."""
    if os.geteuid() != 0:
        return None
    for root in ROOTS:
        if not os.path.exists(os.path.join(root, "cgroup.procs")):
            continue
        if os.path.exists(os.path.join(root, "cgroup.controllers")):  # cgroup v2: pids must be enabled below
            try:
                with open(os.path.join(root, "cgroup.controllers")) as f:
                    if "pids" not in f.read().split():
                        continue
                with open(os.path.join(root, "cgroup.subtree_control"), "w") as f:
                    f.write("+pids")
            except OSError:
                continue
        _remove_stale(root)
        path = os.path.join(root, f"gru_ref-box-{os.getpid()}-{next(_names)}")
        try:
            os.mkdir(path)
            with open(os.path.join(path, "pids.max"), "w") as f:
                f.write(str(limit))
            return path
        except OSError:
            remove(path)
    return None


def _remove_stale(root):
    """The cgroups of grading processes that are gone (killed before they could remove their own)."""
    try:
        names = [n for n in os.listdir(root) if n.startswith("gru_ref-box-")]
    except OSError:
        return
    for name in names:
        try:
            os.kill(int(name.split("-")[2]), 0)
        except ProcessLookupError:
            remove(os.path.join(root, name), wait_s=0)
        except (OSError, ValueError, IndexError):
            pass


def joined(argv, path):
    """argv, started inside the cgroup at path: the shell joins it, then becomes argv."""
    return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', path, *argv]


def kill_all(path):
    """SIGKILL every task still in the cgroup (a box's processes, however they hid)."""
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            tasks = [int(line) for line in f if line.strip()]
    except OSError:
        return
    for task in tasks:
        try:
            os.kill(task, 9)
        except OSError:
            pass


def remove(path, wait_s=2.0):
    """Remove the cgroup once its last task has gone (a killed box's take a moment to exit)."""
    until = time.monotonic() + wait_s
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > until:
                return  # left empty-handed: an empty cgroup costs nothing
            time.sleep(0.02)
