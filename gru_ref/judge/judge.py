"""Trusted: makes the cases, computes the truth with torch.nn, and rules on what came back.

Run as `python -I -m gru_ref.judge` by the notebook check, so that expected values are computed and
compared in a fresh process where the learner's code never ran (-I: no cwd, no PYTHONPATH, no user
site-packages, so a learner's `torch.py` beside the notebook is never imported here).
"""
import builtins
import dataclasses
import hashlib
import json
import os
import sys

import torch

from gru_ref import assignments
from gru_ref.assignments.shapes import diagnose as shape_diagnose
from gru_ref.judge import cases, diagnosis_names, mistake_table
from gru_ref.judge.mistakes import computed_here
from gru_ref.learner import results, tensorfile
from gru_ref.judge.diagnose import ERROR_HINTS, explain_error, explain_values, first_contract_problem

DEFAULT_PARTS = ("contract", "quick")
SIGNAL_CAUSES = {
    "SIGKILL": "It was killed from outside, most likely for using too much memory.",
    "SIGSEGV": "Native code crashed (ctypes, or a torch call on invalid memory).",
}


@dataclasses.dataclass
class Verdict:
    passed: bool
    message: str
    diagnosis: str = ""  # a failure's stable name (gru_ref.judge.diagnosis_names): what the class report groups by
    where: str = ""  # the first diverging tensor, where values were compared
    signature: str = ""  # a digest of the wrong outputs, on cases every learner shares (similarity)


class Judge:
    """shared: the cases are the same for every learner (a seed of the course, not of one learner), so
    that equal wrong outputs can be compared across submissions (Verdict.signature)."""

    def __init__(self, task_name, parts=DEFAULT_PARTS, seed=None, timeout_s=10.0, shared=False, vary_sizes=False):
        if task_name not in assignments.TASKS:
            raise ValueError(f"unknown task {task_name!r}; choose one of {sorted(assignments.TASKS)}")
        self.task = assignments.TASKS[task_name]
        unknown = [p for p in parts if p not in self.task.parts]
        if unknown:
            raise ValueError(f"unknown part(s) {unknown}; choose from {sorted(self.task.parts)}")
        parts = list(parts)
        if "devices" in parts and torch.cuda.is_available():
            parts.append("cuda")
        self.parts = parts
        self.timeout_s, self.shared, self._found, self._stopped_on = timeout_s, shared, {}, None
        seed = int.from_bytes(os.urandom(4), "little") if seed is None else seed
        generator = torch.Generator().manual_seed(seed)
        draw = getattr(self.task, "draw_cases", None)  # a task whose cases are random configurations
        self.cases = [case for part in parts for case in (draw(part, generator) if draw else self.task.parts[part])]
        if vary_sizes:  # a learner's own hidden cases: sizes of their own too (gru_ref.judge.secret)
            self.cases = [cases.varied(self.task, case, generator) for case in self.cases]
        self.inputs = [cases.make_inputs(self.task, case, generator) for case in self.cases]
        self.grad_outputs = [
            [torch.randn(shape, generator=generator, dtype=torch.float64).to(case.torch_dtype)
             for shape in self.task.output_shapes(case).values()] if case.grad else None
            for case in self.cases]
        self.table = self._diagnosis_table()
        self._diagnosis_records = []

    def _diagnosis_table(self):
        """The learners' edition's table of the task's mistakes (gru_ref.judge.mistake_table), where the
        mistakes' code is not installed and some case compares values; else None (the grader runs each
        mistake for real on the learner's case)."""
        if not getattr(self.task, "mistakes_in_reference", False) or computed_here():
            return None
        if not any(c.values and c.device != "meta" for c in self.cases):
            return None
        return mistake_table.load(self.task)

    def _all_cases(self):
        """The diagnosis cases first (they earn nothing; the learner's side runs them even where the
        function raises, gru_ref.learner.sandbox), then the judge's own."""
        diagnosis = [(dataclasses.replace(c, grad=False), inputs, None, True)
                     for c, inputs in zip(self.table.cases, self.table.inputs)] if self.table else []
        return diagnosis + [(c, inputs, grads, False)
                            for c, inputs, grads in zip(self.cases, self.inputs, self.grad_outputs)]

    def _diagnosis_count(self):
        return len(self.table.cases) if self.table else 0

    def payload(self):
        """What the learner's side needs to run the cases, data only: a JSON index and a tensor file's
        bytes (gru_ref.learner.tensorfile; sandbox.payload_from reads them back)."""
        task = self.task
        everything = self._all_cases()
        index = {"task": task.name, "arg_count": len(task.arg_names), "output_count": len(task.output_names),
                 "cases": [{**dataclasses.asdict(case), "arg_count": len(task.arg_names_for(case)),
                            "call": task.call_spec(case), "by_hand": bool(getattr(task, "by_hand", False)),
                            **({"diagnosis": True} if diagnosis else {})}
                           for case, _, _, diagnosis in everything]}
        tensors = {}
        for i, (case, inputs, grads, _) in enumerate(everything):
            tensors.update({f"{i}.in.{k}": inputs[n] for k, n in enumerate(task.arg_names_for(case))})
            tensors.update({f"{i}.gradout.{j}": g for j, g in enumerate(grads or ())})
        return index, tensorfile.dumps(tensors)

    def write_payload(self, path):
        index, data = self.payload()
        with open(path + ".tensors", "wb") as f:
            f.write(data)
        with open(path, "w") as f:
            json.dump(index, f)

    def rule_encoded(self, data, descriptions, status):
        """The verdict on results as they crossed from the learner's side (gru_ref.learner.results)."""
        if data is None:
            return self.rule(None, status)
        try:
            records = results.decode(data, descriptions, self._diagnosis_count() + len(self.cases))
        except results.BadResults as exc:
            return Verdict(False, f"{self.task.name} could not be checked: what came back from it was "
                                  f"not in the expected form ({exc}). Run the cell again; if this persists, "
                                  f"restart the kernel and run all cells.")
        return self.rule(records, status)

    def rule(self, records, status):
        self._found, self._stopped_on = {}, None
        if self.table:  # the diagnosis cases ran first: their records, and the progress, are not the judge's cases'
            if isinstance(records, list):
                self._diagnosis_records, records = records[:self._diagnosis_count()], records[self._diagnosis_count():]
            if isinstance(status.get("progress"), int):
                if status.get("timed_out") and 0 <= status["progress"] < self._diagnosis_count():
                    self._stopped_on = self.table.cases[status["progress"]]  # the case it hung on, not the next
                status = {**status, "progress": max(0, status["progress"] - self._diagnosis_count())}
        try:
            verdict = self._rule(records, status)
        except Exception as exc:  # a malformed results file, say: it is never a pass
            verdict = Verdict(False, f"{self.task.name} could not be checked: what came back from it "
                                     f"was not readable ({type(exc).__name__}). Run the cell again; if this "
                                     f"persists, restart the kernel and run all cells.")
        if not verdict.passed:
            verdict.where = self._found.get("where", "")
            verdict.signature = self._found.get("signature", "")
            verdict.diagnosis = diagnosis_names.name_of(self._own_words(verdict, records, status),
                                                        self.known_mistakes())
        return verdict

    def _own_words(self, verdict, records, status):
        """The failing message as the judge words it without the learner's own text (a traceback, an
        exception's text, a class's name): the diagnosis, and the instructor's comment that comes with
        it, is the judge's call; a learner raising an error that quotes a mistake's lesson is in no
        group of that mistake."""
        plain = _without_learner_text(records, _error_needles(self.task))
        if plain is records:
            return verdict.message
        try:
            return self._rule(plain, status).message
        except Exception:  # noqa: BLE001 (it failed above already: an unnamed failure)
            return ""

    def known_mistakes(self):
        """The mistakes this task's messages can name (shapes: those of its diagnose module)."""
        from_table = tuple(mistake_table.Named(m["name"], m["lesson"]) for m in getattr(self.table, "mistakes", ()))
        return tuple(getattr(self.task, "mistakes", ())) + tuple(shape_diagnose.SHAPE_MISTAKES) + from_table

    def _rule(self, records, status):
        name = self.task.name
        if status.get("timed_out"):
            case = self._stopped_on or self.cases[min(status.get("progress", 0), len(self.cases) - 1)]
            if hasattr(self.task, "timeout_message"):  # a task whose answer takes seconds (train_gru)
                return Verdict(False, self.task.timeout_message(case, self.timeout_s, len(self.cases)))
            return Verdict(False, f"{name} did not return within {self.timeout_s:g} s on a case with "
                                  f"{case.describe(self.task)}, so it was stopped. A correct answer "
                                  f"takes well under a second: look for a loop that never ends, or for work "
                                  f"{name} does not need (compiling it with torch.compile, for one, takes "
                                  f"longer than the limit).")
        if records is None:
            how = f"signal {status['signal']}" if status.get("signal") else f"exit code {status.get('exit_code')}"
            why = SIGNAL_CAUSES.get(status.get("signal"), "Does your code call exit(), os._exit() or "
                                                           "crash native code?")
            return Verdict(False, f"The process running {name} ended abruptly ({how}) before {name} "
                                  f"returned. {why} Return {self.task.returns} instead.")
        if not isinstance(records, list):
            raise TypeError("records are not a list")
        if len(records) == 0:
            return Verdict(False, f"{name} returned nothing for the grader to check.")
        if len(records) > len(self.cases):
            raise TypeError("more records than cases")
        for case, inputs, grads, result in zip(self.cases, self.inputs, self.grad_outputs, records):
            problem = self._rule_case(case, inputs, grads, result)
            if problem:
                return Verdict(False, problem)
        if len(records) < len(self.cases):
            return Verdict(False, f"{name} stopped before all cases were run.")
        if getattr(self.task, "answer_kind", None) == "ints":
            return Verdict(True, shape_diagnose.passed(self.task, self.cases))
        kinds = sorted({c.dtype for c in self.cases} | {c.device for c in self.cases})
        if hasattr(self.task, "passed_message"):  # train_gru: the accuracies reached
            message = self.task.passed_message(self.cases, self.inputs, records)
            if message:
                return Verdict(True, message)
        if not any(c.values for c in self.cases):
            return Verdict(True, f"{name} returns {self.task.returns} with the right shapes, dtype and "
                                 f"device on {len(self.cases)} case(s) ({', '.join(kinds)}).")
        what = "values and gradients" if any(c.grad for c in self.cases) else "values"
        return Verdict(True, f"{name} matches {self.task.truth}: {what} on "
                             f"{len(self.cases)} random case(s) ({', '.join(kinds)}).")

    def _rule_case(self, case, inputs, grad_outputs, result):
        task, where = self.task, f"On a case with {case.describe(self.task)}:"
        if getattr(task, "answer_kind", None) == "ints":  # the shapes assignment: plain ints, judged there
            named = (lambda part: self.table.lessons(task, part, self._diagnosis_records)) if self.table else None
            problem = shape_diagnose.rule_case(task, case, result, named)
            return problem and f"{where} {problem}"
        if result.get("builtin_ops"):
            return (f"{task.name} reached a built-in recurrent kernel ({', '.join(result['builtin_ops'])}), "
                    f"through {task.builtins} or a similar route. That earns no credit: write the "
                    f"equations yourself with {task.write_with}.")
        # A function that exhausted memory can starve the record's own closing: it fails either way, and
        # running out of memory is its lesson.
        if result.get("record_stopped") and not _out_of_memory(result):
            return (f"{task.name} stopped the grader's record of the operators it runs (a profiler of its "
                    f"own, or the grader's switched off or restarted). That earns no credit: leave the "
                    f"profiler alone in {task.name}, and stop any profiler you started before running the test.")
        if task.by_hand:
            autodiff = _autodiff_seen(result)
            if autodiff:
                return (f"{task.name} ran {autodiff}. This part asks for the gradient by hand, and no autodiff "
                        f"may run anywhere inside {task.name}, not even to check your result before returning "
                        f"it (compare with autograd outside the function, as the notebook's experiment cell "
                        f"does): {getattr(task, 'by_hand_hint', BY_HAND_HINT)}.")
        if result.get("status") == "error":
            return f"{where} {task.name} raised an exception.\n\n{result['error']}\n\n" + \
                explain_error(task, result)
        if "returned" not in result:
            return f"{where} {task.name} returned nothing the grader could read."
        problem = first_contract_problem(task, case, result) or _inconsistent(task, result)
        if problem:
            return f"{where} {problem}"
        if result.get("mutated"):
            names = ", ".join(task.arg_names_for(case)[i] for i in result["mutated"])
            return (f"{where} {task.name} changed its argument(s) {names} in place. Leave the inputs "
                    f"untouched: compute new tensors (h = ..., not h += ... or input[...] = ...).")
        if case.device == "meta" or not case.values:
            return None  # shapes, dtype and device only (meta tensors carry no values)
        if hasattr(task, "rule_outputs"):  # a task with no torch.nn truth to compare with (train_gru)
            problem = task.rule_outputs(case, inputs, result["outputs"])
            return f"{where} {problem}" if problem else None
        expected = cases.expected(task, case, inputs)
        named = (lambda: self.table.match(task, self._diagnosis_records)) if self.table else None
        problem = explain_values(task, case, inputs, result["outputs"], expected, self._found, named)
        if problem:
            if self.shared:
                self._found["signature"] = _signature(self.cases.index(case), result["outputs"])
            return f"{where} {problem}"
        if case.grad:
            return self._rule_grads(case, inputs, grad_outputs, result, where)
        return None

    def _rule_grads(self, case, inputs, grad_outputs, result, where):
        task = self.task
        if not all(result.get("requires_grad", [False])):
            return (f"{where} the result of {task.name} is cut off from autograd, so no gradient can "
                    f"flow back to the inputs and weights. Avoid .detach(), .data, .item(), .numpy(), "
                    f"torch.tensor(...) on results and torch.no_grad() inside the function.")
        if "grad_error" in result:
            return f"{where} backpropagating through {task.name} failed.\n\n{result['grad_error']}"
        if len(result.get("grads", ())) != len(task.arg_names_for(case)):
            return (f"{where} the gradients of {task.name}'s result could not be computed: "
                    f"backpropagate through plain torch operations.")
        expected = cases.expected_grads(task, case, inputs, grad_outputs)
        rtol, atol = cases.tolerances(case)
        for arg, got, want in zip(task.arg_names_for(case), result["grads"], expected, strict=True):
            if got is None:
                return (f"{where} no gradient reaches {arg}: it is unused, or used through .detach() "
                        f"or .data. nn.{task.module_name}'s output depends on every argument.")
            if got.shape != want.shape or not torch.allclose(got.double(), want, rtol=rtol * 10, atol=atol * 10):
                error = (got.double() - want).abs().max().item()
                return (f"{where} the values match {task.truth}, but the gradient with "
                        f"respect to {arg} does not (largest error {error:.2e}). Something in the "
                        f"function breaks autograd: in-place writes, .data, or a detached piece.")
        return None


# The type names the judge's words may carry (they decide `not attempted`, `returned a list`, ...); any
# other name is a learner's class and is read as "object".
KNOWN_TYPES = set(dir(builtins)) | {"NoneType", "Tensor", "Parameter"}


def _error_needles(task):
    """The phrases of an error's text that the judge's hints read (diagnose.ERROR_HINTS and the task's
    own): the judge's categories of an error, short and fixed, never a lesson."""
    return tuple(n for needles, _ in getattr(task, "error_hints", ()) + ERROR_HINTS for n in needles)


def _without_learner_text(records, needles=()):
    """The records with every text the learner's code wrote (results.TEXT_LIMITS: a traceback, an
    exception's text) emptied but for the fixed `needles` it holds (an error's category: "can't
    allocate memory" is a torch allocator's RuntimeError running out of memory), and a type name only
    where it is a built-in one. The same list where that changes nothing (a tuple returned, no
    error): the judge need not rule twice."""
    if not isinstance(records, list):
        return records
    plain = []
    for record in records:
        if isinstance(record, dict):
            record = {**record, **{k: "" for k in results.TEXT_LIMITS if k in record},
                      **{k: record[k] if record[k] in KNOWN_TYPES else "object"
                         for k in ("exception", "returned_type") if k in record},
                      **({"text": " ".join(n for n in needles if n in str(record["text"]))}
                         if "text" in record else {})}
            if "error" in record:
                record["error"] = record.get("exception", "")  # NotImplementedError: not attempted
        plain.append(record)
    same = all(not isinstance(a, dict) or all(a.get(k) == b.get(k) for k in results.TEXT_LIMITS)
               for a, b in zip(records, plain))
    return records if same else plain


# What a by-hand part's refusal of autodiff says to do instead (a task's by_hand_hint, where it has one).
BY_HAND_HINT = ("apply the chain rule step by step, from grad_h_t back through h_t = (1 - z) * n + z * h_prev "
                "and each gate")

# How the record names a complex dtype (c10's C++ type) -> torch's name for it.
COMPLEX_NAMES = {"c10::complex<double>": "complex128", "c10::complex<float>": "complex64",
                 "c10::complex<c10::Half>": "complex32"}


def _out_of_memory(result):
    text = f"{result.get('exception', '')} {result.get('text', '')}"
    return result.get("status") == "error" and any(
        needle in text for needle in ("MemoryError", "can't allocate memory", "not enough memory"))


def _autodiff_seen(result):
    """What a by-hand check saw of autodiff, in words, or "": autograd's engine (backward,
    torch.autograd.grad, torch.func.grad or vjp), forward mode's dual tensors (torch.func.jvp or
    jacfwd, torch.autograd.forward_ad) or a complex dtype (complex-step differentiation)."""
    if result.get("autograd_used"):
        return "autograd (backward, torch.autograd.grad, or torch.func's grad, vjp or jacrev)"
    if result.get("forward_ad_ops"):
        return (f"forward-mode autodiff ({', '.join(result['forward_ad_ops'])}: torch.func.jvp or jacfwd, or "
                f"torch.autograd.forward_ad's dual numbers)")
    if result.get("complex_dtypes"):
        dtypes = sorted({COMPLEX_NAMES.get(d, d) for d in result["complex_dtypes"]})
        return (f"operators on complex numbers ({', '.join(dtypes)}): complex-step differentiation is "
                f"autodiff too")
    return ""


def _signature(index, outputs):
    """A digest of wrong outputs on one shared case, to 6 significant digits: two answers with the
    same unusual bug give the same digest, whatever their code looks like."""
    digest = hashlib.sha256(str(index).encode())
    for tensor in outputs:
        digest.update(json.dumps([float(f"{v:.6g}") for v in tensor.double().flatten().tolist()]).encode())
    return digest.hexdigest()[:16]


def _inconsistent(task, result):
    """The returned tensors must be exactly the ones described: as many, of the same shapes and dtypes."""
    outputs = result.get("outputs", [])
    described = [r for r in result["returned"] if r[1] is not None]
    if len(outputs) != len(task.output_names) or len(described) != len(outputs) or any(
            tuple(t.shape) != r[1] or str(t.dtype).replace("torch.", "") != r[2]
            for t, r in zip(outputs, described)):
        return (f"what came back from {task.name} does not match what it returned ({len(outputs)} "
                f"tensor(s) for {len(task.output_names)} output(s)). Return plain tensors, and run the "
                f"test cell again.")
    return None


def rule_on_file(judge, results_path, status):
    """The verdict on what the learner's side wrote at results_path (a tensor file, its descriptions
    beside it as JSON), and the index of the case it was running when it stopped."""
    status = {**status, "progress": _read_progress(results_path + ".progress")}
    if not os.path.exists(results_path):
        return judge.rule(None, status)
    try:
        if os.path.getsize(results_path) > 8 * results.MAX_ELEMENTS + tensorfile.MAX_HEADER:
            raise ValueError("too large")
        with open(results_path, "rb") as f:
            data = f.read()
        with open(results_path + ".json") as f:
            descriptions = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return judge.rule("unreadable", status)  # rule() turns it into a clear failure
    return judge.rule_encoded(data, descriptions, status)


def _read_progress(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def serve(stdin=sys.stdin, stdout=sys.stdout):
    """Answer checks until stdin closes. Per check, two lines in and two out:
    {"task", "parts", "dir", "timeout"} -> {"cases": path}; {"results", "status"} -> verdict."""
    for line in stdin:
        request = json.loads(line)
        try:
            judge = Judge(request["task"], request["parts"], timeout_s=request["timeout"])
        except ValueError as exc:
            print(json.dumps({"error": str(exc)}), file=stdout, flush=True)
            continue
        cases_path = os.path.join(request["dir"], "cases.json")
        judge.write_payload(cases_path)
        print(json.dumps({"cases": cases_path}), file=stdout, flush=True)
        answer = json.loads(stdin.readline())
        verdict = rule_on_file(judge, answer["results"], answer["status"])
        print(json.dumps(dataclasses.asdict(verdict)), file=stdout, flush=True)


if __name__ == "__main__":
    serve()
