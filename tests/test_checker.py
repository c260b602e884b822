"""The checker, end to end below nbgrader: learner code in, verdict and message out."""
import time

import pytest
import torch

from gru_ref import check_gru_cell, check_my_gru
from gru_ref.learner.check import RUN_TIMEOUT_S, judge_function
from gru_ref.judge import cases
from gru_ref.learner import results, tensorfile
from gru_ref.judge import Judge
from gru_ref.assignments.gru import GRAD_MISTAKES, MISTAKES

from conftest import IN_THE_LEARNERS_PROCESS, check_in_fresh_process, define
from learner_code import (CHEATS, CONTRACT, GRU_CELL, GRU_CELL_GRAD, MISBEHAVING, MY_GRU_BATCHED, MY_GRU_FLOAT64_INSIDE,
                          MY_GRU_LIST, MY_GRU_NOISY, MY_GRU_SLOW, MY_GRU_WITH_CELL, WRONG)

ALL_PARTS = ("contract", "quick", "values", "gradients", "devices")
LESSONS = {m.name: m.lesson for m in MISTAKES}
pytestmark = pytest.mark.usefixtures("forks_cleanly")


def my_gru(source):
    return define(GRU_CELL, source)["my_gru"]


def verdict(source, parts=ALL_PARTS):
    return judge_function("my_gru", my_gru(source), parts)


@pytest.mark.parametrize("source", [MY_GRU_WITH_CELL, MY_GRU_BATCHED, MY_GRU_FLOAT64_INSIDE, MY_GRU_SLOW,
                                    MY_GRU_NOISY, MY_GRU_LIST],
                         ids=["loop", "batched input projection", "float64 inside", "slow", "prints",
                              "a list where a tuple is asked"])
def test_correct_implementations_pass_every_part(source):
    result = verdict(source)
    assert result["passed"], result["message"]


def test_correct_gru_cell_passes_and_the_notebook_api_prints(capsys):
    check_gru_cell(define(GRU_CELL)["gru_cell"], *ALL_PARTS)
    check_my_gru(my_gru(MY_GRU_WITH_CELL))
    assert capsys.readouterr().out.count("Passed:") == 2


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_common_mistake_fails_with_its_own_lesson(name):
    result = verdict(WRONG[name], ("quick", "values"))
    assert not result["passed"]
    assert LESSONS[name] in result["message"]
    if name == "h_final_first_step":
        assert "output matches, but h_final does not" in result["message"]
    else:  # the first step already differs, except when only the carrying of the state is wrong
        t = 1 if name == "state_not_carried" else 0
        assert f"First difference: output[:, {t}] (time step {t})" in result["message"]


def test_a_wrong_gru_cell_gets_its_lesson():
    wrong = GRU_CELL.replace("n = torch.tanh(i_n + r * h_n)", "n = torch.tanh(i_n + h_n)")
    with pytest.raises(AssertionError, match="without the reset gate"):
        check_gru_cell(define(wrong)["gru_cell"], "quick")


@pytest.mark.parametrize("name, expected", [
    ("time-major", "It looks time-major (T, B, H)"),
    ("extra num_layers dimension", "extra num_layers dimension"),
    ("dtype float32", "has dtype float32, but the inputs are float64"),
    ("device hard-coded", "on the inputs' device"),
    ("detached", "cut off from autograd"),
])
def test_contract_device_and_gradient_mistakes_are_named(name, expected):
    result = verdict(CONTRACT[name])
    assert not result["passed"]
    assert expected in result["message"]


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_every_route_to_a_builtin_gru_gets_no_credit(name):
    result = verdict(CHEATS[name], ("quick",))
    assert not result["passed"]
    assert "built-in recurrent kernel" in result["message"]


@pytest.mark.parametrize("name", ["hangs", "sleeps"])
def test_a_hanging_function_fails_in_bounded_time(name):
    start = time.monotonic()
    result = verdict(MISBEHAVING[name], ("quick",))
    assert time.monotonic() - start < RUN_TIMEOUT_S + 5
    assert not result["passed"]
    assert f"did not return within {RUN_TIMEOUT_S:g} s" in result["message"]


@pytest.mark.parametrize("name, expected", [
    ("exits the process", "ended abruptly (exit code 3)"),
    ("segfaults", "ended abruptly (signal SIGSEGV)"),
    ("calls sys.exit", "called exit() or sys.exit()"),
    ("mutates its input", "changed its argument(s) initial_states in place"),
    ("raises", "got shapes that do not fit"),
    ("allocates without end", "It ran out of memory"),
    ("prints without end", "It printed far too much"),
])
def test_misbehaving_functions_fail_with_a_reason(name, expected):
    result = verdict(MISBEHAVING[name], ("quick",))
    assert not result["passed"]
    assert expected in result["message"]
    if name == "allocates without end":  # the class report's group: the limit, not "raises an exception"
        assert result["diagnosis"] == "out_of_memory", result


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_in_the_learners_process_built_in_grus_still_get_no_credit(name):
    # Where the kernel has started CUDA (a forked child could not use it) or has no fork (Windows),
    # the check runs in the learner's own process; afterwards their own nn.GRU works again.
    result = check_in_fresh_process(CHEATS[name], IN_THE_LEARNERS_PROCESS, ("quick",), after="builtin_grus_work()")
    assert not result["passed"]
    assert "built-in recurrent kernel" in result["message"]
    assert result["after"] is True


def test_in_the_learners_process_a_hanging_function_still_fails_in_bounded_time():
    start = time.monotonic()
    result = check_in_fresh_process(MISBEHAVING["hangs"], IN_THE_LEARNERS_PROCESS, ("quick",))
    assert time.monotonic() - start < RUN_TIMEOUT_S + 20  # the fresh process imports torch first
    assert f"did not return within {RUN_TIMEOUT_S:g} s" in result["message"]


def test_patching_the_checker_inside_the_function_changes_nothing():
    result = verdict(MISBEHAVING["patches the checker while it runs"], ("quick",))
    assert not result["passed"]
    assert torch.allclose is not None and torch.allclose(torch.zeros(1), torch.ones(1)) is False


def test_learner_exception_shows_their_code_not_ours():
    result = verdict(MISBEHAVING["raises"], ("quick",))
    assert "<answer cell>" in result["message"]
    assert "gru_ref" not in result["message"]


def test_notebook_api_raises_assertion_error_with_the_message():
    with pytest.raises(AssertionError, match="did not return within"):
        check_my_gru(my_gru(MISBEHAVING["hangs"]), "contract")
    with pytest.raises(AssertionError, match="is not a function"):
        check_my_gru(None)


def test_unreadable_results_are_a_failure_not_a_crash():
    judge = Judge("my_gru", ("quick",), seed=0)
    for junk in ("unreadable", [None]):
        result = judge.rule(junk, {"timed_out": False})
        assert not result.passed
        assert "could not be checked" in result.message
    empty = tensorfile.dumps({})
    for data, descriptions in ((b"junk", []), (b"\xff" * 64, [{"status": "ok"}]), (empty, "x"),
                               (empty, [{"status": "ok", "error": 3}]), (empty, [{"status": "ok"}] * 9)):
        result = judge.rule_encoded(data, descriptions, {"timed_out": False})
        assert not result.passed
        assert "could not be checked" in result.message


def forged(judge, records):
    """What a learner who replaced the case runner could send: descriptions and tensors of their making."""
    data, descriptions = results.encode(records)
    return judge.rule_encoded(data, descriptions, {"timed_out": False})


def test_a_function_that_ran_out_of_memory_is_told_so_even_if_the_record_could_not_close():
    # Exhausted memory can stop the record's own closing (CI saw it once): the lesson is the memory, and
    # the case fails either way, so a stopped record with an exception earns nothing.
    judge = Judge("my_gru", ("quick",), seed=0)
    error = {"status": "error", "exception": "RuntimeError", "error": "RuntimeError: ...",
             "text": "DefaultCPUAllocator: can't allocate memory: you tried to allocate 1073741824 bytes"}
    out_of_memory = forged(judge, [{**error, "record_stopped": True}] * len(judge.cases))
    assert not out_of_memory.passed and "It ran out of memory" in out_of_memory.message
    other = {**error, "text": "shapes cannot be multiplied", "record_stopped": True}
    stopped = forged(judge, [other] * len(judge.cases))
    assert not stopped.passed and "stopped the grader's record" in stopped.message


def test_forged_results_with_missing_outputs_or_gradients_fail():
    judge = Judge("my_gru", ("quick", "gradients"), seed=0)
    shapes = [judge.task.output_shapes(case) for case in judge.cases]
    described = [[("Tensor", shape, case.dtype, case.device) for shape in s.values()]
                 for case, s in zip(judge.cases, shapes)]
    no_outputs = [{"status": "ok", "returned": d, "returned_type": "tuple", "outputs": []} for d in described]
    assert "does not match what it returned" in forged(judge, no_outputs).message
    truth = [cases.expected(judge.task, case, inputs) for case, inputs in zip(judge.cases, judge.inputs)]
    no_grads = [{"status": "ok", "returned": d, "returned_type": "tuple", "requires_grad": [True, True],
                 "outputs": [t.to(case.torch_dtype) for t in want], "grads": []}
                for d, case, want in zip(described, judge.cases, truth)]
    assert "gradients" in forged(judge, no_grads).message and not forged(judge, no_grads).passed
    assert "stopped before all cases" in forged(judge, no_grads[:2]).message


def test_the_stretch_gradient_by_hand_passes_every_part():
    fn = define(GRU_CELL_GRAD)["gru_cell_grad"]
    verdict = judge_function("gru_cell_grad", fn, ("contract", "quick", "values", "devices"))
    assert verdict["passed"], verdict["message"]
    assert "autograd through torch.nn.GRUCell" in verdict["message"]


@pytest.mark.parametrize("mistake", GRAD_MISTAKES, ids=lambda m: m.name)
def test_each_slip_in_the_gradient_by_hand_gets_its_lesson(mistake):
    from gru_ref.assignments import TASKS
    from gru_ref.reference.mistakes import function
    verdict = judge_function("gru_cell_grad", function(TASKS["gru_cell_grad"], mistake), ("values",))
    assert not verdict["passed"]
    assert mistake.lesson in verdict["message"]


def test_the_gradient_by_hand_refuses_autograd():
    with_autograd = GRU_CELL + '''
def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
    h = h_prev.detach().requires_grad_()
    with torch.enable_grad():
        return torch.autograd.grad(gru_cell(x_t, h, w_ih, w_hh, b_ih, b_hh), h, grad_h_t)[0]
'''
    verdict = judge_function("gru_cell_grad", define(with_autograd)["gru_cell_grad"], ("quick",))
    assert not verdict["passed"] and "by hand" in verdict["message"]
    assert verdict["diagnosis"] == "autodiff_used"  # the report's group says so, not "gradients wrong"


# Autograd hidden from the grader's record, two ways: the profiler's class patched to record nothing in
# the learner's kernel, before the check (the record calls the profiler's C++ functions, captured at
# import), and the record stopped inside the function.
AUTOGRAD_BY_HAND = """
def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
{stop}    h = h_prev.detach().requires_grad_()
    with torch.enable_grad():
        return torch.autograd.grad(gru_cell(x_t, h, w_ih, w_hh, b_ih, b_hh), h, grad_h_t)[0]
"""


def test_autograd_hidden_by_a_patched_profiler_is_still_refused(monkeypatch):
    # In this (the kernel's) process, as a cell before the check would; monkeypatch undoes it after.
    monkeypatch.setattr(torch.autograd.profiler.profile, "__enter__", lambda self: self)
    monkeypatch.setattr(torch.autograd.profiler.profile, "__exit__", lambda self, *exc: False)
    source = GRU_CELL + AUTOGRAD_BY_HAND.format(stop="")
    verdict = judge_function("gru_cell_grad", define(source)["gru_cell_grad"], ("quick",))
    assert not verdict["passed"] and "by hand" in verdict["message"], verdict["message"]


def test_autograd_with_the_record_stopped_is_refused():
    stop = "    import torch.autograd.profiler as p\n    p._disable_profiler()\n"
    source = GRU_CELL + AUTOGRAD_BY_HAND.format(stop=stop)
    verdict = judge_function("gru_cell_grad", define(source)["gru_cell_grad"], ("quick",))
    assert not verdict["passed"] and "stopped the grader's record" in verdict["message"], verdict["message"]


# Autodiff by another door (issue 13): forward mode (dual tensors, however made) and complex-step
# differentiation compute the gradient without the chain rule written out; each is named in the refusal.
AUTODIFF_ROUTES = {
    "torch.func.jvp": ("""
def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
    cell = lambda h: (gru_cell(x_t, h, w_ih, w_hh, b_ih, b_hh) * grad_h_t).sum(dim=1)
    columns = [torch.func.jvp(cell, (h_prev,), (torch.eye(h_prev.shape[1], dtype=h_prev.dtype,
               device=h_prev.device)[j].expand_as(h_prev),))[1] for j in range(h_prev.shape[1])]
    return torch.stack(columns, dim=1)
""", ("forward-mode autodiff (", "aten::_make_dual")),
    "forward_ad dual numbers": ("""
import torch.autograd.forward_ad as fwAD

def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
    columns = []
    for j in range(h_prev.shape[1]):
        with fwAD.dual_level():
            tangent = torch.zeros_like(h_prev)
            tangent[:, j] = 1
            h_t = gru_cell(x_t, fwAD.make_dual(h_prev, tangent), w_ih, w_hh, b_ih, b_hh)
            columns.append((fwAD.unpack_dual(h_t).tangent * grad_h_t).sum(dim=1))
    return torch.stack(columns, dim=1)
""", ("forward-mode autodiff (", "aten::_make_dual")),
    "jacfwd and vmap": ("""
def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
    one = lambda x, h: gru_cell(x[None], h[None], w_ih, w_hh, b_ih, b_hh)[0]
    jacobians = torch.func.vmap(torch.func.jacfwd(one, argnums=1))(x_t, h_prev)  # (B, H, H)
    return torch.einsum("bi,bij->bj", grad_h_t, jacobians)
""", ("forward-mode autodiff (", "aten::_make_dual")),
    "complex step": ("""
def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
    step, c = 1e-30, lambda t: t.to(torch.complex128)
    columns = []
    for j in range(h_prev.shape[1]):
        h = c(h_prev) + 1j * step * torch.eye(h_prev.shape[1], dtype=torch.float64, device=h_prev.device)[j]
        h_t = gru_cell(c(x_t), h, c(w_ih), c(w_hh), c(b_ih), c(b_hh))
        columns.append((h_t.imag.to(h_prev.dtype) / step * grad_h_t).sum(dim=1))
    return torch.stack(columns, dim=1)
""", ("operators on complex numbers (complex128", "complex-step")),
    "torch.func.vjp": ("""
def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
    _, pull_back = torch.func.vjp(lambda h: gru_cell(x_t, h, w_ih, w_hh, b_ih, b_hh), h_prev)
    return pull_back(grad_h_t)[0]
""", ("ran autograd (",)),
}


@pytest.mark.parametrize("route", sorted(AUTODIFF_ROUTES))
def test_the_gradient_by_hand_refuses_autodiff_by_any_door(route):
    source, named = AUTODIFF_ROUTES[route]
    fn = define(GRU_CELL + source)["gru_cell_grad"]
    verdict = judge_function("gru_cell_grad", fn, ("contract", "quick", "values"))
    assert not verdict["passed"] and "by hand" in verdict["message"], verdict["message"]
    assert all(words in verdict["message"] for words in named), verdict["message"]


def test_a_gradient_by_hand_that_checks_itself_with_autograd_is_told_the_rule():
    # The rule (the notebook's Part 3): no autodiff anywhere inside gru_cell_grad, not even a check of
    # one's own result; the message says so, and where to compare instead.
    checks_itself = GRU_CELL_GRAD.replace("def gru_cell_grad(", "def by_hand(") + GRU_CELL + """
def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
    mine = by_hand(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t)
    h = h_prev.detach().requires_grad_()
    with torch.enable_grad():
        (autograd_says,) = torch.autograd.grad(gru_cell(x_t, h, w_ih, w_hh, b_ih, b_hh), h, grad_h_t)
    assert torch.allclose(mine, autograd_says)
    return mine
"""
    verdict = judge_function("gru_cell_grad", define(checks_itself)["gru_cell_grad"], ("quick",))
    assert not verdict["passed"], verdict["message"]
    assert "not even to check your result before returning it" in verdict["message"], verdict["message"]


def test_an_input_check_that_reads_values_is_shown_the_meta_case_by_the_visible_contract():
    # An isfinite check on the inputs lost 6 of 15 points on the hidden meta case (issue 13): the visible
    # contract test now runs one meta case and says what to do; skipped on meta, the check is fine.
    check = "    if not torch.isfinite(input).all():\n        raise ValueError('input has NaN or inf')\n"
    checks_values = MY_GRU_WITH_CELL.replace("    h = initial_states\n", check + "    h = initial_states\n")
    result = verdict(checks_values, ("contract",))
    assert not result["passed"] and "meta" in result["message"], result["message"]
    assert "skip them there: `if x.device.type != \"meta\"" in result["message"], result["message"]
    skips_meta = checks_values.replace("    if not torch.isfinite", "    if input.device.type != 'meta' and not torch.isfinite")
    assert "right shapes, dtype and device on 3 case(s) (cpu, float32, float64, meta)" in \
        verdict(skips_meta, ("contract",))["message"]
    result = verdict(skips_meta)
    assert result["passed"], result["message"]


def test_unknown_parts_are_refused_clearly():
    with pytest.raises(ValueError, match="unknown part"):
        Judge("my_gru", ("everything",))
