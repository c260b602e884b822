"""The trust boundary is a folder: the grading box and the learners' wheel are built from folders of
gru_ref, and what they hold is checked here, not assumed. The box shows the learner's side
(gru_ref/learner/) and the grading machinery, never the judge, the assignments or the reference; the
wheel ships the learner's side, the judge and the assignments (their own checker judges in a process of
its own) and a table of the known mistakes' outputs, never the reference or the grading; no function
of the wheel computes a right answer, and none computes a step or loops over one (read from the code:
deleting a guard line changes nothing); and the learners' checker still names every known mistake."""
import ast
import json
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT

PACKAGE = ROOT / "gru_ref"
SIDES = ("learner", "judge", "assignments", "reference", "grading")


def _learner_edition():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import learner_edition
    return learner_edition


def test_gru_ref_has_only_its_sides_and_its_commands_at_the_top():
    """A module of the flat layout coming back (beside the folders) would sit on no side."""
    top = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert top == {"__init__.py", "grade.py", "precheck.py", "similarity.py", *SIDES}


def test_the_learners_side_imports_nothing_of_the_other_sides():
    """Imports run one way: what runs beside learner code needs nothing trusted, so the box and the
    wheel can show it alone."""
    for path in (PACKAGE / "learner").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith("gru_ref.") or name.startswith("gru_ref.learner"), f"{path}: {name}"
                if name == "gru_ref":
                    assert all(a.name.startswith("check_") for a in node.names), f"{path}: {ast.unparse(node)}"


PROBE = """
import importlib, json, os, gru_ref
found = {}
for name in json.loads(input()):
    try:
        importlib.import_module(name)
        found[name] = True
    except ImportError:
        found[name] = False
package = os.path.dirname(gru_ref.__file__)
print(json.dumps({"imports": found, "files": sorted(os.listdir(package))}))
"""


def test_nothing_of_the_judge_the_assignments_or_the_reference_is_in_the_box():
    from gru_ref.grading import bwrap
    try:
        bwrap.check()
    except bwrap.SandboxUnavailable as exc:
        pytest.fail(f"the box cannot start here, so this cannot be shown: {exc}")
    argv = bwrap.command()
    argv = argv[:argv.index("--")] + ["--", sys.executable, "-I", "-c", PROBE]
    trusted = ["gru_ref.judge", "gru_ref.judge.judge", "gru_ref.judge.cases", "gru_ref.judge.mistakes",
               "gru_ref.judge.diagnose", "gru_ref.assignments", "gru_ref.assignments.gru",
               "gru_ref.assignments.gru_bptt", "gru_ref.assignments.rnn", "gru_ref.assignments.gru_layers",
               "gru_ref.assignments.shapes", "gru_ref.assignments.train_gru", "gru_ref.reference",
               "gru_ref.reference.equations",
               "gru_ref.reference.shapes_mistakes"]
    inside = ["gru_ref.learner.check", "gru_ref.learner.sandbox", "gru_ref.grading.runner"]
    # every module of the trusted folders, so that a new one is covered without a line here
    trusted += sorted({".".join(("gru_ref",) + p.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
                       for side in ("judge", "assignments", "reference") for p in (PACKAGE / side).rglob("*.py")})
    done = subprocess.run(argv, input=json.dumps(trusted + inside) + "\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert [name for name in trusted if seen["imports"][name]] == []
    assert all(seen["imports"][name] for name in inside), seen  # the probe can find what is there
    assert not set(seen["files"]) & {"judge", "assignments", "reference", "grade.py", "precheck.py"}, seen["files"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The learners' wheel, built as the site builds it, unpacked."""
    out = tmp_path_factory.mktemp("edition")
    folder = _learner_edition().build(out)
    (path,) = folder.glob("*.whl")
    unpacked = out / "unpacked"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(unpacked)
    return unpacked


def test_the_wheel_holds_the_learners_side_the_judge_and_the_assignments_and_nothing_else(wheel):
    shipped = {p.relative_to(wheel / "gru_ref").as_posix() for p in (wheel / "gru_ref").rglob("*.py")}
    assert not [name for name in shipped if name.startswith(("reference/", "grading/"))]
    assert shipped == set(_learner_edition().learner_files())
    for side in ("learner", "judge", "assignments"):  # whole folders: nothing left behind by a list
        assert {p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / side).rglob("*.py")} <= shipped
    # and one data file: the mistakes' outputs on the diagnosis cases, small
    data = {p.relative_to(wheel / "gru_ref").as_posix() for p in (wheel / "gru_ref").rglob("*") if p.is_file()} - shipped
    assert data == set(_learner_edition().MISTAKE_TABLES)
    assert sum((wheel / "gru_ref" / name).stat().st_size for name in data) < 150_000


# Run in a fresh process on the unpacked wheel alone: each exercise's truth is computed with torch.nn
# first, then the built-in recurrent kernels are switched off as the checks switch them off, and every
# function and method of every module (and every callable those hold: a mistake's wrong step) is called
# with the exercise's arguments, also with each RIGHT_* set of knobs a module defines. None may match.
TRY_EVERYTHING = r"""
import importlib, json, sys
import torch
from torch import nn

torch.manual_seed(0)
B, T, F, H = 2, 3, 4, 5
d = torch.float64


def rand(*shape):
    return torch.randn(*shape, dtype=d) * 0.6


x, h, inp = rand(B, F), rand(B, H), rand(B, T, F)
gru_w = [rand(3 * H, F), rand(3 * H, H), rand(3 * H), rand(3 * H)]
rnn_w = [rand(H, F), rand(H, H), rand(H), rand(H)]
grad_h_t = rand(B, H)


def load(module, weights):
    with torch.no_grad():
        for p, w in zip(module.parameters(), weights):
            p.copy_(w)
    return module


layers_w = [rand(3 * H, F), rand(3 * H, H), rand(3 * H), rand(3 * H), rand(3 * H, F), rand(3 * H, H), rand(3 * H),
            rand(3 * H), rand(3 * H, 2 * H), rand(3 * H, H), rand(3 * H), rand(3 * H), rand(3 * H, 2 * H), rand(3 * H, H),
            rand(3 * H), rand(3 * H)]
h0_layers = rand(4, B, H)
cell = load(nn.GRUCell(F, H, dtype=d), gru_w)
layers = load(nn.GRU(F, H, num_layers=2, bidirectional=True, batch_first=True, dtype=d), layers_w)
gru = load(nn.GRU(F, H, batch_first=True, dtype=d), gru_w)
rnn = load(nn.RNN(F, H, batch_first=True, dtype=d), rnn_w)
h_prev = h.clone().requires_grad_()
(grad,) = torch.autograd.grad(cell(x, h_prev), h_prev, grad_h_t)
grad_output, grad_h_final = rand(B, T, H), rand(B, H)
leaves = [inp.clone().requires_grad_(), h.clone().requires_grad_()]
bptt = torch.autograd.grad(gru(leaves[0], leaves[1].unsqueeze(0)), leaves + list(gru.parameters()),
                           (grad_output, grad_h_final.unsqueeze(0)))
with torch.no_grad():
    EXERCISES = {
        "gru_cell": ((x, h, *gru_w), (cell(x, h),)),
        "my_gru": ((inp, h, *gru_w), tuple(v if i == 0 else v.squeeze(0) for i, v in enumerate(gru(inp, h.unsqueeze(0))))),
        "my_rnn": ((inp, h, *rnn_w), tuple(v if i == 0 else v.squeeze(0) for i, v in enumerate(rnn(inp, h.unsqueeze(0))))),
        "gru_cell_grad": ((x, h, *gru_w, grad_h_t), (grad,)),
        "gru_bptt": ((inp, h, *gru_w, grad_output, grad_h_final), bptt),
        "my_gru_layers": ((inp, h0_layers, layers_w, 2, True, True), tuple(layers(inp, h0_layers))),
    }

from gru_ref.learner import sandbox
sandbox.disable_builtin_grus()


def matches(got, want):
    got = got if isinstance(got, (tuple, list)) else (got,)
    return len(got) == len(want) and all(isinstance(g, torch.Tensor) and g.shape == w.shape
                                         and torch.allclose(g.double(), w, atol=1e-8) for g, w in zip(got, want))


def callables(module):
    seen = []

    def add(obj):
        if callable(obj) and not isinstance(obj, type) and getattr(obj, "__module__", None) == module.__name__ \
                and obj not in seen:
            seen.append(obj)

    for value in vars(module).values():
        if isinstance(value, type) and value.__module__ == module.__name__:
            for attr in vars(value).values():
                add(getattr(attr, "__func__", attr))
        add(value)
        for item in value if isinstance(value, (tuple, list)) else value.values() if isinstance(value, dict) else ():
            for attr in ("cell", "sequence", "layers"):
                add(getattr(item, attr, None))
            add(item)
    return seen


found = []
modules = json.loads(sys.stdin.readline())
for name in modules:
    module = importlib.import_module(name)
    knobs = [{}] + [v for k, v in vars(module).items() if k.startswith("RIGHT") and isinstance(v, dict)]
    for fn in callables(module):
        for exercise, (args, want) in EXERCISES.items():
            for extra in knobs:
                for call in (lambda: fn(*args, **extra), lambda: fn(None, *args, **extra)):  # a method: self
                    try:
                        got = call()
                    except BaseException:
                        continue
                    if matches(got, want):
                        found.append(f"{name}.{getattr(fn, '__qualname__', fn)} computes {exercise}")
print(json.dumps(found))
"""


def _functions_computing_an_answer(path, modules, *more_paths):
    done = subprocess.run([sys.executable, "-c", TRY_EVERYTHING], input=json.dumps(modules) + "\n",
                          capture_output=True, text=True, timeout=300, cwd=path,
                          env={"PYTHONPATH": ":".join(map(str, (path, *more_paths))), "PATH": "/usr/bin:/bin",
                               "HOME": str(path)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_no_function_of_the_wheel_computes_a_right_answer(wheel):
    modules = sorted(".".join(p.relative_to(wheel).with_suffix("").parts).removesuffix(".__init__")
                     for p in (wheel / "gru_ref").rglob("*.py") if p.name != "__main__.py")
    probe = "import gru_ref; print(gru_ref.__file__)"
    where = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=wheel,
                           env={"PYTHONPATH": str(wheel), "PATH": "/usr/bin:/bin"}).stdout.strip()
    assert where.startswith(str(wheel)), where  # the wheel's copy is the one tried, not the course's
    assert _functions_computing_an_answer(wheel, modules) == []


# How the shipped mistakes once held a working gru_cell, which a learner found: the refusal of the right
# knobs sat in a wrapper, and the step it called took them all.
GUARDED_IN_A_WRAPPER = """
import torch
RIGHT_KNOBS = {"swap_z": False}


def _cell(x, h, w_ih, w_hh, b_ih, b_hh, **knobs):
    knobs = {**RIGHT_KNOBS, **knobs}
    if knobs == RIGHT_KNOBS:
        raise ValueError("a mistake needs a knob turned")
    return _step(x, h, w_ih, w_hh, b_ih, b_hh, **knobs)


def _step(x, h, w_ih, w_hh, b_ih, b_hh, *, swap_z):
    i_r, i_z, i_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h
"""


def test_the_search_for_a_right_answer_finds_one_where_there_is_one(tmp_path):
    """The same search finds the instructors' reference equations, and a right step behind a wrapper's
    guard (the learner's find): the test above can fail."""
    found = _functions_computing_an_answer(ROOT, ["gru_ref.reference.equations"])
    assert "gru_ref.reference.equations.gru_cell computes gru_cell" in found
    assert "gru_ref.reference.equations.gru_sequence computes my_gru" in found
    from layers_code import MY_GRU_LAYERS
    (tmp_path / "right_layers.py").write_text("import torch\n" + MY_GRU_LAYERS)
    assert "right_layers.my_gru_layers computes my_gru_layers" in _functions_computing_an_answer(
        tmp_path, ["right_layers"], ROOT)
    (tmp_path / "guarded_in_a_wrapper.py").write_text(GUARDED_IN_A_WRAPPER)
    assert _functions_computing_an_answer(tmp_path, ["guarded_in_a_wrapper"], ROOT) == \
        ["guarded_in_a_wrapper._step computes gru_cell"]


def test_the_search_finds_a_right_gradient_through_time(tmp_path):
    """The search knows gru_bptt's answer when it sees one (a learner's, tests/bptt_code.py): the wheel's
    slips, computed by autograd through torch's cell, pass the test above because they are no answer."""
    from bptt_code import GRU_BPTT
    (tmp_path / "a_right_bptt.py").write_text("import torch\n" + GRU_BPTT)
    found = _functions_computing_an_answer(tmp_path, ["a_right_bptt"], ROOT)
    assert found == ["a_right_bptt.gru_bptt computes gru_bptt"]



# What a right answer to gru_cell, my_gru, gru_cell_grad, my_rnn or my_gru_layers is made of, read from
# the code (no call, no knob: a guard line a learner deletes changes nothing here). A function computes
# a recurrent step (a matmul and a sigmoid or tanh, as a step or its gradient by hand does), or runs a
# step over time: a loop that reaches torch's recurrent step (swap in one's own, and it is the answer:
# `_layers` was), or calls one of the function's own arguments on a slice taken at the loop's variable
# (`_unroll(cell, ...)`).
MATMULS = {"matmul", "mm", "bmm", "mv", "linear", "addmm", "addmv", "baddbmm", "einsum", "tensordot", "chain_matmul"}
SQUASHES = {"sigmoid", "tanh", "sigmoid_", "tanh_"}
RECURRENT_STEPS = {"gru_cell", "rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru", "rnn_tanh", "rnn_relu",
                   "lstm", "GRUCell", "RNNCell", "LSTMCell", "_VF"}
LOOPS = (ast.For, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp, ast.While)


def _names(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | \
        {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def _called(call):
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)


def _steps_over_time(function):
    params = {a.arg for a in function.args.args + function.args.kwonlyargs + function.args.posonlyargs}
    for loop in (n for n in ast.walk(function) if isinstance(n, LOOPS)):
        if isinstance(loop, ast.For):
            variables, body = _names(loop.target), loop.body
        elif isinstance(loop, ast.While):
            variables, body = set(), loop.body
        else:
            variables = set().union(*(_names(g.target) for g in loop.generators))
            body = [getattr(loop, "elt", None) or loop.value]
        for node in (n for statement in body for n in ast.walk(statement)):
            if (isinstance(node, ast.Name) and node.id in RECURRENT_STEPS) or \
                    (isinstance(node, ast.Attribute) and node.attr in RECURRENT_STEPS):
                return True
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in params and any(
                    isinstance(s, ast.Subscript) and _names(s.slice) & variables
                    for arg in node.args for s in ast.walk(arg)):
                return True
    return False


def answer_shaped_functions(path):
    """The functions of a module that compute a recurrent step or run one over time, by name. A step's
    squashing function may be a knob's value (`squash=torch.tanh`) or in a table: a matmul in a module
    that names sigmoid or tanh anywhere counts."""
    module = ast.parse(path.read_text())
    squashes = _names(module) & SQUASHES
    found = []
    for function in ast.walk(module):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        matmul = any((isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult)) or
                     (isinstance(n, ast.Call) and _called(n) in MATMULS) for n in ast.walk(function))
        if (matmul and squashes) or _steps_over_time(function):
            found.append(function.name)
    return found


# gru_bptt's slips are autograd through torch's own cell, in a reverse loop: no answer to a by-hand part,
# which refuses autograd (issue 15). Named here, so that a new function of that kind there is noticed.
BPTT_SLIPS = ["_reset_term", "_step_grads", "_bptt"]
# Runs each op a GRU answer uses once on the meta device (tensors without values), before the clock starts.
WARMS_META_UP = ["warm_up_meta"]


def test_no_module_of_the_wheel_holds_a_recurrent_step_or_a_loop_over_one(wheel):
    """Issue 15: nothing in the wheel computes a right answer, even with its guard lines deleted. Read
    from the code of every module the wheel ships: no GRU or RNN step (nor its gradient) written out,
    and no loop over time around a step, outside gru_bptt's autograd slips. nn.GRU itself (the truth)
    is torch's kernel, which every check refuses."""
    found = {p.relative_to(wheel).as_posix(): answer_shaped_functions(p) for p in (wheel / "gru_ref").rglob("*.py")}
    assert found.pop("gru_ref/assignments/gru_bptt.py") == BPTT_SLIPS
    assert found.pop("gru_ref/learner/sandbox.py") == WARMS_META_UP
    assert {name: functions for name, functions in found.items() if functions} == {}


def test_the_code_check_finds_the_mistakes_code_the_wheel_once_held():
    """The same reading finds every step and loop of the instructors' mistakes (the code that was the
    wheel's `_cell`, `_cell_grad`, `_rnn_step`, `_unroll`, `_state_not_carried` and `_layers`), the
    reference equations and a learner's right my_gru_layers: the test above can fail."""
    mistakes = PACKAGE / "reference" / "mistakes"
    assert answer_shaped_functions(mistakes / "steps.py") == ["gru_step", "gru_step_grad", "rnn_step"]
    assert answer_shaped_functions(mistakes / "loops.py") == ["unroll", "state_not_carried"]
    assert answer_shaped_functions(mistakes / "layers.py") == ["layers"]
    assert answer_shaped_functions(PACKAGE / "reference" / "equations.py")
    from layers_code import MY_GRU_LAYERS
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
        f.write(MY_GRU_LAYERS)
        f.flush()
        from pathlib import Path
        assert answer_shaped_functions(Path(f.name)) == ["gru_step"]


# The learners' edition's checker, alone on the path, as a check runs it (the judge's payload, the
# learner's side's case runner, the results file, the verdict), on each known mistake of the recurrent
# tasks and on right answers. The learner's functions are the instructors' mistakes, their code pasted
# in as a learner would paste code (right steps where they call torch's), so the wheel still has none.
NAME_EVERY_MISTAKE = r"""
import json, sys
# This machine's editable install of the course finds gru_ref's folders whatever gru_ref.__path__ says;
# a learner's machine has the wheel alone.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
import torch
import gru_ref.judge
from gru_ref import assignments
from gru_ref.judge import Judge
from gru_ref.judge.mistakes import computed_here
from gru_ref.learner import results, sandbox, tensorfile
assert gru_ref.judge.__file__.startswith(sys.argv[1]), gru_ref.judge.__file__
assert not computed_here()
given = json.loads(sys.stdin.read())


def define(sources):
    namespace = {"torch": torch}
    for source in sources:
        exec(source, namespace)
    return namespace


code = define(given["mistakes"])


def verdict(task, fn, parts=("quick",)):
    judge = Judge(task, parts, seed=1)
    index, data = judge.payload()
    payload = sandbox.payload_from(index, tensorfile.loads(data, results.MAX_ELEMENTS))
    data, descriptions = results.encode(sandbox.execute_cases(fn, payload))
    return judge.rule_encoded(data, descriptions, {}), sum(1 for c in index["cases"] if c.get("diagnosis"))


def as_learner(task, mistake):
    step, right = {"my_gru": (code["gru_step"], code["gru_cell"]), "my_rnn": (code["rnn_step"], code["rnn_cell"])}.get(
        task, (None, None))
    if task == "gru_cell":
        return lambda *a: code["gru_step"](*a, **mistake.knobs)
    if task == "gru_cell_grad":
        return lambda *a: code["gru_step_grad"](*a, **mistake.knobs)
    if task == "my_gru_layers":
        return lambda *a: code["layers"](*a, **mistake.knobs)
    if mistake.loop:
        return lambda *a: code["LOOPS"][mistake.loop](*a, cell=right)
    return lambda *a: code["unroll"](lambda *s: step(*s, **mistake.knobs), *a)


named, diagnosis_cases = {}, {}
for task in ("gru_cell", "my_gru", "gru_cell_grad", "my_rnn", "my_gru_layers"):
    for mistake in assignments.TASKS[task].mistakes:
        result, diagnosis_cases[task] = verdict(task, as_learner(task, mistake))
        named[f"{task}:{mistake.name}"] = [result.passed, result.diagnosis, result.message]
right = {task: verdict(task, define(sources)[task])[0].passed for task, sources in given["right"].items()}
for name, (task, source) in given["shapes"].items():  # the shapes mistakes, as learners write them
    result, diagnosis_cases[task] = verdict(task, define([source])[task], ("quick", "values"))
    named[f"{task}:{name}"] = [result.passed, result.diagnosis, result.message]
print(json.dumps({"named": named, "right": right, "diagnosis_cases": diagnosis_cases}))
"""

RNN_CELL = '''
def rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    return torch.tanh(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
'''


def _instructors_mistakes_as_pasted_code():
    """steps, loops and layers of gru_ref.reference.mistakes as one cell: their imports of each other
    dropped (one namespace), torch's GRU cell in the layers replaced by a learner's right one."""
    folder = PACKAGE / "reference" / "mistakes"
    sources = []
    for name in ("steps", "loops", "layers"):
        text = (folder / f"{name}.py").read_text()
        text = "\n".join(line for line in text.splitlines() if not line.startswith("from gru_ref.reference"))
        sources.append(text.replace("step = torch.gru_cell", "step = gru_cell"))
    return sources


def test_the_learners_edition_names_every_known_mistake(wheel):
    """Issue 15 items 2 and 5: from the wheel alone (no gru_ref.reference), the learners' checker names
    each known mistake of gru_cell, my_gru, gru_cell_grad, my_rnn and my_gru_layers (the reverse
    direction not flipped back, a step's mistake inside the layers with where it shows) and of the
    three shapes functions as the grader does, from its tables of the mistakes' outputs; right
    answers still pass."""
    from layers_code import MY_GRU_LAYERS
    from learner_code import GRU_CELL, GRU_CELL_GRAD, MY_GRU_WITH_CELL
    from rnn_code import MY_RNN
    from shapes_code import CONV, MLP, RNN, WRONG as SHAPES_WRONG
    from gru_ref.assignments import TASKS
    from gru_ref.reference.shapes_mistakes import SHAPE_MISTAKES
    assert not (wheel / "gru_ref" / "reference").exists()
    given = {"mistakes": [GRU_CELL, RNN_CELL, *_instructors_mistakes_as_pasted_code()],
             "right": {"gru_cell": [GRU_CELL], "my_gru": [GRU_CELL, MY_GRU_WITH_CELL], "gru_cell_grad": [GRU_CELL_GRAD],
                       "my_rnn": [MY_RNN], "my_gru_layers": [MY_GRU_LAYERS], "mlp_shapes": [MLP],
                       "conv2d_shapes": [CONV], "rnn_shapes": [RNN]},
             "shapes": SHAPES_WRONG}
    done = subprocess.run([sys.executable, "-c", NAME_EVERY_MISTAKE, str(wheel)], input=json.dumps(given),
                          capture_output=True, text=True, timeout=600, cwd=wheel,
                          env={"PYTHONPATH": str(wheel), "PATH": "/usr/bin:/bin", "HOME": str(wheel),
                               "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["right"] == dict.fromkeys(given["right"], True)
    assert seen["diagnosis_cases"] == {task: len(TASKS[task].diagnosis_cases) for task in given["right"]}
    recurrent = {key: value for key, value in seen["named"].items() if not key.split(":")[0].endswith("_shapes")}
    expected = {f"{task}:{m.name}": m.name for task in given["right"] for m in getattr(TASKS[task], "mistakes", ())}
    assert {key: diagnosis for key, (_, diagnosis, _) in recurrent.items()} == expected
    assert not [key for key, (passed, _, message) in recurrent.items()
                if passed or "matches none of the common mistakes" in message]
    # shapes: each named by its lesson, and the verdict by a named mistake's stable name
    lessons = {f"{m.task}:{m.name}": m.lesson for m in SHAPE_MISTAKES}
    assert set(lessons) == {f"{task}:{name}" for name, (task, _) in SHAPES_WRONG.items()}
    assert [key for key, lesson in lessons.items() if seen["named"][key][0]
            or f"Most likely mistake: {lesson}" not in seen["named"][key][2]] == []
    by_name = {m.name: m.lesson for m in SHAPE_MISTAKES}  # two lessons may be named ("Or: ..."): either
    assert [key for key in lessons if by_name.get(seen["named"][key][1], "?") not in seen["named"][key][2]] == []
    layers = seen["named"]
    assert "The reverse direction's outputs are in the order" in layers["my_gru_layers:reverse_not_rereversed"][2]
    assert "It shows in the reverse direction only" in layers["my_gru_layers:z_swapped_reverse_only"][2]


def test_every_mistake_shows_on_every_diagnosis_case_and_the_table_reads_back():
    """The diagnosis cases are rich enough: each known mistake of each diagnosed task is stored for
    every one of them (the table leaves out a mistake's outputs where they equal the truth, so that a
    right output never matches), and no two mistakes give the same outputs there."""
    import itertools
    import torch
    from gru_ref.judge import mistake_table
    from gru_ref.learner import tensorfile
    data = tensorfile.dumps(mistake_table.build())
    assert len(data) < 150_000
    path = ROOT / ".pytest_cache" / "mistake_table_roundtrip.st"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    tasks = mistake_table.diagnosed_tasks()
    assert sorted(t.name for t in tasks) == ["gru_cell", "gru_cell_grad", "my_gru", "my_gru_layers", "my_rnn"]
    for task in tasks:
        table = mistake_table.load(task, path)
        missing = [m.name for m in task.mistakes if None in table.outputs.get(m.name, [None])]
        assert missing == [], (task.name, missing)
        for a, b in itertools.combinations(task.mistakes, 2):
            assert any(not torch.allclose(x, y) for case_a, case_b in zip(table.outputs[a.name], table.outputs[b.name])
                       for x, y in zip(case_a, case_b)), (task.name, a.name, b.name)


def test_a_diagnosis_case_that_raises_does_not_stop_the_check():
    """The learners' edition runs its diagnosis cases first: a function that raises there (they are
    2 layers and bidirectional, say, where the learner's handles one) is still run on the judge's own
    cases; an exception on one of those stops the run, as before."""
    import torch
    from gru_ref.learner import sandbox

    def fn(x):
        if x.shape[0] == 3:
            raise ValueError("not this one")
        return x + 1

    spec = {"device": "cpu", "grad": False, "profile": False}
    case = {"spec": spec, "inputs": [torch.zeros(2)], "grad_outputs": None}
    bad = {"spec": spec, "inputs": [torch.zeros(3)], "grad_outputs": None}
    diagnosis = {**bad, "spec": {**spec, "diagnosis": True}}
    statuses = [r["status"] for r in sandbox.execute_cases(fn, {"output_count": 1, "cases": [diagnosis, case, bad, case]})]
    assert statuses == ["error", "ok", "error"]


@pytest.fixture
def learners_judge(monkeypatch, tmp_path):
    """A Judge as the learners' edition makes one: no mistakes' code, their table beside it."""
    from gru_ref.judge import judge, mistake_table
    from gru_ref.learner import tensorfile
    path = tmp_path / "mistake_table.st"
    path.write_bytes(tensorfile.dumps(mistake_table.build()))
    load = mistake_table.load
    monkeypatch.setattr(mistake_table, "load", lambda task: load(task, path))
    monkeypatch.setattr(judge, "computed_here", lambda: False)
    return judge.Judge


def test_the_grader_sends_no_diagnosis_case_and_the_learners_edition_does():
    """The diagnosis cases earn nothing and only name a mistake: the grader (mistakes' code installed)
    never sends them, so nothing of a learner's function on them can weigh in a grade."""
    from gru_ref.judge import Judge
    for name in ("gru_cell", "my_gru_layers"):
        judge = Judge(name, seed=1)
        assert judge.table is None
        assert not any(case.get("diagnosis") for case in judge.payload()[0]["cases"])


def test_a_function_stopped_on_a_diagnosis_case_is_told_that_case(learners_judge):
    """A learner's function that never returns on a diagnosis case (2 layers, bidirectional, batch
    first) is told the case it hung on, not the judge's next case, which never ran."""
    judge = learners_judge("my_gru_layers", seed=1)
    assert judge.table is not None
    for progress, case in enumerate(judge.table.cases):
        message = judge.rule(None, {"timed_out": True, "progress": progress}).message
        assert f"did not return within 10 s on a case with {case.describe(judge.task)}," in message
    first = judge.cases[0].describe(judge.task)
    assert first in judge.rule(None, {"timed_out": True, "progress": judge._diagnosis_count()}).message


def test_garbage_on_the_diagnosis_cases_changes_no_verdict(learners_judge):
    """A function that raises, returns a string, a huge tensor, a wrong shape, NaNs or a known mistake's
    outputs on the diagnosis cases only: a right function still passes, a wrong one still fails."""
    import torch
    from gru_ref.learner import results, sandbox, tensorfile
    from gru_ref.reference.equations import gru_cell
    judge = learners_judge("gru_cell", seed=1)
    diagnosis_x = [inputs["x_t"] for inputs in judge.table.inputs]

    def on_diagnosis(kind):
        return {"raise": lambda h: 1 / 0, "text": lambda h: "garbage", "huge": lambda h: torch.zeros(3_000_000),
                "shape": lambda h: torch.zeros(7, 7), "nan": lambda h: torch.full_like(h, float("nan")),
                "mistake": lambda h: torch.ones_like(h)}[kind]

    for kind in ("raise", "text", "huge", "shape", "nan", "mistake"):
        for offset, passes in ((0.0, True), (1e-2, False)):
            def fn(x, *rest, kind=kind, offset=offset):
                h = gru_cell(x, *rest)
                if any(x.shape == d.shape and torch.equal(x, d) for d in diagnosis_x):
                    return on_diagnosis(kind)(h)
                return h + offset
            index, data = judge.payload()
            payload = sandbox.payload_from(index, tensorfile.loads(data, results.MAX_ELEMENTS))
            encoded = results.encode(sandbox.execute_cases(fn, payload, run_case=sandbox._run_case))
            assert judge.rule_encoded(*encoded, {}).passed is passes, (kind, offset)
