"""Trusted: Ctrl-C stops the class command cleanly, in every phase, within a few seconds.

A terminal sends SIGINT to the whole foreground process group: the class command and the local
Dask cluster's processes. Those start with SIGINT blocked, so only the class command sees it: it
stops the cluster itself, at once, and no worker prints a traceback. While grades are recorded, nbgrader's autograde
would swallow the KeyboardInterrupt (and leave that student `error`): there SIGINT is deferred to
the end of the current student's record (a fraction of a second), then raised.
"""
import contextlib
import os
import signal
import sys

STOPPED = "Stopped. Every result so far is kept: run the same command again to go on."


def stop_now(code):
    """End this process at once, after killing every process it started (the cluster's workers and
    their sandboxes): Dask's own shutdown waits for busy workers, then prints tracebacks. Every
    result was written whole (renamed into place), and the gradebook between two students."""
    import psutil  # Dask's own dependency
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        children = []
    for child in children:  # multiprocessing's resource tracker too: else the cluster's threads restart it
        with contextlib.suppress(psutil.Error):
            child.kill()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def spared_children():
    """From now on, the processes that multiprocessing starts (the local Dask cluster's) begin with
    SIGINT blocked, which nothing in them unblocks: the thread that starts one blocks it around the
    start alone (the mask goes through fork and exec), so this process never misses a Ctrl-C."""
    from multiprocessing import util
    start = util.spawnv_passfds
    if getattr(start, "spares_children", False):
        return

    def spawnv_passfds(path, args, passfds):
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return start(path, args, passfds)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    spawnv_passfds.spares_children = True
    util.spawnv_passfds = spawnv_passfds


class Deferred:
    """Within it, SIGINT is remembered instead of raised; check() raises it as KeyboardInterrupt
    at a point where stopping loses nothing (between two students), and so does leaving it."""

    def __enter__(self):
        self.hit = False
        self.before = signal.signal(signal.SIGINT, self._remember)
        return self

    def _remember(self, signum, frame):
        self.hit = True

    def check(self):
        if self.hit:
            raise KeyboardInterrupt

    def __exit__(self, kind, value, traceback):
        signal.signal(signal.SIGINT, self.before)
        if self.hit and kind is None:
            raise KeyboardInterrupt
        return False
