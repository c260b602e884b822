"""Inside the box, in the child forked for one submission: run the learner's cells in order, and at
each test cell run the checked functions on the cases, then send back what they returned.

Before any learner code: resource limits, the seccomp filter (no new program, no new process, no
signal to anyone else), the built-in GRUs switched off for good (the dispatcher refuses them,
the profiler names them), a fingerprint of the box's own code, and the audit hook that refuses
native code and changes to that code (gru_ref.grading.native_guard). What runs a check holds its own
references from then on (`OWN`, kept in the frames' local variables, which no learner code can
rebind): a check run after a refused native call, or with the box's code changed, fails with why. A cell whose top-level statement was refused a built-in GRU (a sanity
check against nn.GRU, say) goes on with its next statement, so the `def` below it still counts.
The template hands a check's cases over only when the notebook has reached that check, so code in
earlier cells never sees them. Nothing here decides anything: the judge outside reads the tensors
and rules.
"""
import ast
import errno
import io
import os
import resource
import signal
import sys
import time
import traceback

from gru_ref.learner import results, sandbox, tensorfile
from gru_ref.grading import frames, native_guard, own_code, scratch, seccomp

WORK_FOLDER = "work"  # in the box's scratch folder (the template's working directory)


class CellTimeout(BaseException):
    """Raised into a cell that runs past its time (BaseException: `except Exception` cannot keep it)."""


class BoundedText(io.TextIOBase):
    """A stream that keeps the first `limit` characters and counts the rest (200 MB of prints cost
    a counter, not memory)."""

    def __init__(self, limit):
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def take(self, why=""):
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters of output not kept{why}]\n"
        self.parts, self.kept, self.dropped = [], 0, 0
        return text


def warm_up():
    """Run once in the template, before any fork: what every child would otherwise load itself."""
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    shell.run_cell("import torch\nfrom torch import nn\n(lambda: None)()", store_history=False, silent=True)
    InteractiveShell.clear_instance()


# What a check calls, taken before any learner code: a plain tuple, unpacked into local variables
# (a class of ours, a namedtuple's included, could have its attributes or __iter__ replaced).
OWN = ("run_check", "changed", "refused", "send", "receive", "payload_from", "loads", "max_elements",
       "execute_cases", "encode", "refused_record")


def run(job, channel):
    """The child's whole life: never returns."""
    code = 0
    try:
        own = _enter(job["limits"])
        frames.send(channel, {"type": "started"})  # what fails before this is the grader's, not the learner's
        Notebook(job, channel).run(own)
        frames.send(channel, {"type": "done"})
    except BaseException:  # noqa: BLE001 (the learner's SystemExit included): the end status says so
        code = 71
    os._exit(code)


def _enter(limits):
    os.makedirs(WORK_FOLDER, exist_ok=True)
    if os.environ.get("TMPDIR"):
        os.makedirs(os.environ["TMPDIR"], exist_ok=True)
    os.chdir(WORK_FOLDER)
    os.environ["HOME"] = os.getcwd()
    with open("/proc/self/statm") as f:
        in_use = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    if not limits.get("cuda"):  # CUDA maps far more address space than it uses
        memory = in_use + (limits["memory_mb"] << 20)
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        # No check needs the GPU: hide it, since CUDA could not start under this limit (a CPU
        # training run starts it unasked: Adam's step() asks whether a CUDA graph is being captured).
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    cpu = limits["cpu_s"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_mb"] << 20, limits["file_mb"] << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Binds where the box's uid is not root (an ordinary user grading; it counts the box's own user
    # namespace); as root, the box's pids cgroup. Unboxed, it would count all the user's processes.
    if "--unboxed" not in sys.argv:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    seccomp.confine(os.getpid())
    sandbox.disable_builtin_grus()
    own = (Notebook.run_check, own_code.sealed(), native_guard.REFUSED, frames.send, frames.receive,
           sandbox.payload_from, tensorfile.loads, results.MAX_ELEMENTS, sandbox.execute_cases, results.encode,
           _refused_record)  # as OWN names them
    if limits.get("cuda"):
        # torch asks NVML, through ctypes, how many GPUs there are until CUDA has started (an honest
        # torch.cuda.is_available() would be refused): start it now. Forked from a template without
        # CUDA, the child would start it at its first GPU case anyway.
        try:
            sandbox.torch.cuda.init()
        except Exception:  # noqa: BLE001 (no usable GPU: the GPU cases fail on their own, with a reason)
            pass
    native_guard.install(own_code.objects())  # last: the box's own ctypes work is done
    return own


class Notebook:
    def __init__(self, job, channel):
        from IPython.core.interactiveshell import InteractiveShell
        self.job, self.channel, self.limits = job, channel, job["limits"]
        self.shell = InteractiveShell.instance()
        self.shell.showtraceback = lambda *args, **kwargs: None  # we report errors ourselves
        # Notebook habits that need what the box lacks (a program to run, a GUI event loop) become
        # a note, not an error that would stop the cell before its `def`.
        self.shell.system = lambda command: print(f"[not run while grading: !{command}]")
        self.shell.enable_gui = lambda gui=None: None
        self.shell.enable_matplotlib = lambda gui=None: (gui, gui)
        self.out = BoundedText(self.limits["output_kb"] << 10)
        self.err = BoundedText(self.limits["output_kb"] << 10)
        self.output_left = self.limits.get("notebook_output_kb", 1 << 20) << 10  # over all cells
        sys.stdout, sys.stderr = self.out, self.err
        self.alarm = CellTimeout  # what the alarm raises: CellTimeout in cells, Deadline in checks
        signal.signal(signal.SIGALRM, self._on_alarm)
        self.next_check = 0

    def _on_alarm(self, signum, frame):
        raise self.alarm()

    def run(self, own):
        """The cells and checks in order. A child that replaces one which ended inside a check
        (job["resume"], from the template) runs the cells before it again without reporting them
        (those that ran out of time not at all) and skips the checks already done."""
        run_check = own[0]
        resume = self.job.get("resume") or {}
        replay_to, skipped = resume.get("replay_to", 0), set(resume.get("skip_cells", ()))
        first_check = self.next_check = resume.get("first_check", 0)
        checkpoints = {point["before_cell"]: point["checks"] for point in self.job["checkpoints"]}
        ordinal = 0
        for index, source in enumerate(self.job["cells"]):
            for check in checkpoints.pop(index, ()):
                if ordinal >= first_check:
                    run_check(self, check, own)
                ordinal += 1
            if index >= replay_to:
                self.run_cell(index, source)
            elif index not in skipped:
                self.run_cell(index, source, report=False)
        for before in sorted(checkpoints):
            for check in checkpoints[before]:
                if ordinal >= first_check:
                    run_check(self, check, own)
                ordinal += 1

    def run_cell(self, index, source, report=True):
        error, timed_out = None, False
        cell_limit = self.limits["output_kb"] << 10
        self.out.limit = min(cell_limit, self.output_left)
        self.err.limit = min(cell_limit, max(self.output_left - self.out.limit, 0))
        signal.setitimer(signal.ITIMER_REAL, self.limits["cell_timeout"])
        try:
            while source is not None:
                refused = len(sandbox.REFUSED)
                result = self.shell.run_cell(source, store_history=False, silent=False)
                exc = result.error_before_exec or result.error_in_exec
                if exc is None:
                    break
                if isinstance(exc, CellTimeout):  # IPython catches even a BaseException
                    raise exc
                error = error or describe_error(exc, self.limits)
                source = after_refusal(source, exc) if len(sandbox.REFUSED) > refused else None
        except CellTimeout:
            timed_out = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if not report:  # a replayed cell: its outputs were reported by the child before
            self.out.take(), self.err.take()
            return
        self.output_left -= self.out.kept + self.err.kept
        why = "" if self.out.limit == cell_limit else \
            f": grading keeps {self.limits.get('notebook_output_kb')} KB of output per notebook"
        frames.send(self.channel, {"type": "cell", "index": index, "stdout": self.out.take(why),
                                   "stderr": self.err.take(why), "error": error, "timed_out": timed_out})

    def run_check(self, check, own):
        """One check call: ask for its cases (only now do they exist in here), run, send the results.
        Everything it calls comes from `own`, taken before any learner code."""
        _, changed, refused, send, receive, payload_from, loads, max_elements, execute_cases, encode, \
            refused_record = own
        send(self.channel, {"type": "cases", "check": self.next_check})
        self.next_check += 1
        blob = receive(self.channel, None, 1 << 30)
        payload = payload_from(check["index"], loads(blob, max_elements))
        changed_before, refused_before = changed(), len(refused)
        fn = self.shell.user_ns.get(check["function"])
        status = {"timed_out": False, "missing": not callable(fn), "progress": 0}
        records, start = [], time.monotonic()
        if callable(fn):
            sandbox.exact_float32_on_cuda(payload)
            progress = []
            self.alarm = sandbox.Deadline  # _run_case lets only Deadline through
            signal.setitimer(signal.ITIMER_REAL, check.get("timeout", self.limits["check_timeout"]))
            try:
                execute_cases(fn, payload, records, on_case=progress.append)
            except sandbox.Deadline:
                status["timed_out"] = True
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                self.alarm = CellTimeout
            status["progress"] = max(progress, default=0)
        self.out.take(), self.err.take()  # prints inside checked functions are never shown or graded
        status["seconds"] = round(time.monotonic() - start, 3)
        what_changed = changed_before or changed()
        if what_changed:
            records[:] = [refused_record(own_code.MESSAGE + what_changed, "GraderCodeChanged")]
        elif len(refused) > refused_before:
            records[:] = [refused_record(refused[refused_before], native_guard.RefusedInGrading.__name__)]
        data, descriptions = encode(records)
        send(self.channel, {"type": "result", "check": check["id"], "status": status,
                            "descriptions": descriptions})
        send(self.channel, data)


def _refused_record(reason, exception):
    """A case record that fails the check with the reason: as if the learner's function had raised it."""
    return {"status": "error", "error": f"{exception}: {reason}", "exception": exception, "text": reason[:500],
            "builtin_ops": []}


def after_refusal(source, exc):
    """The cell's statements after the top-level one that a refused built-in GRU stopped (blank
    lines keep the line numbers), or None if there are none or it cannot tell which one."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<ipython")]
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    if not lines:
        return None
    later = [node for node in body if node.lineno > lines[0]]
    if not later:
        return None
    kept = source.splitlines()
    return "\n" * (later[0].lineno - 1) + "\n".join(kept[later[0].lineno - 1:])


def describe_error(exc, limits=None):
    """An error as nbformat wants it, with only the learner's frames in the traceback, and the
    grading limit it hit named, if it hit one."""
    frames_ = [f for f in traceback.extract_tb(exc.__traceback__)
               if not f.filename.startswith((sandbox.PACKAGE_DIR, sys.prefix, sys.base_prefix))]
    lines = traceback.format_list(frames_[-6:]) + traceback.format_exception_only(type(exc), exc)
    hit = limit_hit(exc, limits or {})
    return {"ename": type(exc).__name__, "evalue": str(exc)[:2000] + (f" ({hit})" if hit else ""),
            "traceback": "".join(lines)[-6000:] + (f"Grading limit: {hit}.\n" if hit else "")}


def limit_hit(exc, limits):
    """Which of the box's limits an error comes from, in words, or None."""
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return f"grading allows a notebook {limits.get('processes', '?')} processes and threads in all"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "grading's writable folders are full: " + ", ".join(
            f"{folder} holds {mb} MB and {files:,} files" for folder, mb, files, _ in scratch.FOLDERS)
    if isinstance(exc, OSError) and exc.errno == errno.EMFILE:
        return "grading allows a notebook 256 open files"
    return None
