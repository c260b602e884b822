"""The box's audit hook and the fingerprint of its own code, in a fresh process each (a hook cannot be
removed once added): every route to native code the red team took or could take is refused with its
reason, what torch and the box's own code need still works, and a name rebound in the grader shows."""
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

SETUP = """
import os, sys, torch, numpy
from gru_ref.grading import native_guard, own_code
from gru_ref.learner import sandbox, tensorfile
changed = own_code.sealed()
native_guard.install(own_code.objects())
"""


def run_guarded(code, before=""):
    """code run after the box's guards, in a fresh process; `before` runs before them (the judge's side)."""
    script = textwrap.dedent(before) + SETUP + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    return done.returncode, done.stdout + done.stderr


ROUTES = {
    "ctypes (ctypes.dlopen)": "numpy.ctypeslib.ctypes.CDLL(torch._C.__file__)",
    "ctypes (ctypes.dlsym)": "import ctypes; ctypes.pythonapi.Py_IncRef",
    "ctypes (ctypes.string_at)": "import ctypes; ctypes.string_at(id(1), 8)",
    "ctypes (ctypes.cdata)": "import ctypes; ctypes.c_long.from_address(id(1))",
    "importing cffi": "import cffi",
    "importing _cffi_backend": "import _cffi_backend",
    "importing x._cffi_backend": ("import glob, importlib.util; importlib.util.module_from_spec(importlib.util."
                                  "spec_from_file_location('x._cffi_backend', glob.glob(os.path.join(os.path.dirname("
                                  "numpy.__path__[0]), '_cffi_backend*.so'))[0]))"),
    "opening a process's memory (/proc/self/mem)": "open('/proc/self/mem', 'rb')",
    "opening a process's memory (/proc/self/task/../mem)": "os.open('/proc/self/task/../mem', os.O_RDWR)",
    "opening a process's memory (mem)": "os.chdir('/proc/self'); open('mem', 'r+b')",
    "a symbolic link": "os.symlink('/proc/self/mem', os.path.join(os.environ.get('TMPDIR', '/tmp'), 'm'))",
    "a code object built by hand": "(lambda: 1).__code__.replace(co_consts=())",
    "a trace function": "sys.settrace(lambda *a: None)",
    "gc.get_referrers": "import gc; gc.get_referrers(sandbox)",
    "_run_case.__defaults__ changed": "sandbox._run_case.__defaults__ = ((object,) * 7,)",
    # Renamed out of gru_ref first: the hook knows the box's functions by identity, not by __module__.
    "_run_case.__code__ changed": ("sandbox._run_case.__module__ = 'elsewhere'; "
                                   "sandbox._run_case.__code__ = (lambda *a, **k: None).__code__"),
}


@pytest.mark.parametrize("reason", sorted(ROUTES))
def test_each_route_is_refused_with_its_reason_even_when_caught(reason):
    code, out = run_guarded(f"""
        try:
            {ROUTES[reason]}
            print("ALLOWED")
        except PermissionError as exc:
            print("refused:", exc)
        print("kept:", native_guard.REFUSED)
        """)
    assert code == 0, out
    assert "ALLOWED" not in out and f"refused: " in out and reason in out.split("kept:")[1], out


def test_what_torch_and_the_box_need_after_the_hook_still_runs():
    code, out = run_guarded("""
        x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
        (x @ torch.randn(5, 6, dtype=torch.float64)).sigmoid().sum().backward()
        torch.optim.Adam([torch.nn.Parameter(torch.ones(2))]).step()
        blob = tensorfile.dumps({"a": torch.arange(6.0), "b": torch.ones((), dtype=torch.bool)})
        assert torch.equal(tensorfile.loads(blob, 100)["a"], torch.arange(6.0))
        open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "memory.txt"), "w").close()
        print("refused:", native_guard.REFUSED, "changed:", changed())
        """)
    assert code == 0 and "refused: [] changed: None" in out, out


def test_a_name_rebound_in_the_grader_through_pkgutil_shows_in_the_fingerprint():
    code, out = run_guarded("""
        import pkgutil, builtins
        pkgutil.resolve_name("gru_ref.learner.sandbox")._TorchOps = object
        builtins.callable = lambda f: True
        del sys.modules["gru_ref.learner.sandbox"]  # a module dropped from sys.modules changes nothing by itself
        print("changed:", changed())
        """)
    assert code == 0, out
    assert "gru_ref.learner.sandbox._TorchOps" in out and "builtins.callable" in out, out


def test_the_fingerprint_reads_nothing_the_audit_hook_is_called_for():
    """id() and a function's __code__ are audited events: a fingerprint built on them ran the box's
    Python hook about 17,000 times per notebook. It compares the objects themselves instead."""
    code, out = run_guarded("""
        events = []
        sys.addaudithook(lambda event, args: events.append(event))
        sandbox._run_case.__closure__  # not audited: the fingerprint reads closures this way
        before = len(events)
        for _ in range(3):
            assert changed() is None
        print("events:", sorted(set(events[before:])))
        """)
    assert code == 0 and "events: []" in out, out


def test_a_closure_cell_of_the_grader_rebound_shows_in_the_fingerprint():
    code, out = run_guarded("""
        def outer():
            kept = 1
            def inner():
                return kept
            return inner
        from gru_ref.learner import results
        results.made_here = outer()  # a new name is no change of an existing one: nothing to see
        print("changed:", changed())
        """)
    assert code == 0 and "changed: None" in out, out
    code, out = run_guarded("""
        from gru_ref.grading import own_code
        target = next(f for m in list(sys.modules.values()) if getattr(m, "__name__", "").startswith("gru_ref")
                      for f in vars(m).values() if callable(f) and getattr(f, "__closure__", None)
                      and getattr(f, "__module__", "").startswith("gru_ref"))
        target.__closure__[0].cell_contents = None
        print("changed:", changed())
        """)
    assert code == 0 and "changed: gru_ref." in out, out


def test_a_built_in_gru_on_the_meta_device_is_refused_without_the_record():
    """Meta cases run without the profiler's record (it costs three times the case): the switch-off
    of the built-in kernels alone still names a built-in GRU there."""
    code, out = run_guarded(before="""
        from gru_ref.judge import Judge
        index, blob = Judge("my_gru", ("contract",)).payload()
        from gru_ref.learner import sandbox
        sandbox.disable_builtin_grus()  # as the box does, before its hook
        """, code="""
        payload = sandbox.payload_from(index, tensorfile.loads(blob, 1 << 24))
        payload["cases"] = [c for c in payload["cases"] if c["spec"]["device"] == "meta"]
        def my_gru(input, h0, w_ih, w_hh, b_ih, b_hh):
            gru = torch.nn.GRU(input.shape[-1], h0.shape[-1], batch_first=True, device="meta", dtype=input.dtype)
            return gru(input, h0[None])[0], h0
        (record,) = sandbox.execute_cases(my_gru, payload)
        print("cases:", len(payload["cases"]), "builtin:", record["builtin_ops"])
        """)
    assert code == 0 and "cases: 1 builtin: ['aten::gru.input']" in out, out


# In a real box: each route, tried from a cell after the right answers (which keep full marks).
BOX_ROUTES = '''
import glob, mmap, os, shutil, sys, importlib.util, numpy
def attempt(label, action):
    try:
        action()
        print(label, "ALLOWED")
    except (OSError, ImportError) as exc:
        print(label, "refused:", type(exc).__name__, exc)
attempt("ctypes", lambda: numpy.ctypeslib.ctypes.CDLL(torch._C.__file__))
attempt("memory", lambda: open(f"/proc/{os.getpid()}/mem", "r+b"))
attempt("memfd", lambda: os.memfd_create("library"))
library = glob.glob(os.path.join(os.path.dirname(os.__file__), "lib-dynload", "_json.*.so"))[0]
shutil.copy(library, "mine.so")
attempt("mapping", lambda: mmap.mmap(os.open("mine.so", os.O_RDONLY), 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC))
spec = importlib.util.spec_from_file_location("mine._json", os.path.abspath("mine.so"))
attempt("library", lambda: importlib.util.module_from_spec(spec))
'''


def test_in_the_box_no_native_code_runs_and_no_library_of_the_learner_s_loads():
    from gru_ref.grading.box import Box
    from test_grading_bounds import graded, last_output, notebook
    box = Box()
    try:
        nb = notebook(BOX_ROUTES)
        printed = last_output(graded(nb, box), nb, "stream")
    finally:
        box.close()
    assert "ALLOWED" not in printed, printed
    assert "ctypes refused: RefusedInGrading native code is not allowed in grading: ctypes (ctypes.dlopen)" in printed
    assert "memory refused: RefusedInGrading native code is not allowed in grading: opening a process's memory" in printed
    assert "memfd refused: PermissionError [Errno 1]" in printed, printed  # seccomp
    assert "mapping refused: PermissionError [Errno 1]" in printed, printed  # noexec scratch
    assert "library refused: ImportError" in printed, printed
