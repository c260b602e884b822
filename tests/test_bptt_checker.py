"""gru_bptt's check below nbgrader: backpropagation through time by hand, learner code in, verdict and
message out. The right answers pass, each common slip is named, autodiff inside gets no credit, and
the slips the checker ships (computed by autograd through torch's cell) are no answer either."""
import pytest
import torch

from gru_ref.assignments.gru_bptt import BPTT_MISTAKES, RIGHT_BPTT_KNOBS, TASKS, _bptt
from gru_ref.judge import Judge
from gru_ref.judge.cases import Case, make_inputs
from gru_ref.learner.check import judge_function

from bptt_code import GRU_BPTT, GRU_BPTT_LOOP, SLIPS, WITH_AUTOGRAD, WITH_FUNC_VJP
from conftest import define
from learner_code import GRU_CELL

ALL_PARTS = ("contract", "quick", "values", "devices")
pytestmark = pytest.mark.usefixtures("forks_cleanly")


def verdict(source, parts=ALL_PARTS):
    return judge_function("gru_bptt", define(source)["gru_bptt"], parts)


@pytest.mark.parametrize("source", [GRU_BPTT, GRU_BPTT_LOOP], ids=["batched weights", "loop"])
def test_right_answers_pass_every_part(source):
    result = verdict(source)
    assert result["passed"], result["message"]
    assert "matches autograd through torch.nn.GRU" in result["message"]


def test_the_hidden_cases_have_shapes_the_visible_ones_do_not():
    parts = TASKS[0].parts
    sizes = lambda names: {(c.B, c.T, c.F, c.H) for name in names for c in parts[name]}  # noqa: E731
    hidden, visible = sizes(("values", "devices")), sizes(("contract", "quick"))
    assert hidden - visible and len(hidden - visible) >= 8
    assert {c.T for c in parts["values"]} >= {1, 6, 9} and any(c.B == 1 for c in parts["values"])


@pytest.mark.parametrize("mistake", BPTT_MISTAKES, ids=lambda m: m.name)
def test_each_slip_as_a_learner_writes_it_is_named(mistake):
    """Each slip, written by hand the way a learner writes it (tests/bptt_code.py), gets its own lesson,
    in the visible tests already: the quick cases have T > 1."""
    result = verdict(SLIPS[mistake.name], ("quick",))
    assert not result["passed"]
    assert mistake.lesson in result["message"], result["message"]
    others = [m.name for m in BPTT_MISTAKES if m is not mistake and m.lesson in result["message"]]
    assert not others


def test_every_known_slip_has_a_learners_version():
    assert set(SLIPS) == {m.name for m in BPTT_MISTAKES}


def test_the_message_says_which_gradients_are_wrong_and_where():
    result = verdict(SLIPS["bptt_grad_input_reversed"], ("quick",))
    assert "Wrong: grad_input (at time step(s) 0, 1, 2, 3 of 0..3)" in result["message"], result["message"]
    assert "Right: grad_initial_states, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh." in result["message"]
    # The weights' slip: the input's and the state's gradients are right, the four weights' not.
    result = verdict(SLIPS["bptt_weights_overwritten"], ("quick",))
    assert "Wrong: grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh;" in result["message"], result["message"]


def test_a_transposed_weight_gradient_is_told_so():
    transposed = GRU_BPTT.replace('"btg,btf->gf"', '"btg,btf->fg"')
    result = verdict(transposed, ("contract",))
    assert not result["passed"]
    assert "grad_w_ih has shape (4, 15); it must be (3H, F) = (15, 4). It is transposed" in result["message"], \
        result["message"]


@pytest.mark.parametrize("source", [WITH_AUTOGRAD, WITH_FUNC_VJP], ids=["torch.autograd.grad", "torch.func.vjp"])
def test_autodiff_inside_gets_no_credit(source):
    result = verdict(source, ("contract", "quick"))
    assert not result["passed"]
    assert "ran autograd" in result["message"] and "by hand" in result["message"], result["message"]
    assert "a reverse loop from t = T - 1 down to 0" in result["message"]


def test_forward_mode_autodiff_inside_gets_no_credit():
    columns = '''
def gru_bptt(input, initial_states, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final):
    import torch.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        dual = fwAD.make_dual(input, torch.ones_like(input))
        fwAD.unpack_dual(dual * 2)
    return tuple(torch.zeros_like(t) for t in (input, initial_states, w_ih, w_hh, b_ih, b_hh))
'''
    result = verdict(columns, ("quick",))
    assert not result["passed"] and "forward-mode autodiff (" in result["message"], result["message"]


def test_the_shipped_slips_assembled_into_the_right_answer_get_no_credit():
    """The cheapest answer a learner with the checker installed has: the checker's own step of a slip
    (autograd through torch.gru_cell) with no slip in it, in a reverse loop of their own. A built-in
    kernel and autograd inside: no credit, twice over."""
    source = '''
from gru_ref.assignments.gru_bptt import _step_grads

def gru_bptt(input, initial_states, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final):
    states = [initial_states]
    for t in range(input.shape[1]):
        states.append(gru_cell(input[:, t], states[-1], w_ih, w_hh, b_ih, b_hh))
    delta, grad_x, grads = grad_h_final, [], None
    for t in reversed(range(input.shape[1])):
        dx, delta, *shares = _step_grads(input[:, t], states[t], w_ih, w_hh, b_ih, b_hh,
                                         delta + grad_output[:, t], "after_matmul", True)
        grad_x.insert(0, dx)
        grads = shares if grads is None else [g + s for g, s in zip(grads, shares)]
    return (torch.stack(grad_x, dim=1), delta, *grads)
'''
    result = verdict(GRU_CELL + source, ("quick",))
    assert not result["passed"]
    assert "reached a built-in recurrent kernel (aten::gru_cell)" in result["message"], result["message"]
    # Right, where nothing refuses it (this process): what the check refused is an answer, not a crash.
    fn = define(GRU_CELL, source)["gru_bptt"]
    task, case = TASKS[0], Case(2, 3, 4, 5)
    inputs = make_inputs(task, case, torch.Generator().manual_seed(1))
    got, want = fn(*(inputs[n] for n in task.arg_names)), task.expected(case, inputs)
    assert all(torch.allclose(g, w) for g, w in zip(got, want))


# Fourth-order central differences of the loss, one number at a time: no autodiff, and precise enough for
# the float64 tolerance on small cases (measured: within half of it), but no chain rule either.
FINITE_DIFFERENCES = '''
def gru_bptt(input, initial_states, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final):
    def loss(x, h, w_ih, w_hh, b_ih, b_hh):
        out = []
        for t in range(x.shape[1]):
            i_r, i_z, i_n = (x[:, t] @ w_ih.T + b_ih).chunk(3, dim=-1)
            h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            h = (1 - z) * torch.tanh(i_n + r * h_n) + z * h
            out.append(h)
        return (torch.stack(out, 1) * grad_output).sum() + (h * grad_h_final).sum()
    args, grads, eps = [input, initial_states, w_ih, w_hh, b_ih, b_hh], [], 1e-3
    for k, a in enumerate(args):
        g = torch.zeros_like(a)
        for i in range(a.numel()):
            values = []
            for step in (-2, -1, 1, 2):
                b = a.clone()
                b.view(-1)[i] += step * eps
                values.append(loss(*args[:k], b, *args[k + 1:]))
            g.view(-1)[i] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * eps)
        grads.append(g)
    return tuple(grads)
'''


def test_finite_differences_run_out_of_time_on_the_hidden_long_case():
    task = TASKS[0]
    long_case = task.parts["values"][-1]
    numbers = sum(torch.Size(shape).numel() for shape in list(task.shapes(long_case).values())[:6])
    assert long_case.T >= 24 and numbers > 4000  # to differentiate: the input, the state, the weights
    result = verdict(FINITE_DIFFERENCES, ("values",))
    assert not result["passed"]
    assert "did not return within" in result["message"], result["message"]


def test_a_slip_refuses_the_right_knobs():
    task = TASKS[0]
    case = Case(2, 3, 4, 5)
    inputs = make_inputs(task, case, torch.Generator().manual_seed(0))
    args = [inputs[n] for n in task.arg_names]
    for knobs in ({}, RIGHT_BPTT_KNOBS, {**RIGHT_BPTT_KNOBS, "unknown": 1}):
        with pytest.raises(ValueError, match="at least one knob"):
            _bptt(*args, **knobs)


def test_each_shipped_slip_is_a_wrong_gradient_on_every_values_case_with_time():
    """No slip coincides with the truth (or with another slip) where T > 1, so a name is never given
    to a right answer and never to the wrong slip."""
    judge = Judge("gru_bptt", ("values",), seed=3)
    task = judge.task
    for case, inputs in zip(judge.cases, judge.inputs):
        if case.T == 1 or case.dtype != "float64":
            continue
        as64 = {k: v.double() for k, v in inputs.items()}
        truth = task.expected(case, as64)
        runs = [task.run_mistake(m, as64, case) for m in BPTT_MISTAKES]
        for mistake, run in zip(BPTT_MISTAKES, runs):
            assert not all(torch.allclose(a, e, rtol=1e-7, atol=1e-9) for a, e in zip(run, truth)), mistake.name
        for i in range(len(runs)):
            for j in range(i):
                same = all(torch.allclose(a, b, rtol=1e-7, atol=1e-9) for a, b in zip(runs[i], runs[j]))
                assert not same, (BPTT_MISTAKES[i].name, BPTT_MISTAKES[j].name, case)
