"""Run the learner's function on the judge's cases: in a child process, with a time limit.

This module runs on the learner's side. It records what came back (data and a description of its
type), never decides anything: the judge, in another process, compares and rules.
"""
import contextlib
import faulthandler
import json
import os
import re
import signal
import sys
import threading
import time
import traceback

import torch
from torch.autograd import profiler

from gru_ref.learner import results, shape_answers, tensorfile

# Any dispatcher op of a built-in recurrent kernel, whatever Python route reached it: aten::gru,
# aten::gru_cell, aten::rnn_tanh, aten::lstm, aten::mkldnn_rnn_layer, aten::_cudnn_rnn, quantized::quantized_gru...
# Only real operator namespaces: a learner's own record_function, jit function or autograd.Function
# may be called anything.
BUILTIN_RNN_OP = re.compile(r"^(aten|quantized|mkldnn|cudnn|miopen)::\S*(gru|rnn|lstm)", re.IGNORECASE)
# The aten ops switched off while grading: every one whose name has one of these (all recurrent kernels;
# no op a hand-written GRU or RNN needs has them: tests/test_rnn_checker.py checks).
REFUSED_OP_WORDS = ("gru", "rnn", "lstm")
# Their namespaces: aten's, and the quantized kernels (quantized::quantized_gru_cell_dynamic runs a GRU
# cell on prepacked weights), which no profiler sees where a training case runs without one.
REFUSED_OP_NAMESPACES = ("aten", "quantized", "mkldnn", "cudnn", "miopen")
# Forward-mode autodiff: every dual tensor (torch.func.jvp, jacfwd, torch.autograd.forward_ad) is made and
# read through these operators. A by-hand gradient's check refuses them, as it refuses autograd's engine.
FORWARD_AD_OP = re.compile(r"^aten::(_make_dual|_unpack_dual|_fw_primal)")
# Captured at import, so that later rebinding of these names in the learner's process changes nothing here.
_PREPARE_PROFILER, _ENABLE_PROFILER, _DISABLE_PROFILER = (torch._C._autograd._prepare_profiler,
                                                       torch._C._autograd._enable_profiler,
                                                       torch._C._autograd._disable_profiler)
_PROFILER_CONFIG, _ALL_THREADS, _NOW_NS = (profiler.ProfilerConfig, torch._C._profiler._ExperimentalConfig,
                                          time.time_ns)
_KINETO, _CPU = profiler.ProfilerState.KINETO, torch._C._profiler.ProfilerActivity.CPU
_MARK_IN, _MARK_OUT = (torch._C._autograd._record_function_with_args_enter,
                       torch._C._autograd._record_function_with_args_exit)
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # gru_ref/: our frames, hidden from tracebacks
# torch.cuda.is_available() starts the CUDA driver, which no forked child can use after that; asking
# NVML instead keeps the learner's later availability checks fork-safe (setdefault: theirs wins).
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")


class Deadline(BaseException):
    """Raised into the learner's function when it runs out of time (in-process fallback only)."""


def disable_builtin_grus():
    """Make every built-in GRU, RNN and LSTM refuse to run in this process, for good: called before
    any learner code where the checks run it (the forked child, the grading sandbox). Nothing keeps a Python
    reference to what could undo it: no object to call undo() on, no Library for gc to find."""
    global _LOCKDOWN
    if _LOCKDOWN is None:
        _Lockdown(permanent=True)
        _LOCKDOWN = True


@contextlib.contextmanager
def builtin_grus_disabled():
    """The same for the duration of a check in the learner's own kernel (the in-process fallback):
    their nn.GRU works again afterwards."""
    if _LOCKDOWN is not None:
        yield
        return
    lockdown = _Lockdown()
    try:
        yield
    finally:
        lockdown.undo()


class _Lockdown:
    """Built-in recurrent layers refuse to run, from any thread and any Python route: the dispatcher
    kernels of each op of REFUSED_OP_NAMESPACES with "gru", "rnn" or "lstm" in its name, their Python
    kernels, and torch._decomp's Python GRU, RNN and LSTM."""
    DECOMPOSITIONS = ("gru_impl", "gru_impl_data", "gru_cell", "gru_cell_data", "_rnn_helper", "one_layer_rnn",
                      "one_layer_rnn_data", "rnn_cell", "rnn_cell_data", "rnn_tanh_input", "rnn_tanh_data",
                      "rnn_relu_input", "rnn_relu_data", "lstm_impl", "lstm_data_impl", "lstm_cell",
                      "one_layer_lstm", "one_layer_lstm_data")

    def __init__(self, permanent=False):
        import warnings
        import torch._decomp.decompositions as decompositions
        self.decompositions = decompositions
        # The registrations last as long as this C++ handle. A permanent one is leaked on purpose
        # (its reference count raised, no Python name kept): nothing in Python can reset it.
        self.libraries = {}  # namespace -> the C++ handle of our registrations in it
        self.py_kernels = []  # (op, its Python kernels before)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "overriding a previously registered kernel": the point
            for name in torch._C._dispatch_get_all_op_names():
                namespace, _, op_name = name.partition("::")
                if namespace in REFUSED_OP_NAMESPACES and any(word in op_name for word in REFUSED_OP_WORDS):
                    self._refuse_op(name)
        self.decomposed = {name: getattr(decompositions, name) for name in self.DECOMPOSITIONS
                           if hasattr(decompositions, name)}
        for name in self.decomposed:
            setattr(decompositions, name, _refusal(f"torch._decomp's {name}"))
        if permanent:
            import ctypes
            for library in self.libraries.values():
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(library))
            self.libraries = self.py_kernels = self.decomposed = None

    def _refuse_op(self, name):
        namespace, _, op_name = name.partition("::")
        if namespace not in self.libraries:
            self.libraries[namespace] = torch._C._dispatch_library("IMPL", namespace, "", __file__, 0)
        if torch._C._dispatch_has_kernel_for_dispatch_key(name, "CompositeImplicitAutograd"):
            keys = ["CompositeImplicitAutograd"]
        else:
            keys = ["Autograd", "CPU", "CUDA", "Meta"]
        for key in keys:
            self.libraries[namespace].impl(op_name, key, _refusal(name), False)
        packet, _, overload = op_name.partition(".")
        op = getattr(getattr(getattr(torch.ops, namespace), packet), overload or "default")
        self.py_kernels.append((op, dict(op.py_kernels)))
        for key in list(op.py_kernels):
            op.py_kernels[key] = _refusal(name)
        op._dispatch_cache.clear()

    def undo(self):
        for library in self.libraries.values():
            library.reset()  # the dispatcher falls back to the kernels registered before
        for op, before in self.py_kernels:
            op.py_kernels.clear()
            op.py_kernels.update(before)
            op._dispatch_cache.clear()
        for name, function in self.decomposed.items():
            setattr(self.decompositions, name, function)


def _refusal(name):
    def refuse(*args, **kwargs):
        REFUSED.append(name)  # seen by the case runner even when a thread swallows the error
        raise RuntimeError(f"{name} is disabled while grading: write the equations yourself")
    return refuse


_LOCKDOWN = None
REFUSED = []  # the built-in recurrent kernels the learner's function tried to run


def describe(value):
    """(kind, shape, dtype, device) of one returned value, as plain data the judge can read."""
    if isinstance(value, torch.Tensor):
        if value.is_nested or value.layout != torch.strided:  # no plain shape: the judge says what it is
            kind = "nested tensor" if value.is_nested else f"{str(value.layout).replace('torch.', '')} tensor"
            return (kind, None, None, value.device.type)
        kind = "Tensor" if type(value) is torch.Tensor else type(value).__name__
        return (kind, tuple(value.shape), str(value.dtype).replace("torch.", ""), value.device.type)
    return (type(value).__name__, None, None, None)


def _learner_traceback(exc):
    """The learner's part of a traceback: our frames are noise to them."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(PACKAGE_DIR)]
    lines = traceback.format_list(frames[-6:]) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


def _run_case(fn, output_count, case, own=None):
    # own: the references this holds, bound at import (see _OWN): patching this module changes nothing.
    _TorchOps, REFUSED, BUILTIN_RNN_OP, describe, _storable, _learner_traceback, _run_plain_case = own
    spec = case["spec"]
    if "answer" in (spec.get("call") or {}):  # plain arguments in, ints out: the shapes assignment
        return _run_plain_case(fn, spec["call"])
    device = spec["device"]
    try:
        args = [t.to(device) for t in case["inputs"]]
    except Exception as exc:  # not the learner's doing: say so, and let the judge fail the case
        return {"status": "error", "error": f"The grader could not put the inputs on {device}: {exc}",
                "exception": type(exc).__name__, "text": str(exc)[:500], "builtin_ops": []}
    if spec["grad"]:
        args = [a.detach().requires_grad_() for a in args]
    snapshot = [a.detach().clone() for a in args]
    record = {"status": "ok"}
    REFUSED.clear()
    # The record of operators run (built-in kernels, autograd) that patching the profiler cannot blind.
    # A training run would make it record a million events, and on the meta device (shapes only) it
    # costs three times the case itself: such cases go without it, except where a by-hand gradient must
    # show that no autodiff ran. The switch-off still refuses every built-in recurrent kernel, on any
    # device, and REFUSED names it. A by-hand gradient's record also keeps the dtypes operators saw: a
    # complex one is complex-step autodiff.
    by_hand = spec.get("by_hand", False)
    recorded = spec.get("profile", True) and (by_hand or spec.get("device") != "meta")
    recorder = _TorchOps(dtypes=by_hand) if recorded else None
    try:
        if "torch_seed" in spec:  # train_gru: each check is one retrain under the case's fixed seed
            torch.manual_seed(spec["torch_seed"])
        with recorder or contextlib.nullcontext():
            try:
                call = spec.get("call")
                if call:  # my_gru_layers(input, h0, weights, num_layers, bidirectional, batch_first)
                    returned = fn(*args[:call["list_from"]], list(args[call["list_from"]:]), *call["extra"])
                else:
                    returned = fn(*args)
            except Deadline:
                raise
            except BaseException as exc:  # SystemExit and KeyboardInterrupt included: the learner's doing
                record = {"status": "error", "error": _learner_traceback(exc), "exception": type(exc).__name__,
                          "text": str(exc)[:500]}
            # Here, inside the record, the exception and its frames are gone, and with them whatever the
            # function held: a MemoryError's hoard no longer starves the record's own closing.
    except Deadline:
        raise
    except BaseException as exc:  # the record itself could not start or close
        record = {"status": "error", "error": _learner_traceback(exc), "exception": type(exc).__name__,
                  "text": str(exc)[:500]}
    names = recorder.names if recorder is not None else set()
    record["builtin_ops"] = sorted({n for n in names if BUILTIN_RNN_OP.search(n)} | set(REFUSED))
    record["autograd_used"] = any(n.startswith("autograd::engine") for n in names)
    record["forward_ad_ops"] = sorted(n for n in names if FORWARD_AD_OP.search(n))[:10]
    record["complex_dtypes"] = sorted(recorder.complex_dtypes)[:10] if recorder is not None else []
    if _TorchOps.STOPPED in names:
        record["record_stopped"] = True
    if record["status"] == "error":
        return record
    if output_count == 1:  # gru_cell returns one tensor, not a tuple
        items = [returned]
        record["returned"] = [describe(returned)]
    else:
        items = list(returned) if isinstance(returned, (tuple, list)) else [returned]
        record["returned"] = [describe(v) for v in items]
        # A namedtuple is a tuple: `return Result(output, h_final)` is a fine answer.
        record["returned_type"] = "tuple" if isinstance(returned, tuple) else type(returned).__name__
    changed = [i for i, (a, s) in enumerate(zip(args, snapshot))
               if a.shape != s.shape or (device != "meta" and not torch.equal(a.detach(), s))]
    record["mutated"] = changed
    # Only what the tensor file can carry: a complex, quantized, sparse or meta (on a CPU case) result is
    # left out, and its description alone fails the case with a reason, instead of crashing the run.
    tensors = [v for v in items if isinstance(v, torch.Tensor) and _storable(v, device)]
    record["outputs"] = [v.detach() if device == "meta" else v.detach().cpu().clone() for v in tensors]
    if spec["grad"] and tensors and len(tensors) == len(items):
        record["requires_grad"] = [bool(v.requires_grad) for v in tensors]
        if all(record["requires_grad"]):
            try:
                grad_outputs = [g.to(device) for g in case["grad_outputs"]]
                if [tuple(v.shape) for v in tensors] == [tuple(g.shape) for g in grad_outputs]:
                    grads = torch.autograd.grad(tensors, args, grad_outputs, allow_unused=True)
                    record["grads"] = [None if g is None else g.detach().cpu() for g in grads]
            except Exception as exc:
                record["grad_error"] = _learner_traceback(exc)
    return record


def _storable(tensor, device):
    return (not tensor.is_nested and tensor.layout == torch.strided and tensor.dtype in tensorfile.CODES
            and (tensor.device.type != "meta" or device == "meta"))


def _run_plain_case(fn, call, own=None):
    """fn(*call["args"]) -> an answer of ints in call["answer"]'s layout, as int64 tensors
    (gru_ref.learner.shape_answers). Every torch operator it runs, in any thread, is recorded: these answers
    are arithmetic, and the judge refuses one that builds the module or runs it to read the answer off."""
    _TorchOps, REFUSED, BUILTIN_RNN_OP, describe, _, _learner_traceback, _ = own  # as in _run_case
    record, returned, ops = {"status": "ok"}, None, _TorchOps()
    args = [tuple(a) if i in call.get("tuples", ()) else a for i, a in enumerate(call["args"])]  # JSON has no tuple
    REFUSED.clear()
    try:
        with ops:
            returned = fn(*args)
    except Deadline:
        raise
    except BaseException as exc:  # the learner's doing, as in _run_case
        record = {"status": "error", "error": _learner_traceback(exc), "exception": type(exc).__name__,
                  "text": str(exc)[:500]}
    record["torch_ops"] = sorted(n for n in ops.names if "::" in n and n != ops.STOPPED)[:20]
    record["builtin_ops"] = sorted({n for n in ops.names if BUILTIN_RNN_OP.search(n)} | set(REFUSED))
    if ops.STOPPED in ops.names:  # one field for a stopped record, as in _run_case
        record["record_stopped"] = True
    if record["status"] == "ok":
        try:
            record["outputs"] = shape_answers.encode(returned, call["answer"])
            record["returned"] = [describe(t) for t in record["outputs"]]
        except shape_answers.Unreadable as exc:
            record["malformed"] = str(exc)
        except Exception as exc:  # an answer built to break the reading: it fails, with a reason
            record["malformed"] = f"it could not be read ({type(exc).__name__})"
    return record


class _TorchOps:
    """The names of the torch operators run while inside, in every thread of the process (a thread
    pool started in an earlier cell included), and with dtypes=True the complex dtypes they saw. It calls the profiler's C++ functions, captured at
    import: patching torch.autograd.profiler's class or names changes nothing here. A recording that
    the learner's code stopped, restarted or switched off in its own thread (a mark of ours made on the
    way out is missing) is reported as an operator of its own, "profiler::stopped": the case's record then
    says record_stopped, which fails it.
    A speed bump, not a wall: code in this process that switches recording off and on again around its
    torch calls goes unseen here; gru_ref.grading.integrity flags the names it needs."""
    STOPPED, MARK = "profiler::stopped", "gru_ref::mark"

    def __init__(self, dtypes=False):
        self.names, self.started_ns, self.dtypes = set(), None, dtypes
        self.complex_dtypes = set()  # with dtypes: the complex ones any operator saw ("c10::complex<double>")

    def __enter__(self, profiler=None):
        _PROFILER_CONFIG, _KINETO, _ALL_THREADS, _PREPARE_PROFILER, _ENABLE_PROFILER, _CPU, _NOW_NS, _, _, _ = profiler
        config = _PROFILER_CONFIG(_KINETO, self.dtypes, False, False, False, False,
                                  _ALL_THREADS(profile_all_threads=True))
        try:
            _PREPARE_PROFILER(config, {_CPU})
            _ENABLE_PROFILER(config, {_CPU})
        except RuntimeError:  # a profiler the learner's code left running: ours cannot start
            return self
        self.started_ns = _NOW_NS()
        return self

    def __exit__(self, exc_type=None, exc=None, tb=None, profiler=None):
        *_, _NOW_NS, _MARK_IN, _MARK_OUT, _DISABLE_PROFILER = profiler
        self.names = {self.STOPPED}
        if self.started_ns is None:
            return False
        _MARK_OUT(_MARK_IN(self.MARK, None))
        try:
            result = _DISABLE_PROFILER()  # with none running: an empty result (no mark), and a warning
            events = result.events()
            names = {event.name() for event in events}
            complex_dtypes = {d for event in events for d in event.dtypes() if "complex" in d} if self.dtypes else set()
        except RuntimeError:
            return False
        # Ours, unless the learner's code stopped it and started one of its own later.
        if self.MARK in names and 0 < result.trace_start_ns() <= self.started_ns:
            self.names, self.complex_dtypes = names - {self.MARK}, complex_dtypes
        return False


def execute_cases(fn, payload, records=None, on_case=None, run_case=None):
    """Run fn on every case, appending to records (kept when a deadline cuts the run short); stop at
    the first exception (the judge reports the first failure), but not at one on a diagnosis case (the
    learners' edition's, which come first and earn nothing). on_case(index) before each case."""
    records = [] if records is None else records
    for index, case in enumerate(payload["cases"]):
        if on_case:
            on_case(index)
        record = run_case(fn, payload["output_count"], case)
        records.append(record)
        if record["status"] != "ok" and case["spec"].get("diagnosis") is not True:
            break
    return records


# What the case runner and its record of torch operators hold, bound at import (before any learner
# code) as default arguments: a tuple no code can change, on functions whose __defaults__ the grading
# box refuses to set (gru_ref.grading.native_guard). Rebinding this module's names (through
# pkgutil.resolve_name, importlib or a frame's globals) changes nothing in a check.
_TorchOps.__enter__.__defaults__ = ((_PROFILER_CONFIG, _KINETO, _ALL_THREADS, _PREPARE_PROFILER, _ENABLE_PROFILER,
                                     _CPU, _NOW_NS, _MARK_IN, _MARK_OUT, _DISABLE_PROFILER),)
_TorchOps.__exit__.__defaults__ = (None, None, None) + _TorchOps.__enter__.__defaults__
_OWN = (_TorchOps, REFUSED, BUILTIN_RNN_OP, describe, _storable, _learner_traceback, _run_plain_case)
_run_case.__defaults__ = _run_plain_case.__defaults__ = (_OWN,)
execute_cases.__defaults__ = (None, None, _run_case)


def _write_progress(path):
    def on_case(index):
        with open(path, "w") as f:
            f.write(str(index))
    return on_case


def _on_cuda(payload):
    return any(case["spec"]["device"] == "cuda" for case in payload["cases"])


def exact_float32_on_cuda(payload):
    if _on_cuda(payload):
        # Compare exact float32 on CUDA: TF32 matmuls differ from nn.GRU by far more than rounding.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


def _serve(fn, payload, results_path):
    exact_float32_on_cuda(payload)
    records = execute_cases(fn, payload, on_case=_write_progress(results_path + ".progress"))
    data, descriptions = results.encode(records)
    with open(results_path + ".part", "wb") as f:
        f.write(data)
    with open(results_path + ".json", "w") as f:
        json.dump(descriptions, f)
    os.replace(results_path + ".part", results_path)


def load_payload(path):
    """The judge's cases: {"task", "cases": [{"spec", "inputs", "grad_outputs"}]}, from a JSON index
    beside a tensor file (tensors never travel as pickles)."""
    with open(path) as f:
        index = json.load(f)
    with open(path + ".tensors", "rb") as f:
        tensors = tensorfile.loads(f.read(), results.MAX_ELEMENTS)
    return payload_from(index, tensors)


def payload_from(index, tensors):
    cases = []
    for i, spec in enumerate(index["cases"]):
        inputs = [tensors[f"{i}.in.{k}"] for k in range(spec.get("arg_count", index["arg_count"]))]
        grads = [tensors[f"{i}.gradout.{j}"] for j in range(index["output_count"])] if spec["grad"] else None
        cases.append({"spec": spec, "inputs": inputs, "grad_outputs": grads})
    return {"task": index["task"], "output_count": index["output_count"], "cases": cases}


def run(fn, cases_path, results_path, timeout_s):
    """Run fn on the cases in a forked child; returns how the child ended, as plain data."""
    warm_up_meta()
    start = time.monotonic()
    if not hasattr(os, "fork") or cuda_started_here():
        # No fork here (Windows), or CUDA started, which a forked child can use neither for CUDA nor
        # for autograd: run in this process.
        return _run_in_process(fn, cases_path, results_path, timeout_s, start)
    log_path = results_path + ".log"
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's (Jupyter's) event loop
        code = 70
        try:
            os.setpgid(0, 0)
            _silence(log_path)
            torch.set_num_threads(1)  # OpenMP's pool does not survive fork
            disable_builtin_grus()
            payload = load_payload(cases_path)
            _limit_resources(payload)
            _serve(fn, payload, results_path)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return _wait(pid, timeout_s, start)


def cuda_started_here():
    """Whether this process has started CUDA: torch's context, or only the driver, which
    torch.cuda.is_available() without NVML, the profiler, and autograd's first backward on a GPU
    machine all start. After that a forked child cannot use CUDA, and autograd refuses to run in it."""
    if torch.cuda.is_initialized():
        return True
    if torch.version.cuda is None:
        return False
    try:
        import ctypes
        count = ctypes.c_int()
        # Answers CUDA_ERROR_NOT_INITIALIZED (3), and starts nothing, until something has started it.
        return ctypes.CDLL("libcuda.so.1").cuDeviceGetCount(ctypes.byref(count)) == 0
    except (OSError, AttributeError):
        return False  # no driver: nothing can have started it


def warm_up_meta():
    """The first use of each op on the meta device loads PyTorch's Python meta kernels (about 2 s in
    all). Run the ops a GRU answer uses on meta tensors once here, before forking or grading, so that
    the time limit measures only the learner's code."""
    global _META_READY
    if not _META_READY:
        B, T, F, H = 2, 2, 3, 4
        x, h = torch.empty(B, T, F, device="meta"), torch.empty(B, H, device="meta")
        w_ih, w_hh, b = (torch.empty(3 * H, F, device="meta"), torch.empty(3 * H, H, device="meta"),
                         torch.empty(3 * H, device="meta"))
        projected = x[:, 0] @ w_ih.T + b + torch.addmm(b, h, w_hh.t())  # (B, 3H)
        parts = [*projected.chunk(3, dim=-1), *projected.split(H, dim=1), *projected.unbind(-1)]
        gates = [torch.sigmoid(parts[0]), torch.tanh(parts[1]), 1 - parts[2], parts[0] * parts[1]]
        torch.stack(gates, dim=1), torch.cat(gates, dim=-1), h.new_zeros(B, T, H), torch.zeros_like(h)
        torch.einsum("bf,gf->bg", x[:, 0], w_ih), x.unbind(1), x.transpose(0, 1), torch.matmul(h, w_hh.T)
        _META_READY = True


_META_READY = False


MEMORY_HEADROOM = 4 << 30  # bytes the learner's function may allocate beyond what the process has
OUTPUT_LIMIT = 64 << 20  # bytes it may print (to a file nobody reads: the grade ignores prints)


def _limit_resources(payload):
    """Bound what a forked child may take, so that a runaway answer fails alone instead of
    starving the learner's kernel or filling the disk. Linux only; CUDA maps too much address space
    for an address-space limit, so cases on CUDA go without one."""
    if not _on_cuda(payload):
        # No case needs the GPU: hide it. Under the address-space limit CUDA cannot start (it fails as
        # "out of memory"), and a CPU case can start it unasked: Adam's step() asks CUDA whether a
        # graph is being captured.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    try:
        import resource
        with open("/proc/self/statm") as f:
            in_use = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        return
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT, OUTPUT_LIMIT))
    if not _on_cuda(payload):
        resource.setrlimit(resource.RLIMIT_AS, (in_use + MEMORY_HEADROOM, resource.RLIM_INFINITY))


def _silence(log_path):
    """The child's prints go to a file: the parent's Jupyter streams belong to threads it lacks."""
    faulthandler.disable()  # a test runner's handler would write a crash report to the parent's stderr
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr = open(log_path, "a", buffering=1)


def _wait(pid, timeout_s, start):
    status = {"timed_out": False, "exit_code": None, "signal": None}
    while True:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > timeout_s:
            status["timed_out"] = True
            _kill_group(pid)
            _, wait_status = os.waitpid(pid, 0)
            break
        time.sleep(0.005)
    _kill_group(pid)  # whatever the learner's code left running
    if os.WIFSIGNALED(wait_status) and not status["timed_out"]:
        status["signal"] = signal.Signals(os.WTERMSIG(wait_status)).name
    elif os.WIFEXITED(wait_status):
        status["exit_code"] = os.WEXITSTATUS(wait_status)
    status["seconds"] = round(time.monotonic() - start, 3)
    return status


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _run_in_process(fn, cases_path, results_path, timeout_s, start):
    status = {"timed_out": False, "exit_code": 0, "signal": None, "in_process": True}

    def on_alarm(signum, frame):
        raise Deadline()

    can_alarm = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, on_alarm) if can_alarm else None
    if can_alarm:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with builtin_grus_disabled():
            _serve(fn, load_payload(cases_path), results_path)
    except Deadline:
        status["timed_out"] = True
    except BaseException as exc:
        status["exit_code"] = 70
        status["error"] = _learner_traceback(exc)
    finally:
        if can_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    status["seconds"] = round(time.monotonic() - start, 3)
    return status

